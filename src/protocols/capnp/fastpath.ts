/**
 * The hot path of a server, without capnp-es's object-per-pointer readers and builders: most
 * traffic is a Call on an exported capability whose params are a few scalars or bytes, its
 * Finish, and a Return of the same kind. Profiles put three quarters of the CPU per call of both
 * ends in building and reading those three messages through capnp-es, so here they are read from
 * the frame's bytes and written by patching templates capnp-es built once per layout.
 *
 * Only messages this file understands completely take this path: one segment, no far
 * pointers, every pointer bounds-checked, a Call to an imported capability with an empty cap
 * table, sent back to the caller, whose params and results are flat: scalars, Text and Data. Anything
 * else returns undefined and goes through capnp-es (connection.ts) as before, so what a hostile
 * peer can reach here is a subset of what the general path already handles.
 */
import * as capnp from 'capnp-es';
import * as rpc from 'capnp-es/capnp/rpc';
import {
  type FieldLayout,
  initStructAtPointer,
  type MethodLayout,
  type StructLayout,
  type Values,
} from './codec.js';
import { frameMessage } from './framing.js';

const SCALAR_SIZE: Readonly<Record<string, number>> = {
  bool: 0,
  int8: 1,
  uint8: 1,
  int16: 2,
  uint16: 2,
  enum: 2,
  int32: 4,
  uint32: 4,
  float32: 4,
  int64: 8,
  uint64: 8,
  float64: 8,
};

const flat = new WeakMap<StructLayout, boolean>();

/** Every field is a scalar, Text or Data (no nested structs, lists, capabilities, unions or defaults). */
export function isFlatLayout(layout: StructLayout): boolean {
  let known = flat.get(layout);
  if (known === undefined) {
    known = layout.fields.every(
      (f) =>
        (SCALAR_SIZE[f.kind] !== undefined || f.kind === 'text' || f.kind === 'data') &&
        f.discriminant === undefined &&
        f.defaultMask === undefined, // defaults are the general path's (XOR masks)
    );
    flat.set(layout, known);
  }
  return known;
}

interface StructView {
  /** Byte offset of the data section in the view. */
  readonly data: number;
  readonly dataBytes: number;
  /** Byte offset of the pointer section. */
  readonly ptrs: number;
  readonly ptrCount: number;
}

/** A struct pointer at `at` (bytes into the view); null pointers and anything else: undefined. */
function structAt(view: DataView, at: number, end: number): StructView | undefined {
  if (at + 8 > end) return undefined;
  const lo = view.getUint32(at, true);
  const hi = view.getUint32(at + 4, true);
  if ((lo & 3) !== 0 || (lo === 0 && hi === 0)) return undefined;
  const data = at + 8 + (lo >> 2) * 8;
  const dataWords = hi & 0xffff;
  const ptrCount = hi >>> 16;
  const ptrs = data + dataWords * 8;
  if (data < 8 || ptrs + ptrCount * 8 > end) return undefined;
  return { data, dataBytes: dataWords * 8, ptrs, ptrCount };
}

function u16(view: DataView, s: StructView, offset: number): number {
  return offset + 2 <= s.dataBytes ? view.getUint16(s.data + offset, true) : 0;
}

function u32(view: DataView, s: StructView, offset: number): number {
  return offset + 4 <= s.dataBytes ? view.getUint32(s.data + offset, true) : 0;
}

function isNullPointer(view: DataView, s: StructView, index: number): boolean {
  if (index >= s.ptrCount) return true;
  const at = s.ptrs + index * 8;
  return view.getUint32(at, true) === 0 && view.getUint32(at + 4, true) === 0;
}

/** A list pointer of zero elements, or null: an empty cap table. */
function isEmptyList(view: DataView, s: StructView, index: number): boolean {
  if (isNullPointer(view, s, index)) return true;
  const at = s.ptrs + index * 8;
  const lo = view.getUint32(at, true);
  const hi = view.getUint32(at + 4, true);
  return (lo & 3) === 1 && hi >>> 3 === 0;
}

export type FastMessage =
  | { readonly kind: 'finish'; readonly questionId: number; readonly releaseResultCaps: boolean }
  | {
      readonly kind: 'return';
      readonly answerId: number;
      /** Reads the results as `layout` (flat layouts only); undefined: the general path's. */
      readonly results: (layout: StructLayout) => Values | undefined;
    }
  | {
      readonly kind: 'call';
      readonly questionId: number;
      readonly interfaceId: bigint;
      readonly methodId: number;
      readonly importedCap: number;
      /** Reads the params as `layout` (flat layouts only); undefined: the general path's. */
      readonly params: (layout: StructLayout) => Values | undefined;
    };

/** A Finish, a simple Call or a Return of results, read straight from a frame; else undefined. */
export function readFast(frame: ArrayBuffer | Uint8Array): FastMessage | undefined {
  if (frame.byteLength < 16) return undefined;
  const view =
    frame instanceof Uint8Array
      ? new DataView(frame.buffer, frame.byteOffset, frame.byteLength)
      : new DataView(frame);
  if (view.getUint32(0, true) !== 0) return undefined; // one segment only
  const end = 8 + view.getUint32(4, true) * 8;
  if (end !== frame.byteLength) return undefined;
  const root = structAt(view, 8, end);
  if (root === undefined) return undefined;
  const which = u16(view, root, 0);
  if (which !== rpc.Message.FINISH && which !== rpc.Message.CALL && which !== rpc.Message.RETURN) {
    return undefined;
  }
  if (root.ptrCount < 1) return undefined;
  const body = structAt(view, root.ptrs, end);
  if (body === undefined) return undefined;
  if (which === rpc.Message.FINISH) {
    const flags = body.dataBytes >= 5 ? view.getUint8(body.data + 4) : 0;
    // releaseResultCaps defaults to true: the stored bit is XORed with the default.
    return { kind: 'finish', questionId: u32(view, body, 0), releaseResultCaps: (flags & 1) === 0 };
  }
  if (which === rpc.Message.RETURN) {
    // Return: answerId @0, the union's tag @6; results (a Payload) is pointer 0.
    if (u16(view, body, 6) !== rpc.Return.RESULTS || body.ptrCount < 1) return undefined;
    const content = payloadContent(view, body, end);
    if (content === undefined) return undefined;
    return {
      kind: 'return',
      answerId: u32(view, body, 0),
      results: (layout) => readFlat(view, content === null ? undefined : content, layout, end),
    };
  }
  // Call: questionId @0, methodId @4, sendResultsTo's tag @6, interfaceId @8; target, params.
  if (body.dataBytes < 16 || u16(view, body, 6) !== rpc.Call_SendResultsTo.CALLER) return undefined;
  if (body.ptrCount < 2) return undefined;
  const target = structAt(view, body.ptrs, end);
  if (target === undefined || u16(view, target, 4) !== rpc.MessageTarget.IMPORTED_CAP) return undefined;
  const content = payloadContent(view, { ...body, ptrs: body.ptrs + 8, ptrCount: body.ptrCount - 1 }, end);
  if (content === undefined) return undefined;
  return {
    kind: 'call',
    questionId: u32(view, body, 0),
    methodId: u16(view, body, 4),
    interfaceId: view.getBigUint64(body.data + 8, true),
    importedCap: u32(view, target, 0),
    params: (layout) => readFlat(view, content === null ? undefined : content, layout, end),
  };
}

/**
 * The content struct of the Payload at pointer 0 of `s`, when its cap table is empty: null for
 * a null content (every field at its default); undefined when the fast path cannot read it.
 */
function payloadContent(view: DataView, s: StructView, end: number): StructView | null | undefined {
  const payload = structAt(view, s.ptrs, end);
  if (payload === undefined || payload.ptrCount < 1 || !isEmptyList(view, payload, 1)) return undefined;
  if (isNullPointer(view, payload, 0)) return null;
  return structAt(view, payload.ptrs, end);
}

const utf8 = new TextDecoder();

function readFlat(
  view: DataView,
  s: StructView | undefined,
  layout: StructLayout,
  end: number,
): Values | undefined {
  const out: Values = {};
  for (const f of layout.fields) {
    if (s === undefined) out[f.name] = zero(f);
    else if (f.kind === 'text' || f.kind === 'data') {
      const v = readBlob(view, s, f, end);
      if (v === undefined) return undefined;
      out[f.name] = v;
    } else out[f.name] = readScalar(view, s, f);
  }
  return out;
}

function zero(f: FieldLayout): unknown {
  if (f.kind === 'text') return '';
  if (f.kind === 'data') return new Uint8Array(0);
  return f.kind === 'bool' ? false : f.kind === 'int64' || f.kind === 'uint64' ? 0n : 0;
}

/**
 * A Text or Data field: a list of bytes. The bytes are a view into the frame, which is an
 * ArrayBuffer of its own (framing.ts) that nothing else writes. Undefined for anything but a
 * plain in-bounds byte list (and a Text without its NUL): the general path reads or refuses it.
 */
function readBlob(
  view: DataView,
  s: StructView,
  f: FieldLayout,
  end: number,
): string | Uint8Array | undefined {
  if (isNullPointer(view, s, f.offset)) return zero(f) as string | Uint8Array;
  const at = s.ptrs + f.offset * 8;
  const lo = view.getUint32(at, true);
  const hi = view.getUint32(at + 4, true);
  if ((lo & 3) !== 1 || (hi & 7) !== 2) return undefined; // a list of bytes only
  const start = at + 8 + (lo >> 2) * 8;
  const count = hi >>> 3;
  if (start < 8 || start + count > end) return undefined;
  if (f.kind === 'data') return new Uint8Array(view.buffer, view.byteOffset + start, count);
  if (count === 0 || view.getUint8(start + count - 1) !== 0) return undefined;
  return utf8.decode(new Uint8Array(view.buffer, view.byteOffset + start, count - 1));
}

function readScalar(view: DataView, s: StructView, f: FieldLayout): unknown {
  if (f.kind === 'bool') {
    const byte = f.offset >>> 3;
    return byte < s.dataBytes ? ((view.getUint8(s.data + byte) >>> (f.offset & 7)) & 1) === 1 : false;
  }
  const size = SCALAR_SIZE[f.kind]!;
  // A field past the end of a shorter (older) struct reads as its default.
  if (f.offset + size > s.dataBytes) return zero(f);
  const at = s.data + f.offset;
  switch (f.kind) {
    case 'int8':
      return view.getInt8(at);
    case 'uint8':
      return view.getUint8(at);
    case 'int16':
      return view.getInt16(at, true);
    case 'uint16':
    case 'enum':
      return view.getUint16(at, true);
    case 'int32':
      return view.getInt32(at, true);
    case 'uint32':
      return view.getUint32(at, true);
    case 'float32':
      return view.getFloat32(at, true);
    case 'int64':
      return view.getBigInt64(at, true);
    case 'uint64':
      return view.getBigUint64(at, true);
    default:
      return view.getFloat64(at, true);
  }
}

interface Template {
  readonly bytes: Uint8Array;
  /** Byte offset of the message body's data section (the Return's, Call's or Finish's). */
  readonly bodyAt: number;
  /** Byte offset of the Call target's data section (Calls only). */
  readonly targetAt: number;
  /** Byte offset of the payload content's data section (Returns and Calls). */
  readonly contentAt: number;
}

const returnTemplates = new WeakMap<StructLayout, Template>();
const callTemplates = new WeakMap<StructLayout, Template>();

/** A Return of `results` (scalar fields only) for `answerId`, framed. */
export function writeFastReturn(answerId: number, layout: StructLayout, results: Values): Uint8Array {
  let t = returnTemplates.get(layout);
  if (t === undefined) {
    t = buildTemplate((root) => {
      const ret = root._initReturn();
      ret.answerId = 0;
      ret.releaseParamCaps = false;
      const payload = ret._initResults();
      const content = initStructAtPointer(payload.content, layout);
      payload._initCapTable(0);
      return { body: ret, content };
    });
    returnTemplates.set(layout, t);
  }
  const bytes = writeContent(t, layout, results);
  new DataView(bytes.buffer).setUint32(t.bodyAt, answerId, true);
  return bytes;
}

/** A Call of `method` on the imported capability `importedCap`, scalar params only, framed. */
export function writeFastCall(
  questionId: number,
  importedCap: number,
  method: MethodLayout,
  params: Values,
): Uint8Array {
  const layout = method.params;
  let t = callTemplates.get(layout);
  if (t === undefined) {
    t = buildTemplate((root) => {
      const call = root._initCall();
      call.target.importedCap = 0;
      const payload = call._initParams();
      const content = initStructAtPointer(payload.content, layout);
      payload._initCapTable(0);
      return { body: call, target: call.target, content };
    });
    callTemplates.set(layout, t);
  }
  const bytes = writeContent(t, layout, params);
  const view = new DataView(bytes.buffer);
  // Call: questionId @0, methodId @4, interfaceId @8 (sendResultsTo stays caller).
  view.setUint32(t.bodyAt, questionId, true);
  view.setUint16(t.bodyAt + 4, method.methodId, true);
  view.setBigUint64(t.bodyAt + 8, method.interfaceId, true);
  view.setUint32(t.targetAt, importedCap, true);
  return bytes;
}

/**
 * The template with `values` in its content struct: scalars patched in place, each Text and
 * Data appended to the (single) segment and pointed at by a list-of-bytes pointer.
 */
function writeContent(t: Template, layout: StructLayout, values: Values): Uint8Array {
  const ptrsAt = t.contentAt + layout.dataWords * 8;
  let extra = 0;
  const blobs: (Uint8Array | undefined)[] = [];
  for (const f of layout.fields) {
    if (f.kind !== 'text' && f.kind !== 'data') continue;
    const v = values[f.name];
    if (v === undefined || v === null) continue;
    // Text carries its NUL terminator; the appended array is zeroed, so it is there already.
    const blob = typeof v === 'string' ? Buffer.from(v, 'utf8') : (v as Uint8Array);
    blobs[f.offset] = blob;
    extra += Math.ceil((blob.byteLength + (f.kind === 'text' ? 1 : 0)) / 8) * 8;
  }
  const bytes = new Uint8Array(t.bytes.length + extra);
  bytes.set(t.bytes);
  const view = new DataView(bytes.buffer);
  for (const f of layout.fields) {
    if (f.kind !== 'text' && f.kind !== 'data') writeScalar(view, t.contentAt, f, values[f.name]);
  }
  if (extra === 0 && blobs.length === 0) return bytes;
  view.setUint32(4, view.getUint32(4, true) + extra / 8, true);
  let next = t.bytes.length;
  for (const f of layout.fields) {
    const blob = blobs[f.offset];
    if (blob === undefined || (f.kind !== 'text' && f.kind !== 'data')) continue;
    const at = ptrsAt + f.offset * 8;
    const count = blob.byteLength + (f.kind === 'text' ? 1 : 0);
    view.setUint32(at, (((next - at - 8) / 8) << 2) | 1, true);
    view.setUint32(at + 4, ((count << 3) | 2) >>> 0, true);
    bytes.set(blob, next);
    next += Math.ceil(count / 8) * 8;
  }
  return bytes;
}

let finishTemplate: Template | undefined;

/** A Finish of `questionId`, framed (requireEarlyCancellationWorkaround false, as we send it). */
export function writeFastFinish(questionId: number, releaseResultCaps: boolean): Uint8Array {
  finishTemplate ??= buildTemplate((root) => {
    const f = root._initFinish();
    f.releaseResultCaps = false;
    f.requireEarlyCancellationWorkaround = false;
    return { body: f };
  });
  const bytes = finishTemplate.bytes.slice();
  const view = new DataView(bytes.buffer);
  view.setUint32(finishTemplate.bodyAt, questionId, true);
  // releaseResultCaps is bit 32 with default true: stored XORed with it.
  if (releaseResultCaps)
    view.setUint8(finishTemplate.bodyAt + 4, view.getUint8(finishTemplate.bodyAt + 4) & ~1);
  return bytes;
}

function buildTemplate(
  build: (root: rpc.Message) => { body: capnp.Struct; target?: capnp.Struct; content?: capnp.Struct },
): Template {
  // Built by capnp-es exactly as the general path builds the message; only positions are noted.
  const message = new capnp.Message();
  const parts = build(message.initRoot(rpc.Message));
  const bytes = frameMessage(message);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(0, true) !== 0) throw new Error('a fast-path template spans segments');
  // A capnp-es Struct's byteOffset is where its pointer sits; its data section is the content.
  const at = (s: capnp.Struct | undefined): number =>
    s === undefined ? -1 : 8 + capnp.utils.getContent(s).byteOffset;
  return {
    bytes: bytes.slice(),
    bodyAt: at(parts.body),
    targetAt: at(parts.target),
    contentAt: at(parts.content),
  };
}

function writeScalar(view: DataView, base: number, f: FieldLayout, v: unknown): void {
  if (v === undefined || v === null) return;
  if (f.kind === 'bool') {
    const at = base + (f.offset >>> 3);
    const bit = 1 << (f.offset & 7);
    view.setUint8(at, v === true ? view.getUint8(at) | bit : view.getUint8(at) & ~bit);
    return;
  }
  const at = base + f.offset;
  switch (f.kind) {
    case 'int8':
      view.setInt8(at, v as number);
      return;
    case 'uint8':
      view.setUint8(at, v as number);
      return;
    case 'int16':
      view.setInt16(at, v as number, true);
      return;
    case 'uint16':
    case 'enum':
      view.setUint16(at, v as number, true);
      return;
    case 'int32':
      view.setInt32(at, v as number, true);
      return;
    case 'uint32':
      view.setUint32(at, v as number, true);
      return;
    case 'float32':
      view.setFloat32(at, v as number, true);
      return;
    case 'int64':
      view.setBigInt64(at, BigInt(v as number | bigint), true);
      return;
    case 'uint64':
      view.setBigUint64(at, BigInt(v as number | bigint), true);
      return;
    default:
      view.setFloat64(at, v as number, true);
  }
}

/** Values that fit their fields exactly (else the general path writes them, and reports why). */
export function fitsFlat(layout: StructLayout, values: Values): boolean {
  for (const f of layout.fields) {
    const v = values[f.name];
    if (v === undefined || v === null) continue;
    switch (f.kind) {
      case 'bool':
        if (typeof v !== 'boolean') return false;
        break;
      case 'int32':
        if (typeof v !== 'number' || (v | 0) !== v) return false;
        break;
      case 'float32':
      case 'float64':
        if (typeof v !== 'number') return false;
        break;
      case 'text':
        if (typeof v !== 'string') return false;
        break;
      case 'data':
        // Beyond 2^29 bytes a list count does not fit: the general path reports it.
        if (!(v instanceof Uint8Array) || v.byteLength >= 2 ** 29) return false;
        break;
      default:
        return false; // other widths: the general path checks their ranges
    }
  }
  return true;
}
