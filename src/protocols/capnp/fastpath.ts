/**
 * The hot path of a server, without capnp-es's object-per-pointer readers and builders: most
 * traffic is a Call on an exported capability whose params are a few scalars, its Finish, and a
 * Return of a few scalars. Profiles put three quarters of the server's CPU per call in building
 * and reading those three messages through capnp-es, so here they are read from the frame's
 * bytes and the Return is written by patching a template capnp-es built once per results layout.
 *
 * Only messages this file understands completely take this path: one segment, no far
 * pointers, every pointer bounds-checked, a Call to an imported capability with an empty cap
 * table, sent back to the caller, whose params and results are scalar fields only. Anything
 * else returns undefined and goes through capnp-es (connection.ts) as before, so what a hostile
 * peer can reach here is a subset of what the general path already handles.
 */
import * as capnp from 'capnp-es';
import * as rpc from 'capnp-es/capnp/rpc';
import { type FieldLayout, initStructAtPointer, type StructLayout, type Values } from './codec.js';

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

const scalarOnly = new WeakMap<StructLayout, boolean>();

/** Every field is a scalar of the data section (no pointers, no unions). */
export function isScalarLayout(layout: StructLayout): boolean {
  let known = scalarOnly.get(layout);
  if (known === undefined) {
    known = layout.fields.every((f) => SCALAR_SIZE[f.kind] !== undefined && f.discriminant === undefined);
    scalarOnly.set(layout, known);
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
      readonly kind: 'call';
      readonly questionId: number;
      readonly interfaceId: bigint;
      readonly methodId: number;
      readonly importedCap: number;
      /** Reads the params as `layout` (scalar-only layouts only). */
      readonly params: (layout: StructLayout) => Values;
    };

/** A Finish, or a simple Call, read straight from a frame; anything else: undefined. */
export function readFast(frame: ArrayBuffer): FastMessage | undefined {
  if (frame.byteLength < 16) return undefined;
  const view = new DataView(frame);
  if (view.getUint32(0, true) !== 0) return undefined; // one segment only
  const end = 8 + view.getUint32(4, true) * 8;
  if (end !== frame.byteLength) return undefined;
  const root = structAt(view, 8, end);
  if (root === undefined) return undefined;
  const which = u16(view, root, 0);
  if (which !== rpc.Message.FINISH && which !== rpc.Message.CALL) return undefined;
  if (root.ptrCount < 1) return undefined;
  const body = structAt(view, root.ptrs, end);
  if (body === undefined) return undefined;
  if (which === rpc.Message.FINISH) {
    const flags = body.dataBytes >= 5 ? view.getUint8(body.data + 4) : 0;
    // releaseResultCaps defaults to true: the stored bit is XORed with the default.
    return { kind: 'finish', questionId: u32(view, body, 0), releaseResultCaps: (flags & 1) === 0 };
  }
  // Call: questionId @0, methodId @4, sendResultsTo's tag @6, interfaceId @8; target, params.
  if (body.dataBytes < 16 || u16(view, body, 6) !== rpc.Call_SendResultsTo.CALLER) return undefined;
  if (body.ptrCount < 2) return undefined;
  const target = structAt(view, body.ptrs, end);
  if (target === undefined || u16(view, target, 4) !== rpc.MessageTarget.IMPORTED_CAP) return undefined;
  const payload = structAt(view, body.ptrs + 8, end);
  if (payload === undefined || payload.ptrCount < 1 || !isEmptyList(view, payload, 1)) return undefined;
  let content: StructView | undefined;
  if (!isNullPointer(view, payload, 0)) {
    content = structAt(view, payload.ptrs, end);
    if (content === undefined) return undefined;
  }
  return {
    kind: 'call',
    questionId: u32(view, body, 0),
    methodId: u16(view, body, 4),
    interfaceId: view.getBigUint64(body.data + 8, true),
    importedCap: u32(view, target, 0),
    params: (layout) => readScalars(view, content, layout),
  };
}

function readScalars(view: DataView, s: StructView | undefined, layout: StructLayout): Values {
  const out: Values = {};
  for (const f of layout.fields) out[f.name] = s === undefined ? zero(f) : readScalar(view, s, f);
  return out;
}

function zero(f: FieldLayout): unknown {
  return f.kind === 'bool' ? false : f.kind === 'int64' || f.kind === 'uint64' ? 0n : 0;
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

interface ReturnTemplate {
  readonly bytes: Uint8Array;
  readonly answerIdAt: number;
  /** Byte offset of the results struct's data section in `bytes`. */
  readonly contentAt: number;
}

const templates = new WeakMap<StructLayout, ReturnTemplate>();

/** A Return of `results` (scalar fields only) for `answerId`, framed. */
export function writeFastReturn(answerId: number, layout: StructLayout, results: Values): Uint8Array {
  let t = templates.get(layout);
  if (t === undefined) {
    t = buildTemplate(layout);
    templates.set(layout, t);
  }
  const bytes = t.bytes.slice();
  const view = new DataView(bytes.buffer);
  view.setUint32(t.answerIdAt, answerId, true);
  for (const f of layout.fields) writeScalar(view, t.contentAt, f, results[f.name]);
  return bytes;
}

function buildTemplate(layout: StructLayout): ReturnTemplate {
  // Built by capnp-es exactly as the general path builds a Return; only positions are noted.
  const message = new capnp.Message();
  const ret = message.initRoot(rpc.Message)._initReturn();
  ret.answerId = 0;
  ret.releaseParamCaps = false;
  const payload = ret._initResults();
  const content = initStructAtPointer(payload.content, layout);
  payload._initCapTable(0);
  const bytes = new Uint8Array(message.toArrayBuffer());
  const view = new DataView(bytes.buffer);
  if (view.getUint32(0, true) !== 0) throw new Error('a Return template spans segments');
  // A capnp-es Struct's byteOffset is where its pointer sits; its data section is the content.
  const u = capnp.utils;
  return {
    bytes,
    answerIdAt: 8 + u.getContent(ret).byteOffset,
    contentAt: 8 + u.getContent(content).byteOffset,
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

/** Values that fit their scalar fields exactly (else the general path writes them, and reports why). */
export function fitsScalars(layout: StructLayout, values: Values): boolean {
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
      default:
        return false; // other widths: the general path checks their ranges
    }
  }
  return true;
}
