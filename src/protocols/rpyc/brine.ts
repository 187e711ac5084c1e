/**
 * Brine, RPyC's serializer for immutable values (rpyc 6.0.2, rpyc/core/brine.py): one tag byte
 * per value, big-endian lengths, ints as decimal text, str as a UTF-8 byte string behind a
 * "unicode" tag. Only the types Python's brine knows are carried; everything else travels by
 * reference (see boxing.ts).
 *
 * Mapping to TypeScript:
 *   None -> null (undefined also dumps as None) · bool -> boolean · int -> number when safe,
 *   bigint otherwise · float -> number (or PyFloat when decoding with `preserveFloats`) ·
 *   str -> string · bytes -> Uint8Array · tuple -> array · frozenset -> PyFrozenSet ·
 *   complex -> PyComplex · slice -> PySlice · Ellipsis / NotImplemented -> exported singletons.
 * A JS number dumps as an int when it is a safe integer (and not -0), otherwise as a float.
 */
import { ProtocolError } from '../../contract/errors.js';
import { bufferView, SHARED_PAYLOAD_BYTES } from '../../net/bytes.js';

export const Tag = {
  NONE: 0x00,
  EMPTY_STR: 0x01,
  EMPTY_TUPLE: 0x02,
  TRUE: 0x03,
  FALSE: 0x04,
  NOT_IMPLEMENTED: 0x05,
  ELLIPSIS: 0x06,
  UNICODE: 0x08,
  STR1: 0x0a,
  STR2: 0x0b,
  STR3: 0x0c,
  STR4: 0x0d,
  STR_L1: 0x0e,
  STR_L4: 0x0f,
  TUP1: 0x10,
  TUP2: 0x11,
  TUP3: 0x12,
  TUP4: 0x13,
  TUP_L1: 0x14,
  TUP_L4: 0x15,
  INT_L1: 0x16,
  INT_L4: 0x17,
  FLOAT: 0x18,
  SLICE: 0x19,
  FSET: 0x1a,
  COMPLEX: 0x1b,
} as const;

/** Ints in [-0x30, 0x9f] are one byte: the value plus 0x50 (bytes 0x20..0xef). */
const IMM_MIN = -0x30;
const IMM_MAX = 0x9f;
const IMM_OFFSET = 0x50;

/**
 * Nesting bound for tuples/slices/frozensets, dumping and loading alike. rpyc 6 itself dumps
 * tuples at most 498 deep (Python's recursion limit stops it), so anything it sends fits; the
 * recursive loader needs ~330 bytes of stack a level, so 1024 levels stay well inside Node's
 * default stack, and the bound keeps hostile input from exhausting it.
 */
export const DEFAULT_MAX_DEPTH = 1024;

/**
 * Bound on the objects (tuples, non-empty bytes and str, floats boxed as PyFloat, slices, ...)
 * one load may allocate. A byte of brine can become a ~200-byte JavaScript object (a one-byte
 * str), so without it one small compressed frame could allocate gigabytes. Ints, None, bools
 * and the other singletons cost nothing and are not counted.
 */
export const DEFAULT_MAX_OBJECTS = 1 << 18;

/**
 * Python refuses to convert ints of more than 4300 digits to or from text (int_max_str_digits,
 * Python 3.11+), so brine cannot carry them; we refuse them too, which also keeps a hostile
 * 16 MiB int (seconds of BigInt parsing) off the event loop.
 */
export const MAX_INT_DIGITS = 4300;

/** A Python float whose float-ness must survive a round trip (e.g. 2.0, which JS would dump as int 2). */
export class PyFloat {
  constructor(readonly value: number) {}
}

/** A number as a Python float (brine sends a whole JS number as an int); anything else as is. */
export function asFloat<T>(value: T): T | PyFloat {
  return typeof value === 'number' ? new PyFloat(value) : value;
}

export class PyComplex {
  constructor(
    readonly real: number,
    readonly imag: number,
  ) {}
}

export class PySlice {
  constructor(
    readonly start: BrineValue,
    readonly stop: BrineValue,
    readonly step: BrineValue,
  ) {}
}

/** A frozenset, items in the order they travel (Python dumps them in its iteration order). */
export class PyFrozenSet {
  constructor(readonly items: readonly BrineValue[]) {}
}

class PySingleton {
  constructor(readonly pythonName: string) {}
  toString(): string {
    return this.pythonName;
  }
}

export const Ellipsis: PySingleton = Object.freeze(new PySingleton('Ellipsis'));
export const NotImplemented: PySingleton = Object.freeze(new PySingleton('NotImplemented'));
export type { PySingleton };

export type BrineValue =
  | null
  | undefined
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | PyFloat
  | PyComplex
  | PySlice
  | PyFrozenSet
  | PySingleton
  | readonly BrineValue[];

/** True when `value` can be dumped by brine as is (mirrors brine.dumpable). */
export function isDumpable(value: unknown, depth = 0): value is BrineValue {
  if (depth > DEFAULT_MAX_DEPTH) return false;
  switch (typeof value) {
    case 'undefined':
    case 'boolean':
    case 'number':
    case 'bigint':
    case 'string':
      return true;
    case 'object':
      if (value === null || value instanceof Uint8Array) return true;
      if (
        value instanceof PyFloat ||
        value instanceof PyComplex ||
        value === Ellipsis ||
        value === NotImplemented
      )
        return true;
      // A slice or frozenset dumps as a tuple one level down, so its items sit two levels down.
      if (value instanceof PySlice)
        return (
          isDumpable(value.start, depth + 2) &&
          isDumpable(value.stop, depth + 2) &&
          isDumpable(value.step, depth + 2)
        );
      if (value instanceof PyFrozenSet) return value.items.every((v) => isDumpable(v, depth + 2));
      if (Array.isArray(value)) return value.every((v) => isDumpable(v, depth + 1));
      return false;
    default:
      return false;
  }
}

// ---------------------------------------------------------------------------------------------
// dumping

/** One scratch buffer for every dump: dumping is synchronous, so it is never shared at once. */
const scratchBuffer = Buffer.allocUnsafe(64 * 1024);

class Writer {
  private chunks: Uint8Array[] = [];
  private readonly scratch = scratchBuffer;
  private used: number;
  private total = 0;

  constructor(head: number) {
    this.used = head; // room for a caller's prefix (e.g. frame header) in the first chunk
  }

  byte(b: number): void {
    if (this.used + 1 > this.scratch.length) this.flush();
    this.scratch[this.used++] = b;
  }

  u32(n: number): void {
    if (this.used + 4 > this.scratch.length) this.flush();
    this.scratch.writeUInt32BE(n, this.used);
    this.used += 4;
  }

  f64(x: number): void {
    if (this.used + 8 > this.scratch.length) this.flush();
    this.scratch.writeDoubleBE(x, this.used);
    this.used += 8;
  }

  bytes(data: Uint8Array): void {
    if (data.length <= 1024) {
      if (this.used + data.length > this.scratch.length) this.flush();
      this.scratch.set(data, this.used);
      this.used += data.length;
      return;
    }
    // Large payloads are referenced, not copied, until the final concat.
    this.flush();
    this.chunks.push(data);
    this.total += data.length;
  }

  private flush(): void {
    if (this.used > 0) {
      this.chunks.push(Buffer.from(this.scratch.subarray(0, this.used)));
      this.total += this.used;
      this.used = 0;
    }
  }

  /** The bytes, preceded by `head` bytes and followed by `tail` bytes left for the caller. */
  finish(tail: number): Buffer {
    if (this.chunks.length === 0) {
      const out = Buffer.allocUnsafe(this.used + tail);
      this.scratch.copy(out, 0, 0, this.used);
      return out;
    }
    this.flush();
    const out = Buffer.allocUnsafe(this.total + tail);
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }

  /**
   * The bytes as parts to write in turn (`head` bytes left at the start of the first, `tail`
   * at the end of the last): payloads of SHARED_BYTES or more are the caller's own memory, not
   * copies, so the writer must not change them until the write completes. One part when none
   * is that large.
   */
  finishParts(tail: number): Buffer[] {
    if (!this.chunks.some((c) => c.length >= SHARED_BYTES)) return [this.finish(tail)];
    if (this.used + tail > this.scratch.length) this.flush();
    this.used += tail;
    this.flush();
    // Copied segments and small payloads between the large ones are joined, one part each.
    const parts: Buffer[] = [];
    let run: Uint8Array[] = [];
    let runBytes = 0;
    const endRun = () => {
      if (run.length === 0) return;
      parts.push(run.length === 1 ? bufferView(run[0]!) : Buffer.concat(run, runBytes));
      run = [];
      runBytes = 0;
    };
    for (const c of this.chunks) {
      if (c.length >= SHARED_BYTES) {
        endRun();
        parts.push(bufferView(c));
      } else {
        run.push(c);
        runBytes += c.length;
      }
    }
    endRun();
    return parts;
  }
}

/** Payloads this large are written from the caller's memory (finishParts) instead of copied. */
export const SHARED_BYTES = SHARED_PAYLOAD_BYTES;

const latin1 = (s: string) => Buffer.from(s, 'latin1');

function dumpInt(w: Writer, n: bigint | number): void {
  if (n >= IMM_MIN && n <= IMM_MAX) {
    w.byte(Number(n) + IMM_OFFSET);
    return;
  }
  const text = latin1(n.toString());
  if (text.length - (n < 0 ? 1 : 0) > MAX_INT_DIGITS)
    throw new TypeError(`brine cannot dump an int of more than ${MAX_INT_DIGITS} digits (Python refuses it)`);
  if (text.length < 256) {
    w.byte(Tag.INT_L1);
    w.byte(text.length);
  } else {
    w.byte(Tag.INT_L4);
    w.u32(text.length);
  }
  w.bytes(text);
}

function dumpBytes(w: Writer, data: Uint8Array): void {
  const n = data.length;
  if (n === 0) {
    w.byte(Tag.EMPTY_STR);
    return;
  }
  if (n <= 4) w.byte(Tag.STR1 + n - 1);
  else if (n < 256) {
    w.byte(Tag.STR_L1);
    w.byte(n);
  } else {
    w.byte(Tag.STR_L4);
    w.u32(n);
  }
  w.bytes(data);
}

function dumpTupleHeader(w: Writer, n: number): void {
  if (n === 0) w.byte(Tag.EMPTY_TUPLE);
  else if (n <= 4) w.byte(Tag.TUP1 + n - 1);
  else if (n < 256) {
    w.byte(Tag.TUP_L1);
    w.byte(n);
  } else {
    w.byte(Tag.TUP_L4);
    w.u32(n);
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'object') return value.constructor?.name ?? 'object';
  return typeof value;
}

function dumpValue(w: Writer, value: unknown, depth: number): void {
  if (depth > DEFAULT_MAX_DEPTH) throw new ProtocolError(`brine: nesting deeper than ${DEFAULT_MAX_DEPTH}`);
  switch (typeof value) {
    case 'undefined':
      w.byte(Tag.NONE);
      return;
    case 'boolean':
      w.byte(value ? Tag.TRUE : Tag.FALSE);
      return;
    case 'bigint':
      dumpInt(w, value);
      return;
    case 'number':
      if (Number.isSafeInteger(value) && !Object.is(value, -0)) dumpInt(w, value);
      else {
        w.byte(Tag.FLOAT);
        w.f64(value);
      }
      return;
    case 'string':
      w.byte(Tag.UNICODE);
      dumpBytes(w, Buffer.from(value, 'utf8'));
      return;
    case 'object':
      break;
    default:
      throw new TypeError(`brine cannot dump a ${typeof value}`);
  }
  if (value === null) w.byte(Tag.NONE);
  else if (value instanceof Uint8Array) dumpBytes(w, value);
  else if (Array.isArray(value)) {
    dumpTupleHeader(w, value.length);
    for (const item of value) dumpValue(w, item, depth + 1);
  } else if (value instanceof PyFloat) {
    w.byte(Tag.FLOAT);
    w.f64(value.value);
  } else if (value instanceof PyComplex) {
    w.byte(Tag.COMPLEX);
    w.f64(value.real);
    w.f64(value.imag);
  } else if (value instanceof PySlice) {
    w.byte(Tag.SLICE);
    dumpValue(w, [value.start, value.stop, value.step], depth + 1);
  } else if (value instanceof PyFrozenSet) {
    w.byte(Tag.FSET);
    dumpValue(w, value.items, depth + 1);
  } else if (value === Ellipsis) w.byte(Tag.ELLIPSIS);
  else if (value === NotImplemented) w.byte(Tag.NOT_IMPLEMENTED);
  else throw new TypeError(`brine cannot dump a ${describe(value)}`);
}

/** Serializes a value the way Python's brine.dump does, byte for byte. */
export function dump(value: BrineValue): Buffer {
  return dumpFramed(value, 0, 0);
}

/**
 * dump() with `head` bytes reserved before the value and `tail` after it (contents unset), so a
 * caller can add its framing without copying the payload again.
 */
export function dumpFramed(value: BrineValue, head: number, tail: number): Buffer {
  const w = new Writer(head);
  dumpValue(w, value, 0);
  return w.finish(tail);
}

/**
 * dumpFramed() as parts to write in turn, the value's large bytes (SHARED_BYTES or more) not
 * copied but referenced: the first part starts with `head` spare bytes, the last ends with
 * `tail`. Saves a copy of a bulk payload per message, on both sides of a call.
 */
export function dumpFramedParts(value: BrineValue, head: number, tail: number): Buffer[] {
  const w = new Writer(head);
  dumpValue(w, value, 0);
  return w.finishParts(tail);
}

// ---------------------------------------------------------------------------------------------
// loading

export interface LoadOptions {
  /** Decode floats as PyFloat (so 2.0 dumps back as a float); default: plain numbers. */
  preserveFloats?: boolean;
  maxDepth?: number;
  /** See DEFAULT_MAX_OBJECTS. */
  maxObjects?: number;
}

/**
 * Well-formed brine refused for its size (too many values, too long an int, too deep): unlike corrupt
 * input, the rest of the stream can still be trusted, so only the message it was in fails.
 */
export class BrineLimitError extends ProtocolError {}

const utf8 = new TextDecoder('utf-8', { fatal: true });
const INT_TEXT = /^[+-]?\d+$/;

class Reader {
  pos = 0;
  objects = 0;
  constructor(
    private readonly data: Uint8Array,
    private readonly view: DataView,
  ) {}

  need(n: number): number {
    const at = this.pos;
    if (n > this.data.length - at)
      throw new ProtocolError(`brine: truncated input (need ${n} bytes at offset ${at})`);
    this.pos = at + n;
    return at;
  }
  byte(): number {
    return this.data[this.need(1)] as number;
  }
  u32(): number {
    return this.view.getUint32(this.need(4), false);
  }
  f64(): number {
    return this.view.getFloat64(this.need(8), false);
  }
  /** A view into the input (no copy): frames are fresh buffers owned by the decoder's caller. */
  bytes(n: number): Uint8Array {
    const at = this.need(n);
    return new Uint8Array(this.data.buffer, this.data.byteOffset + at, n);
  }
  get remaining(): number {
    return this.data.length - this.pos;
  }
  get done(): boolean {
    return this.pos === this.data.length;
  }
}

function loadInt(text: Uint8Array): number | bigint {
  // A sign may precede the digits (Python's int() also allows a "+").
  if (text.length > MAX_INT_DIGITS + 1)
    throw new BrineLimitError(`brine: int of more than ${MAX_INT_DIGITS} digits (Python refuses them too)`);
  const s = Buffer.from(text.buffer, text.byteOffset, text.byteLength).toString('latin1');
  if (s.length > MAX_INT_DIGITS && /^\d/.test(s))
    throw new BrineLimitError(`brine: int of more than ${MAX_INT_DIGITS} digits (Python refuses them too)`);
  if (!INT_TEXT.test(s)) throw new ProtocolError(`brine: malformed int ${JSON.stringify(s.slice(0, 40))}`);
  const big = BigInt(s);
  const small = Number(big);
  return Number.isSafeInteger(small) ? small : big;
}

function loadTuple(r: Reader, opts: Required<LoadOptions>, depth: number, n: number): BrineValue[] {
  // Each item takes at least one byte: a count larger than what is left is a lie.
  if (n > r.remaining) throw new ProtocolError(`brine: tuple of ${n} items past the end`);
  const out = new Array<BrineValue>(n);
  for (let i = 0; i < n; i++) out[i] = loadValue(r, opts, depth + 1);
  return out;
}

/** The bytes after a unicode tag (counted as one more value, as a bytes value would be). */
function loadStrBytes(r: Reader, opts: Required<LoadOptions>): Uint8Array {
  const tag = r.byte();
  if (tag !== Tag.EMPTY_STR && (tag < Tag.STR1 || tag > Tag.STR_L4))
    throw new ProtocolError('brine: unicode tag not followed by bytes');
  if (++r.objects > opts.maxObjects)
    throw new BrineLimitError(`brine: more than ${opts.maxObjects} values in one message`);
  if (tag === Tag.EMPTY_STR) return new Uint8Array(0);
  if (tag === Tag.STR_L1) return r.bytes(r.byte());
  if (tag === Tag.STR_L4) return r.bytes(r.u32());
  return r.bytes(tag - Tag.STR1 + 1);
}

function loadValue(r: Reader, opts: Required<LoadOptions>, depth: number): BrineValue {
  // A limit, not corruption: the frame around it is sound, so only its message need fail.
  if (depth > opts.maxDepth) throw new BrineLimitError(`brine: nesting deeper than ${opts.maxDepth}`);
  const tag = r.byte();
  if (tag >= IMM_MIN + IMM_OFFSET && tag <= IMM_MAX + IMM_OFFSET) return tag - IMM_OFFSET;
  // Empty bytes and tuples are fresh objects too (callers may mutate what they get).
  const allocates =
    tag === Tag.EMPTY_STR ||
    tag === Tag.EMPTY_TUPLE ||
    (tag > Tag.ELLIPSIS && tag !== Tag.INT_L1 && tag !== Tag.INT_L4);
  if (allocates && ++r.objects > opts.maxObjects)
    throw new BrineLimitError(`brine: more than ${opts.maxObjects} values in one message`);
  switch (tag) {
    case Tag.NONE:
      return null;
    case Tag.EMPTY_STR:
      return new Uint8Array(0);
    case Tag.EMPTY_TUPLE:
      return [];
    case Tag.TRUE:
      return true;
    case Tag.FALSE:
      return false;
    case Tag.NOT_IMPLEMENTED:
      return NotImplemented;
    case Tag.ELLIPSIS:
      return Ellipsis;
    case Tag.UNICODE: {
      // The bytes are read here, not by recursing: a str is one level, as it is when dumped.
      const raw = loadStrBytes(r, opts);
      try {
        return utf8.decode(raw);
      } catch {
        throw new ProtocolError('brine: invalid UTF-8 in str');
      }
    }
    case Tag.STR1:
    case Tag.STR2:
    case Tag.STR3:
    case Tag.STR4:
      return r.bytes(tag - Tag.STR1 + 1);
    case Tag.STR_L1:
      return r.bytes(r.byte());
    case Tag.STR_L4:
      return r.bytes(r.u32());
    case Tag.TUP1:
    case Tag.TUP2:
    case Tag.TUP3:
    case Tag.TUP4:
      return loadTuple(r, opts, depth, tag - Tag.TUP1 + 1);
    case Tag.TUP_L1:
      return loadTuple(r, opts, depth, r.byte());
    case Tag.TUP_L4:
      return loadTuple(r, opts, depth, r.u32());
    case Tag.INT_L1:
      return loadInt(r.bytes(r.byte()));
    case Tag.INT_L4:
      return loadInt(r.bytes(r.u32()));
    case Tag.FLOAT: {
      const x = r.f64();
      return opts.preserveFloats ? new PyFloat(x) : x;
    }
    case Tag.COMPLEX: {
      const re = r.f64();
      return new PyComplex(re, r.f64());
    }
    case Tag.SLICE: {
      const parts = loadValue(r, opts, depth + 1);
      if (!Array.isArray(parts) || parts.length !== 3)
        throw new ProtocolError('brine: slice is not a 3-tuple');
      return new PySlice(parts[0] as BrineValue, parts[1] as BrineValue, parts[2] as BrineValue);
    }
    case Tag.FSET: {
      const items = loadValue(r, opts, depth + 1);
      if (!Array.isArray(items)) throw new ProtocolError('brine: frozenset is not built from a tuple');
      return new PyFrozenSet(items);
    }
    default:
      throw new ProtocolError(`brine: unknown tag 0x${tag.toString(16).padStart(2, '0')}`);
  }
}

/** Deserializes one value; trailing bytes are an error (a frame holds exactly one value). */
export function load(data: Uint8Array, options: LoadOptions = {}): BrineValue {
  const opts: Required<LoadOptions> = {
    preserveFloats: options.preserveFloats ?? false,
    maxDepth: options.maxDepth ?? DEFAULT_MAX_DEPTH,
    maxObjects: options.maxObjects ?? DEFAULT_MAX_OBJECTS,
  };
  const r = new Reader(data, new DataView(data.buffer, data.byteOffset, data.byteLength));
  let value: BrineValue;
  try {
    value = loadValue(r, opts, 0);
  } catch (err) {
    // A caller already deep in its own stack (or a huge maxDepth) can still run out of it: that
    // is a size limit on this message, not a corrupt stream.
    if (err instanceof RangeError && /call stack/i.test(err.message))
      throw new BrineLimitError('brine: nesting too deep for the stack');
    throw err;
  }
  if (!r.done) throw new ProtocolError(`brine: ${r.remaining} trailing byte(s)`);
  return value;
}
