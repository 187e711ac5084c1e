/**
 * Thrift RPC messages: a CALL carries the `<method>_args` struct (params by field id), the
 * REPLY a `<method>_result` struct (field 0 = success, fields 1.. = declared exceptions), and
 * an EXCEPTION message a TApplicationException (unknown method, protocol or internal error).
 *
 * Contract errors travel as the IDL's declared exception when the function declares one of
 * the matching name (DivideByZero -> DIVIDE_BY_ZERO), else as a TApplicationException:
 * NO_SUCH_METHOD <-> UNKNOWN_METHOD, INVALID_ARGUMENT <-> PROTOCOL_ERROR,
 * INTERNAL <-> INTERNAL_ERROR; any other code rides in INTERNAL_ERROR with a "[CODE] " prefix
 * on its message, which our client reads back.
 */
import {
  type ErrorCode,
  errorFromCode,
  InternalError,
  isErrorCode,
  ProtocolError,
  type RpcError,
} from '../../contract/errors.js';
import type { MethodPlan } from './binding.js';
import {
  APPLICATION_EXCEPTION_FIELDS,
  readStruct,
  readValue,
  type StructLookup,
  wireType,
  wireTypeName,
  writeStruct,
} from './codec.js';
import type { Variant } from './framing.js';
import { type ThriftField, type ThriftStruct, typeName } from './idl.js';
import {
  AppExceptionType,
  encodeMessage,
  encodeMessageParts,
  MessageType,
  TType,
  toBigInt,
  type WireProtocol,
} from './library.js';
import type { ProtocolWriter } from './writer.js';

export interface MessageHeader {
  readonly name: string;
  readonly type: number;
  readonly seqid: number;
}

export function readHeader(p: WireProtocol): MessageHeader {
  const { fname, mtype, rseqid } = p.readMessageBegin();
  return { name: typeof fname === 'string' ? fname : fname.toString('utf8'), type: mtype, seqid: rseqid };
}

// ---- client side ------------------------------------------------------------------------

function callWriter(
  plan: MethodPlan,
  seqid: number,
  args: readonly unknown[],
  structs: StructLookup,
): (p: ProtocolWriter) => void {
  const values: Record<string, unknown> = {};
  plan.params.forEach((f, i) => {
    values[f.name] = args[i];
  });
  return (p) => {
    p.writeMessageBegin(plan.name, plan.oneway ? MessageType.ONEWAY : MessageType.CALL, seqid);
    writeStruct(p, `${plan.name}_args`, plan.params, values, structs);
    p.writeMessageEnd();
  };
}

export function encodeCall(
  variant: Variant,
  plan: MethodPlan,
  seqid: number,
  args: readonly unknown[],
  structs: StructLookup,
): Buffer {
  return encodeMessage(variant.encoding, variant.framed, callWriter(plan, seqid, args, structs));
}

/**
 * encodeCall() as parts to write in turn: binary arguments of 32 KiB or more are sent from
 * the caller's memory (they have left before the reply can come).
 */
export function encodeCallParts(
  variant: Variant,
  plan: MethodPlan,
  seqid: number,
  args: readonly unknown[],
  structs: StructLookup,
): Buffer[] {
  return encodeMessageParts(variant.encoding, variant.framed, callWriter(plan, seqid, args, structs));
}

export type Reply =
  | { readonly ok: true; readonly value: unknown }
  | { readonly ok: false; readonly error: RpcError };

const APP_EXCEPTION_NAMES = Object.fromEntries(Object.entries(AppExceptionType).map(([k, v]) => [v, k]));

function codeOfAppException(type: number): ErrorCode {
  switch (type) {
    case AppExceptionType.UNKNOWN_METHOD:
      return 'NO_SUCH_METHOD';
    case AppExceptionType.PROTOCOL_ERROR:
      return 'INVALID_ARGUMENT';
    case AppExceptionType.INVALID_MESSAGE_TYPE:
    case AppExceptionType.WRONG_METHOD_NAME:
    case AppExceptionType.BAD_SEQUENCE_ID:
    case AppExceptionType.MISSING_RESULT:
    case AppExceptionType.INVALID_PROTOCOL:
    case AppExceptionType.INVALID_TRANSFORM:
    case AppExceptionType.UNSUPPORTED_CLIENT_TYPE:
      return 'PROTOCOL';
    default:
      return 'INTERNAL';
  }
}

const CODE_PREFIX = /^\[([A-Z_]+)\] /;

export function appExceptionToError(values: Record<string, unknown>, method: string): RpcError {
  const type = typeof values.type === 'number' ? values.type : AppExceptionType.UNKNOWN;
  let message = typeof values.message === 'string' ? values.message : '';
  let code = codeOfAppException(type);
  const prefixed = CODE_PREFIX.exec(message);
  if (prefixed && isErrorCode(prefixed[1])) {
    code = prefixed[1];
    message = message.slice(prefixed[0].length);
  }
  const typeName = APP_EXCEPTION_NAMES[type] ?? String(type);
  // thriftpy2 sends UNKNOWN_METHOD without a message.
  const fallback =
    code === 'NO_SUCH_METHOD' ? `no such method: ${method}` : `TApplicationException ${typeName}`;
  return errorFromCode(code, message || fallback, {
    remoteType: 'TApplicationException',
    remoteDetail: typeName,
  });
}

/** The human message of an exception struct: its `message` field, else its first string field. */
function exceptionMessage(struct: ThriftStruct | undefined, values: Record<string, unknown>): string {
  const field = messageField(struct);
  if (field && typeof values[field.name] === 'string') return values[field.name] as string;
  const shown = Object.entries(values).map(
    ([k, v]) => `${k}=${typeof v === 'bigint' ? `${v}` : JSON.stringify(v)}`,
  );
  return shown.join(', ');
}

function messageField(struct: ThriftStruct | undefined): ThriftField | undefined {
  if (!struct) return undefined;
  const strings = struct.fields.filter((f) => f.type.kind === 'string');
  return strings.find((f) => f.name === 'message') ?? strings[0];
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Reads a value of any wire type, for ad-hoc calls to functions the IDL does not describe:
 * structs become objects keyed by field id, lists and sets arrays, maps Map objects.
 * (Nesting was already bounded by the scanner.)
 */
function readAny(p: WireProtocol, ftype: number, inContainer = false): unknown {
  switch (ftype) {
    case TType.BOOL:
      // See codec.ts: a container's bool is a plain byte.
      return inContainer ? p.readByte() === 1 : p.readBool();
    case TType.BYTE:
      return p.readByte();
    case TType.I16:
      return p.readI16();
    case TType.I32:
      return p.readI32();
    case TType.I64:
      return toBigInt(p.readI64());
    case TType.DOUBLE:
      return p.readDouble();
    case TType.STRING: {
      // string and binary share a wire type: text if it is valid UTF-8, bytes otherwise.
      const bytes = p.readBinary();
      try {
        return utf8.decode(bytes);
      } catch {
        return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      }
    }
    case TType.STRUCT: {
      const out: Record<string, unknown> = {};
      p.readStructBegin();
      for (;;) {
        const f = p.readFieldBegin();
        if (f.ftype === TType.STOP) break;
        out[String(f.fid)] = readAny(p, f.ftype);
        p.readFieldEnd();
      }
      p.readStructEnd();
      return out;
    }
    case TType.LIST:
    case TType.SET: {
      const { etype, size } = ftype === TType.LIST ? p.readListBegin() : p.readSetBegin();
      const out = Array.from({ length: size }, () => readAny(p, etype, true));
      if (ftype === TType.LIST) p.readListEnd();
      else p.readSetEnd();
      return out;
    }
    case TType.MAP: {
      const { ktype, vtype, size } = p.readMapBegin();
      const out = new Map<unknown, unknown>();
      for (let i = 0; i < size; i++) out.set(readAny(p, ktype, true), readAny(p, vtype, true));
      p.readMapEnd();
      return out;
    }
    default:
      p.skip(ftype);
      return undefined;
  }
}

/** Decodes a REPLY or EXCEPTION message body (after its header) for `plan`. */
export function decodeReply(
  p: WireProtocol,
  header: MessageHeader,
  plan: MethodPlan,
  structs: StructLookup,
): Reply {
  if (header.type === MessageType.EXCEPTION) {
    return {
      ok: false,
      error: appExceptionToError(readStruct(p, APPLICATION_EXCEPTION_FIELDS, structs).values, plan.name),
    };
  }
  if (header.type !== MessageType.REPLY) {
    return { ok: false, error: new ProtocolError(`unexpected message type ${header.type} in a reply`) };
  }
  let value: unknown;
  let hasValue = false;
  let error: RpcError | undefined;
  const throwsById = new Map(plan.throws.map((t) => [t.field.id, t]));
  p.readStructBegin();
  for (;;) {
    const { ftype, fid } = p.readFieldBegin();
    if (ftype === TType.STOP) break;
    const declared = throwsById.get(fid);
    const returns = plan.returns;
    if (fid === 0 && returns === undefined) {
      value = readAny(p, ftype);
      hasValue = true;
    } else if (fid === 0 && returns && returns.kind !== 'void' && wireType(returns) === ftype) {
      value = readValue(p, returns, structs);
      hasValue = true;
    } else if (declared && ftype === TType.STRUCT) {
      const values = declared.struct ? readStruct(p, declared.struct.fields, structs).values : {};
      if (!declared.struct) p.skip(ftype);
      const remoteType = declared.struct?.name ?? declared.field.name;
      const message = exceptionMessage(declared.struct, values) || remoteType;
      error = declared.code
        ? errorFromCode(declared.code, message, { remoteType })
        : new InternalError(`${remoteType}: ${message}`, { remoteType });
    } else {
      p.skip(ftype);
    }
    p.readFieldEnd();
  }
  p.readStructEnd();
  if (error) return { ok: false, error };
  if (hasValue) return { ok: true, value };
  if (plan.returns?.kind === 'void') return { ok: true, value: undefined };
  return {
    ok: false,
    error: new ProtocolError(`${plan.name}: the reply carries no result (MISSING_RESULT)`),
  };
}

// ---- server side ------------------------------------------------------------------------

/**
 * Reads a CALL's argument struct into positional arguments (missing ones stay undefined).
 * A known field of another wire type is skipped, as every Thrift reader does, and named in
 * `problem` so the caller hears why rather than "missing argument".
 */
export function decodeArgs(
  p: WireProtocol,
  plan: MethodPlan,
  structs: StructLookup,
): { readonly args: unknown[]; readonly problem?: string } {
  const { values, mistyped } = readStruct(p, plan.params, structs);
  const args = plan.params.map((f) => values[f.name]);
  if (mistyped.length === 0) return { args };
  const what = mistyped.map(
    ({ field, wireType }) =>
      `argument '${field.name}' (field ${field.id}) arrived as ${wireTypeName(wireType)}, expected ${typeName(field.type)}`,
  );
  return { args, problem: `${plan.name}: ${what.join('; ')}` };
}

/** A plan's `<method>_result` struct for a success: its name and fields, made once per plan. */
const resultShapes = new WeakMap<MethodPlan, { fields: readonly ThriftField[]; structName: string }>();

function resultShape(plan: MethodPlan): { fields: readonly ThriftField[]; structName: string } {
  let shape = resultShapes.get(plan);
  if (shape === undefined) {
    const fields: ThriftField[] =
      plan.returns && plan.returns.kind !== 'void' ? [{ id: 0, name: 'success', type: plan.returns }] : [];
    shape = { fields, structName: `${plan.name}_result` };
    resultShapes.set(plan, shape);
  }
  return shape;
}

function replyWriter(
  header: MessageHeader,
  plan: MethodPlan,
  value: unknown,
  structs: StructLookup,
): (p: ProtocolWriter) => void {
  const { fields, structName } = resultShape(plan);
  return (p) => {
    p.writeMessageBegin(header.name, MessageType.REPLY, header.seqid);
    writeStruct(p, structName, fields, { success: value }, structs);
    p.writeMessageEnd();
  };
}

export function encodeReply(
  variant: Variant,
  header: MessageHeader,
  plan: MethodPlan,
  value: unknown,
  structs: StructLookup,
): Buffer {
  return encodeMessage(variant.encoding, variant.framed, replyWriter(header, plan, value, structs));
}

/**
 * encodeReply() as parts to write in turn: a binary result of 32 KiB or more is sent from the
 * implementation's memory, which it must not change after returning it.
 */
export function encodeReplyParts(
  variant: Variant,
  header: MessageHeader,
  plan: MethodPlan,
  value: unknown,
  structs: StructLookup,
): Buffer[] {
  return encodeMessageParts(variant.encoding, variant.framed, replyWriter(header, plan, value, structs));
}

function appExceptionFor(err: RpcError): { type: number; message: string } {
  switch (err.code) {
    case 'NO_SUCH_METHOD':
      return { type: AppExceptionType.UNKNOWN_METHOD, message: err.message };
    case 'INVALID_ARGUMENT':
      return { type: AppExceptionType.PROTOCOL_ERROR, message: err.message };
    case 'INTERNAL':
      return { type: AppExceptionType.INTERNAL_ERROR, message: err.message };
    default:
      return { type: AppExceptionType.INTERNAL_ERROR, message: `[${err.code}] ${err.message}` };
  }
}

/** Encodes an error: as the function's declared exception when one matches, else a TApplicationException. */
export function encodeError(
  variant: Variant,
  header: MessageHeader,
  plan: MethodPlan | undefined,
  err: RpcError,
  structs: StructLookup,
): Buffer {
  const declared = plan?.throws.find((t) => t.code === err.code && t.struct);
  if (plan && declared?.struct) {
    const struct = declared.struct;
    const msgField = messageField(struct);
    const exceptionValue = msgField ? { [msgField.name]: err.message } : {};
    const fields: ThriftField[] = [declared.field];
    return encodeMessage(variant.encoding, variant.framed, (p) => {
      p.writeMessageBegin(header.name, MessageType.REPLY, header.seqid);
      writeStruct(p, `${plan.name}_result`, fields, { [declared.field.name]: exceptionValue }, structs);
      p.writeMessageEnd();
    });
  }
  const app = appExceptionFor(err);
  return encodeAppException(variant, header, app.type, app.message);
}

/** An EXCEPTION message carrying a TApplicationException of `type`, answering `header`. */
export function encodeAppException(
  variant: Variant,
  header: MessageHeader,
  type: number,
  message: string,
): Buffer {
  return encodeMessage(variant.encoding, variant.framed, (p) => {
    p.writeMessageBegin(header.name, MessageType.EXCEPTION, header.seqid);
    writeStruct(p, 'TApplicationException', APPLICATION_EXCEPTION_FIELDS, { type, message }, () => undefined);
    p.writeMessageEnd();
  });
}
