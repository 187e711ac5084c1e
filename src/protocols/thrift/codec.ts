/**
 * Reads values by their IDL type with the library's protocol classes, and writes them with
 * ours (writer.ts, the same bytes): what a
 * generated `*_args` / `*_result` class would do, driven by the loaded IDL instead.
 * Values map to TypeScript as the contract expects: i8/i16/i32/enum/double -> number,
 * i64 -> bigint, string -> string, binary -> Uint8Array, bool -> boolean; structs become plain
 * objects keyed by field name, lists and sets arrays, maps Map objects.
 */
import { InvalidArgumentError } from '../../contract/errors.js';
import { fieldDefault, type ThriftField, type ThriftStruct, type ThriftType } from './idl.js';
import {
  fromBigInt,
  type ProtocolWriter,
  TType,
  type TType as TTypeT,
  toBigInt,
  type WireProtocol,
} from './library.js';

type WireType = (typeof TTypeT)[keyof typeof TTypeT];

export type StructLookup = (name: string) => ThriftStruct | undefined;

export function wireType(t: ThriftType): WireType {
  switch (t.kind) {
    case 'bool':
      return TType.BOOL;
    case 'byte':
      return TType.BYTE;
    case 'i16':
      return TType.I16;
    case 'i32':
    case 'enum':
      return TType.I32;
    case 'i64':
      return TType.I64;
    case 'double':
      return TType.DOUBLE;
    case 'string':
    case 'binary':
      return TType.STRING;
    case 'struct':
      return TType.STRUCT;
    case 'map':
      return TType.MAP;
    case 'set':
      return TType.SET;
    case 'list':
      return TType.LIST;
    case 'void':
      throw new TypeError('void has no wire type');
  }
}

function intIn(value: unknown, min: number, max: number, what: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max)
    throw new InvalidArgumentError(`${what} must be an integer in [${min}, ${max}], got ${String(value)}`);
  return value;
}

export function writeValue(
  p: ProtocolWriter,
  t: ThriftType,
  value: unknown,
  structs: StructLookup,
  what: string,
): void {
  switch (t.kind) {
    case 'bool':
      if (typeof value !== 'boolean') throw new InvalidArgumentError(`${what} must be a boolean`);
      p.writeBool(value);
      return;
    case 'byte':
      p.writeByte(intIn(value, -128, 127, what));
      return;
    case 'i16':
      p.writeI16(intIn(value, -32768, 32767, what));
      return;
    case 'i32':
    case 'enum':
      p.writeI32(intIn(value, -(2 ** 31), 2 ** 31 - 1, what));
      return;
    case 'i64': {
      const big = typeof value === 'number' && Number.isSafeInteger(value) ? BigInt(value) : value;
      if (typeof big !== 'bigint' || BigInt.asIntN(64, big) !== big)
        throw new InvalidArgumentError(`${what} must be a 64-bit integer`);
      p.writeI64(fromBigInt(big));
      return;
    }
    case 'double':
      if (typeof value !== 'number') throw new InvalidArgumentError(`${what} must be a number`);
      p.writeDouble(value);
      return;
    case 'string':
      if (typeof value !== 'string') throw new InvalidArgumentError(`${what} must be a string`);
      p.writeString(value);
      return;
    case 'binary':
      if (value instanceof Uint8Array) p.writeBinary(value);
      else if (typeof value === 'string') p.writeBinary(Buffer.from(value, 'utf8'));
      else throw new InvalidArgumentError(`${what} must be bytes`);
      return;
    case 'list':
    case 'set': {
      const items = value instanceof Set ? [...value] : value;
      if (!Array.isArray(items)) throw new InvalidArgumentError(`${what} must be an array`);
      const et = wireType(t.elem);
      if (t.kind === 'list') p.writeListBegin(et, items.length);
      else p.writeSetBegin(et, items.length);
      items.forEach((item, i) => {
        writeValue(p, t.elem, item, structs, `${what}[${i}]`);
      });
      if (t.kind === 'list') p.writeListEnd();
      else p.writeSetEnd();
      return;
    }
    case 'map': {
      const entries =
        value instanceof Map
          ? [...value.entries()]
          : typeof value === 'object' && value !== null
            ? Object.entries(value)
            : undefined;
      if (!entries) throw new InvalidArgumentError(`${what} must be a Map or an object`);
      p.writeMapBegin(wireType(t.key), wireType(t.value), entries.length);
      for (const [k, v] of entries) {
        writeValue(p, t.key, k, structs, `${what} key`);
        writeValue(p, t.value, v, structs, `${what}[${String(k)}]`);
      }
      p.writeMapEnd();
      return;
    }
    case 'struct': {
      const def = structs(t.name);
      if (!def || typeof value !== 'object' || value === null)
        throw new InvalidArgumentError(`${what} must be a ${t.name} object`);
      const values = value as Record<string, unknown>;
      // A struct the caller built: refuse it here rather than have the peer refuse it (generated
      // readers fail on a missing required field, and some close the connection).
      const missing = def.fields.find(
        (f) =>
          f.required &&
          (values[f.name] === null || (values[f.name] === undefined && f.default === undefined)),
      );
      if (missing) throw new InvalidArgumentError(`${what}: ${def.name}.${missing.name} is required`);
      writeStruct(p, def.name, def.fields, values, structs);
      return;
    }
    case 'void':
      return;
  }
}

/**
 * Writes a struct whose present (non-undefined, non-null) fields are taken from `values`; a
 * field left undefined that has an IDL default is written with it (null leaves it out).
 */
export function writeStruct(
  p: ProtocolWriter,
  name: string,
  fields: readonly ThriftField[],
  values: Readonly<Record<string, unknown>>,
  structs: StructLookup,
): void {
  p.writeStructBegin(name);
  for (const f of fields) {
    const v = values[f.name] === undefined ? f.default : values[f.name];
    if (v === undefined || v === null) continue;
    p.writeFieldBegin(f.name, wireType(f.type), f.id);
    writeValue(p, f.type, v, structs, `${name}.${f.name}`);
    p.writeFieldEnd();
  }
  p.writeFieldStop();
  p.writeStructEnd();
}

/** Reads one value whose wire type already matched `t`. */
export function readValue(
  p: WireProtocol,
  t: ThriftType,
  structs: StructLookup,
  inContainer = false,
): unknown {
  switch (t.kind) {
    case 'bool':
      // thrift 0.24's TCompactProtocol.readBool is broken outside field headers; a container's
      // bool is one byte, 1 meaning true, in both protocols.
      return inContainer ? p.readByte() === 1 : p.readBool();
    case 'byte':
      return p.readByte();
    case 'i16':
      return p.readI16();
    case 'i32':
    case 'enum':
      return p.readI32();
    case 'i64':
      return toBigInt(p.readI64());
    case 'double':
      return p.readDouble();
    case 'string':
      return p.readString();
    case 'binary':
      return p.readBinary();
    case 'list':
    case 'set': {
      const { etype, size } = t.kind === 'list' ? p.readListBegin() : p.readSetBegin();
      const out: unknown[] = [];
      for (let i = 0; i < size; i++) {
        if (etype === wireType(t.elem)) out.push(readValue(p, t.elem, structs, true));
        else p.skip(etype);
      }
      if (t.kind === 'list') p.readListEnd();
      else p.readSetEnd();
      return out;
    }
    case 'map': {
      const { ktype, vtype, size } = p.readMapBegin();
      const out = new Map<unknown, unknown>();
      const ok = size === 0 || (ktype === wireType(t.key) && vtype === wireType(t.value));
      for (let i = 0; i < size; i++) {
        if (ok) out.set(readValue(p, t.key, structs, true), readValue(p, t.value, structs, true));
        else {
          p.skip(ktype);
          p.skip(vtype);
        }
      }
      p.readMapEnd();
      return out;
    }
    case 'struct': {
      const def = structs(t.name);
      if (!def) {
        p.skip(TType.STRUCT);
        return {};
      }
      return readStruct(p, def.fields, structs).values;
    }
    case 'void':
      return undefined;
  }
}

export interface ReadStruct {
  /** Field values by name. */
  readonly values: Record<string, unknown>;
  /** Ids of the fields present, in wire order. */
  readonly present: number[];
  /** Known fields that arrived with another wire type (skipped): field and the wire type seen. */
  readonly mistyped: { readonly field: ThriftField; readonly wireType: number }[];
}

const WIRE_TYPE_NAMES: Readonly<Record<number, string>> = Object.fromEntries(
  Object.entries(TType).map(([name, id]) => [id, name.toLowerCase()]),
);

/** "i32", "string", ... for a wire type id (binary and string share STRING). */
export function wireTypeName(type: number): string {
  return WIRE_TYPE_NAMES[type] ?? `type ${type}`;
}

/** Reads a struct; fields unknown to `fields` or of an unexpected wire type are skipped. */
/** Fields by id, built once per field list (a plan's or a struct's, which never change). */
const fieldsById = new WeakMap<readonly ThriftField[], ReadonlyMap<number, ThriftField>>();

function byIdOf(fields: readonly ThriftField[]): ReadonlyMap<number, ThriftField> {
  let byId = fieldsById.get(fields);
  if (byId === undefined) {
    byId = new Map(fields.map((f) => [f.id, f]));
    fieldsById.set(fields, byId);
  }
  return byId;
}

export function readStruct(
  p: WireProtocol,
  fields: readonly ThriftField[],
  structs: StructLookup,
): ReadStruct {
  const byId = byIdOf(fields);
  const values: Record<string, unknown> = {};
  const present: number[] = [];
  const mistyped: ReadStruct['mistyped'] = [];
  p.readStructBegin();
  for (;;) {
    const { ftype, fid } = p.readFieldBegin();
    if (ftype === TType.STOP) break;
    const f = byId.get(fid);
    if (f && f.type.kind !== 'void' && wireType(f.type) === ftype) {
      values[f.name] = readValue(p, f.type, structs);
      present.push(fid);
    } else {
      if (f) mistyped.push({ field: f, wireType: ftype });
      p.skip(ftype);
    }
    p.readFieldEnd();
  }
  p.readStructEnd();
  // Absent fields with an IDL default carry it, as in a struct thriftpy2 or generated code reads.
  for (const f of fields)
    if (values[f.name] === undefined && f.default !== undefined) values[f.name] = fieldDefault(f);
  return { values, present, mistyped };
}

/** TApplicationException's struct: 1: string message, 2: i32 type. */
export const APPLICATION_EXCEPTION_FIELDS: readonly ThriftField[] = [
  { id: 1, name: 'message', type: { kind: 'string' } },
  { id: 2, name: 'type', type: { kind: 'i32' } },
];
