/**
 * The guard in front of the library's decoders: walks one Thrift message (binary or compact
 * protocol) without decoding it, to find where it ends and to reject hostile input before
 * anything is allocated for it. The npm `thrift` readers trust declared lengths (a string
 * header claiming 2^31-1 bytes makes the buffered reader wait and buffer forever), so every
 * string/binary/container length is checked here against the message size limit and the
 * bytes that can still follow, negative lengths and unknown types are refused, and nesting is
 * capped at 64 levels (the depth limit of the other Thrift libraries).
 */
import { MessageTooLargeError, ProtocolError } from '../../contract/errors.js';
import { MessageType, TType } from './library.js';

export const MAX_NESTING_DEPTH = 64;
export const MAX_METHOD_NAME_BYTES = 64 * 1024;

export type ScanResult =
  | { readonly complete: true; readonly length: number }
  /** Not all of the message is here yet; scanning again is pointless before `needAtLeast` bytes. */
  | { readonly complete: false; readonly needAtLeast: number };

/** Thrown inside the walk when the bytes run out; turned into an incomplete ScanResult. */
class Incomplete {
  constructor(readonly needAtLeast: number) {}
}

/** Smallest encoding of one value of each wire type (binary protocol), to bound container counts. */
const BINARY_MIN_SIZE: Record<number, number> = {
  [TType.BOOL]: 1,
  [TType.BYTE]: 1,
  [TType.DOUBLE]: 8,
  [TType.I16]: 2,
  [TType.I32]: 4,
  [TType.I64]: 8,
  [TType.STRING]: 4,
  [TType.STRUCT]: 1,
  [TType.MAP]: 6,
  [TType.SET]: 5,
  [TType.LIST]: 5,
  [TType.UUID]: 16,
};

/** Fixed-size binary types, skipped in one step when they fill a container. */
const BINARY_FIXED_SIZE: Record<number, number> = {
  [TType.BOOL]: 1,
  [TType.BYTE]: 1,
  [TType.DOUBLE]: 8,
  [TType.I16]: 2,
  [TType.I32]: 4,
  [TType.I64]: 8,
  [TType.UUID]: 16,
};

/** Compact protocol type nibbles (TCompactProtocol spec). */
const CT = {
  STOP: 0,
  BOOLEAN_TRUE: 1,
  BOOLEAN_FALSE: 2,
  BYTE: 3,
  I16: 4,
  I32: 5,
  I64: 6,
  DOUBLE: 7,
  BINARY: 8,
  LIST: 9,
  SET: 10,
  MAP: 11,
  STRUCT: 12,
  UUID: 13,
} as const;

/** Fixed-size compact element encodings (booleans in containers are one byte each). */
const COMPACT_FIXED_SIZE: Record<number, number> = {
  [CT.BOOLEAN_TRUE]: 1,
  [CT.BOOLEAN_FALSE]: 1,
  [CT.BYTE]: 1,
  [CT.DOUBLE]: 8,
  [CT.UUID]: 16,
};

const COMPACT_PROTOCOL_ID = 0x82;
const COMPACT_VERSION = 1;
const BINARY_VERSION_1 = 0x80010000 | 0;
const BINARY_VERSION_MASK = 0xffff0000 | 0;

/**
 * A container being walked element by element: `total` values of `types`, taken in turn (a
 * map's key and value alternate).
 */
interface ElementsFrame {
  readonly kind: 'elements';
  readonly depth: number;
  readonly types: readonly number[];
  readonly total: number;
  done: number;
}

interface StructFrame {
  readonly kind: 'struct';
  readonly depth: number;
}

type Frame = StructFrame | ElementsFrame;

/**
 * Walks a message with an explicit stack, one atomic step at a time (a step reads all it needs
 * before changing the stack), so a walk that runs out of bytes can resume later where it
 * stopped. A buffered-transport message arriving in many chunks is thus walked once in all,
 * not once per chunk: re-walking from the start made a 16 MiB list of empty structs cost
 * minutes of CPU.
 */
abstract class Walker {
  protected pos: number;
  protected buf: Uint8Array;
  protected end: number;
  private headerDone = false;
  private readonly stack: Frame[] = [];

  constructor(
    buf: Uint8Array,
    protected readonly start: number,
    end: number,
    protected readonly maxBytes: number,
  ) {
    this.buf = buf;
    this.end = end;
    this.pos = start;
  }

  /**
   * Walks on with the bytes up to `end` of `buf`, which must hold the same message bytes at
   * the same offsets as before (it may be a new, longer buffer).
   */
  run(buf: Uint8Array = this.buf, end: number = buf.byteLength): ScanResult {
    this.buf = buf;
    this.end = end;
    try {
      if (!this.headerDone) {
        this.atomic(() => this.header());
        this.headerDone = true;
        this.depth(1);
        this.stack.push({ kind: 'struct', depth: 1 });
      }
      while (this.stack.length > 0) {
        const top = this.stack[this.stack.length - 1]!;
        this.atomic(() => (top.kind === 'struct' ? this.structStep(top) : this.elementStep(top)));
      }
      return { complete: true, length: this.pos - this.start };
    } catch (err) {
      if (err instanceof Incomplete) return { complete: false, needAtLeast: err.needAtLeast };
      throw err;
    }
  }

  /** Runs one step; when the bytes run out midway, rewinds so the step can run again later. */
  private atomic(step: () => void): void {
    const at = this.pos;
    try {
      step();
    } catch (err) {
      this.pos = at;
      throw err;
    }
  }

  /** Reads the message header (method name, type, seqid), up to the argument/result struct. */
  protected abstract header(): void;

  /** Reads the next field header of a struct and the start of its value. */
  protected abstract structField(depth: number): { stop: true } | { stop: false; child: Frame | undefined };

  /**
   * Reads a value of `type` at nesting `depth`: scalars and strings entirely, a struct or
   * container up to its header. Returns the frame to walk its contents with, if any.
   */
  protected abstract value(type: number, depth: number): Frame | undefined;

  private structStep(frame: StructFrame): void {
    const field = this.structField(frame.depth);
    if (field.stop) {
      this.stack.pop();
      return;
    }
    if (field.child) this.stack.push(field.child);
  }

  private elementStep(frame: ElementsFrame): void {
    const child = this.value(frame.types[frame.done % frame.types.length]!, frame.depth + 1);
    frame.done++;
    if (frame.done === frame.total) this.stack.pop();
    if (child) this.stack.push(child);
  }

  /** The frame for `n` elements of `types`, or none when they are skipped in one step. */
  protected elements(
    n: number,
    types: readonly number[],
    depth: number,
    fixedSize: Readonly<Record<number, number>>,
  ): Frame | undefined {
    if (n === 0) return undefined;
    const sizes = types.map((t) => fixedSize[t]);
    if (sizes.every((size) => size !== undefined)) {
      // Fixed-size elements: one bounds check instead of n (count() already bounded n).
      this.take(n * sizes.reduce((a, b) => a! + b!, 0)!);
      return undefined;
    }
    return { kind: 'elements', depth, types, total: n * types.length, done: 0 };
  }

  /** Ensures n more bytes are (or will be, within the limit) available, then advances. */
  protected take(n: number): number {
    const at = this.pos;
    const wanted = at + n - this.start;
    if (wanted > this.maxBytes) throw new MessageTooLargeError(wanted, this.maxBytes);
    if (at + n > this.end) throw new Incomplete(wanted);
    this.pos = at + n;
    return at;
  }

  protected u8(): number {
    return this.buf[this.take(1)]!;
  }

  protected i32(): number {
    const at = this.take(4);
    const b = this.buf;
    return (b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]! | 0;
  }

  /** A declared byte length: never negative, never beyond the limit. */
  protected length(n: number, what: string): number {
    if (n < 0) throw new ProtocolError(`negative ${what} length ${n}`);
    const total = this.pos + n - this.start;
    if (n > this.maxBytes || total > this.maxBytes) throw new MessageTooLargeError(total, this.maxBytes);
    return n;
  }

  /** A declared element count: its smallest encoding must still fit within the limit. */
  protected count(n: number, minSize: number, what: string): number {
    if (n < 0) throw new ProtocolError(`negative ${what} size ${n}`);
    const total = this.pos + n * minSize - this.start;
    if (total > this.maxBytes) throw new MessageTooLargeError(total, this.maxBytes);
    return n;
  }

  protected depth(d: number): void {
    if (d > MAX_NESTING_DEPTH) throw new ProtocolError(`nesting deeper than ${MAX_NESTING_DEPTH} levels`);
  }

  /**
   * A method name's declared length. Names are identifiers, so a length beyond 64 KiB means
   * the bytes are not Thrift at all (e.g. "HTTP" read as a non-strict header's name length).
   */
  protected nameLength(n: number): number {
    if (n > MAX_METHOD_NAME_BYTES)
      throw new ProtocolError(`not a Thrift message: method name length ${n} (0x${(n >>> 0).toString(16)})`);
    return this.length(n, 'method name');
  }

  protected messageType(type: number): void {
    if (type < MessageType.CALL || type > MessageType.ONEWAY)
      throw new ProtocolError(`unknown message type ${type}`);
  }
}

class BinaryWalker extends Walker {
  protected header(): void {
    const first = this.i32();
    if (first < 0) {
      // Strict header: version | type, name, seqid.
      if ((first & BINARY_VERSION_MASK) !== BINARY_VERSION_1)
        throw new ProtocolError(`bad binary protocol version 0x${(first >>> 0).toString(16)}`);
      this.messageType(first & 0xff);
      this.take(this.nameLength(this.i32()));
      this.take(4);
    } else {
      // Old non-strict header: name length, name, type byte, seqid.
      this.take(this.nameLength(first));
      this.messageType(this.u8());
      this.take(4);
    }
  }

  protected structField(depth: number): { stop: true } | { stop: false; child: Frame | undefined } {
    const ftype = this.u8();
    if (ftype === TType.STOP) return { stop: true };
    this.take(2); // field id
    return { stop: false, child: this.value(ftype, depth + 1) };
  }

  protected value(type: number, depth: number): Frame | undefined {
    const fixed = BINARY_FIXED_SIZE[type];
    if (fixed !== undefined) {
      this.take(fixed);
      return undefined;
    }
    switch (type) {
      case TType.STRING:
        this.take(this.length(this.i32(), 'string/binary'));
        return undefined;
      case TType.STRUCT:
        this.depth(depth);
        return { kind: 'struct', depth };
      case TType.MAP: {
        this.depth(depth);
        const k = this.elemType(this.u8());
        const v = this.elemType(this.u8());
        const n = this.count(this.i32(), BINARY_MIN_SIZE[k]! + BINARY_MIN_SIZE[v]!, 'map');
        return this.elements(n, [k, v], depth, BINARY_FIXED_SIZE);
      }
      case TType.SET:
      case TType.LIST: {
        this.depth(depth);
        const e = this.elemType(this.u8());
        const n = this.count(this.i32(), BINARY_MIN_SIZE[e]!, 'list/set');
        return this.elements(n, [e], depth, BINARY_FIXED_SIZE);
      }
      default:
        throw new ProtocolError(`unknown field type ${type}`);
    }
  }

  private elemType(t: number): number {
    if (BINARY_MIN_SIZE[t] === undefined) throw new ProtocolError(`unknown element type ${t}`);
    return t;
  }
}

class CompactWalker extends Walker {
  protected header(): void {
    if (this.u8() !== COMPACT_PROTOCOL_ID) throw new ProtocolError('bad compact protocol id');
    const vt = this.u8();
    if ((vt & 0x1f) !== COMPACT_VERSION) throw new ProtocolError(`bad compact protocol version ${vt & 0x1f}`);
    this.messageType((vt >> 5) & 0x07);
    this.varint(5);
    this.take(this.nameLength(this.size()));
  }

  /** A varint of at most maxBytes bytes, as an unsigned number (lengths and counts). */
  private varint(maxBytes: number): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < maxBytes; i++) {
      const b = this.u8();
      result += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) return result;
      scale *= 128;
    }
    throw new ProtocolError(`varint longer than ${maxBytes} bytes`);
  }

  /** A varint32 length or count; values of 2^31 and above are negative i32s to the readers. */
  private size(): number {
    const n = this.varint(5);
    return n >= 2 ** 31 && n < 2 ** 32 ? n - 2 ** 32 : n;
  }

  protected structField(depth: number): { stop: true } | { stop: false; child: Frame | undefined } {
    const header = this.u8();
    const ftype = header & 0x0f;
    if (ftype === CT.STOP) return { stop: true };
    if (header >> 4 === 0) this.varint(3); // explicit zigzag i16 field id
    // In a field header a bool's value lives in the type nibble.
    if (ftype === CT.BOOLEAN_TRUE || ftype === CT.BOOLEAN_FALSE) return { stop: false, child: undefined };
    return { stop: false, child: this.value(ftype, depth + 1) };
  }

  protected value(type: number, depth: number): Frame | undefined {
    switch (type) {
      case CT.BOOLEAN_TRUE:
      case CT.BOOLEAN_FALSE:
      case CT.BYTE:
        // In a container a bool is one byte.
        this.take(1);
        return undefined;
      case CT.I16:
      case CT.I32:
        this.varint(5);
        return undefined;
      case CT.I64:
        this.varint(10);
        return undefined;
      case CT.DOUBLE:
        this.take(8);
        return undefined;
      case CT.UUID:
        this.take(16);
        return undefined;
      case CT.BINARY:
        this.take(this.length(this.size(), 'string/binary'));
        return undefined;
      case CT.STRUCT:
        this.depth(depth);
        return { kind: 'struct', depth };
      case CT.LIST:
      case CT.SET: {
        this.depth(depth);
        const header = this.u8();
        const e = this.elemType(header & 0x0f);
        const n = header >> 4 === 15 ? this.size() : header >> 4;
        this.count(n, e === CT.DOUBLE ? 8 : e === CT.UUID ? 16 : 1, 'list/set');
        return this.elements(n, [e], depth, COMPACT_FIXED_SIZE);
      }
      case CT.MAP: {
        this.depth(depth);
        const n = this.size();
        if (n === 0) return undefined;
        this.count(n, 2, 'map');
        const kv = this.u8();
        return this.elements(
          n,
          [this.elemType(kv >> 4), this.elemType(kv & 0x0f)],
          depth,
          COMPACT_FIXED_SIZE,
        );
      }
      default:
        throw new ProtocolError(`unknown compact type ${type}`);
    }
  }

  private elemType(t: number): number {
    if (t === CT.STOP || t > CT.UUID) throw new ProtocolError(`unknown compact element type ${t}`);
    return t;
  }
}

/** A walk of one message that can be continued as more of its bytes arrive. */
export interface MessageScanner {
  /** Walks on with `buf` (the same bytes as before at the same offsets, maybe more) up to `end`. */
  run(buf: Uint8Array, end?: number): ScanResult;
}

/** Starts a resumable walk of the message beginning at `start`. */
export function messageScanner(
  encoding: 'binary' | 'compact',
  buf: Uint8Array,
  maxBytes: number,
  start = 0,
): MessageScanner {
  const end = buf.byteLength;
  return encoding === 'binary'
    ? new BinaryWalker(buf, start, end, maxBytes)
    : new CompactWalker(buf, start, end, maxBytes);
}

/**
 * Scans the message starting at `start` (bytes up to `end` are available). Throws
 * ProtocolError for malformed input and MessageTooLargeError for anything beyond `maxBytes`.
 */
export function scanMessage(
  encoding: 'binary' | 'compact',
  buf: Uint8Array,
  maxBytes: number,
  start = 0,
  end = buf.byteLength,
): ScanResult {
  return messageScanner(encoding, buf, maxBytes, start).run(buf, end);
}
