/**
 * Framing: msgpack-rpc has none. Messages are msgpack values written back to back on the
 * stream, so the only way to find where one ends is to walk its headers. This module does that
 * walk incrementally (a message may arrive in many chunks, and a 16 MiB array of small integers
 * must not be rescanned from its start on every chunk), and it is where the limits live: every
 * declared length is checked against the message-size limit as its header is read, so a header
 * declaring a 4 GiB array or a 2^32-1-byte str fails at once, before anything waits for or
 * allocates its body; nesting past `maxDepth` and more than `maxContainers` maps and arrays fail
 * the same way. Only complete, checked messages are handed to the decoder.
 *
 * A str that is not valid UTF-8 is remembered: the old msgpack spec had no bin type, and peers
 * still on it (msgpack-rpc-python 0.4.1 with msgpack-python 0.5.6) send Python bytes as raw
 * str. Such a str is retyped as bin before decoding, so it arrives as bytes, not as text with
 * U+FFFD in place of every byte that was not UTF-8.
 */
import { isUtf8 } from 'node:buffer';

/** Deepest nesting accepted (a top-level value is at depth 1), as for the ZeroMQ row. */
export const MAX_DEPTH = 100;
/** Most maps and arrays in one message (each costs the decoder an object): see zeromq/msgpack.ts. */
export const MAX_CONTAINERS = 1_000_000;

export class FramingError extends Error {
  /** The limit broken, for the connection's close reason: "size", "depth", "containers", "format". */
  readonly kind: 'size' | 'depth' | 'containers' | 'format';
  constructor(kind: FramingError['kind'], message: string) {
    super(message);
    this.kind = kind;
  }
}

// Header kinds for bytes 0xc0-0xdf, with the size of the fixed payload (FIXED) or of the
// length field (the others).
const FIXED = 0;
const SIZED = 1; // bin: length, then data
const EXT = 2; // length, type byte, data
const ARRAY = 3;
const MAP = 4;
const INVALID = 5;
const STR = 6; // length, then text
// biome-ignore format: one row per group of headers
const KIND: readonly number[] = [
  FIXED, INVALID, FIXED, FIXED, // nil, (never used), false, true
  SIZED, SIZED, SIZED, // bin 8/16/32
  EXT, EXT, EXT, // ext 8/16/32
  FIXED, FIXED, // float 32/64
  FIXED, FIXED, FIXED, FIXED, // uint 8-64
  FIXED, FIXED, FIXED, FIXED, // int 8-64
  FIXED, FIXED, FIXED, FIXED, FIXED, // fixext 1-16 (type + data)
  STR, STR, STR, // str 8/16/32
  ARRAY, ARRAY, MAP, MAP, // array 16/32, map 16/32
];
// biome-ignore format: one row per group of headers
const SIZE: readonly number[] = [
  0, 0, 0, 0,
  1, 2, 4,
  1, 2, 4,
  4, 8,
  1, 2, 4, 8,
  1, 2, 4, 8,
  2, 3, 5, 9, 17,
  1, 2, 4,
  2, 4, 2, 4,
];

export interface FramingLimits {
  readonly maxMessageBytes: number;
  readonly maxDepth?: number;
  readonly maxContainers?: number;
}

/** One complete message: its bytes, ready for the decoder. */
export type MessageSink = (message: Buffer) => void;

const EMPTY = Buffer.alloc(0);

/**
 * Splits a byte stream into msgpack messages. `push` each chunk as it arrives; complete
 * messages go to the sink in order. A broken limit or an invalid byte throws FramingError:
 * the stream cannot be resynchronised, so the caller closes the connection.
 *
 * Memory: bytes a delivered message refers to are never overwritten (the decoder returns bin
 * values as views into the message), so a partial message is copied into fresh space, never
 * compacted in place. A chunk that holds only whole messages is not copied at all.
 */
export class MessageReader {
  private readonly maxBytes: number;
  private readonly maxDepth: number;
  private readonly maxContainers: number;

  /** Pending bytes are buf[start, end); buf is ours to append to only when `owned`. */
  private buf: Buffer = EMPTY;
  private start = 0;
  private end = 0;
  private owned = false;

  // Scanner state, positions relative to `start`: resumes where the last chunk ran out.
  private pos = 0;
  /** Items still to read in each open container, innermost last (a map counts keys and values). */
  private readonly open: number[] = [];
  /** Sum of `open`: each item takes at least one byte, so the message is at least pos + this long. */
  private owed = 0;
  private containers = 0;
  /** The item at the end of the scan has a payload (str, bin, ext) that has not all arrived. */
  private waiting = false;
  /** When that item is a str: its header position and text start, to check once it is whole. */
  private strHeader = -1;
  private strStart = 0;
  /** Header positions of strs that are not UTF-8 (retyped as bin before decoding). */
  private rawStrs: number[] = [];

  constructor(limits: FramingLimits) {
    this.maxBytes = limits.maxMessageBytes;
    this.maxDepth = limits.maxDepth ?? MAX_DEPTH;
    this.maxContainers = limits.maxContainers ?? MAX_CONTAINERS;
  }

  /** Bytes received but not yet part of a delivered message. */
  get pendingBytes(): number {
    return this.end - this.start;
  }

  push(chunk: Buffer, sink: MessageSink): void {
    if (chunk.length === 0) return;
    this.append(chunk);
    for (;;) {
      const length = this.scan();
      if (length < 0) break;
      let message = this.buf.subarray(this.start, this.start + length);
      this.start += length;
      if (this.rawStrs.length > 0) message = retypeRawStrs(message, this.rawStrs);
      this.resetScanner();
      sink(message);
      if (this.start === this.end) break;
    }
    if (this.start === this.end) {
      this.buf = EMPTY; // nothing pending: let the chunk go
      this.start = this.end = 0;
      this.owned = false;
    }
  }

  private resetScanner(): void {
    this.pos = 0;
    this.open.length = 0;
    this.owed = 0;
    this.containers = 0;
    this.waiting = false;
    this.strHeader = -1;
    if (this.rawStrs.length > 0) this.rawStrs = [];
  }

  private append(chunk: Buffer): void {
    if (this.start === this.end) {
      this.buf = chunk; // scanned in place; copied only if a partial message is left over
      this.start = 0;
      this.end = chunk.length;
      this.owned = false;
      return;
    }
    const pending = this.end - this.start;
    const needed = pending + chunk.length;
    if (this.owned && this.start + needed <= this.buf.length) {
      chunk.copy(this.buf, this.end);
      this.end += chunk.length;
      return;
    }
    // Fresh space (never a compaction in place: delivered messages may view these bytes). At
    // least what the message is known to need, and doubling, so a large message arriving in
    // small chunks is copied O(1) times per byte; never far past the limit.
    const known = this.pos + this.owed;
    const capacity = Math.min(Math.max(needed, known, 2 * needed, 4096), this.maxBytes + chunk.length);
    const next = Buffer.allocUnsafe(Math.max(capacity, needed));
    this.buf.copy(next, 0, this.start, this.end);
    chunk.copy(next, pending);
    this.buf = next;
    this.start = 0;
    this.end = needed;
    this.owned = true;
  }

  /** Advances the scan over the pending bytes: a complete message's length, or -1 for "need more". */
  private scan(): number {
    const bytes = this.buf;
    const base = this.start;
    const avail = this.end - base;
    if (this.waiting) {
      if (this.pos > avail) return -1;
      this.waiting = false;
      if (this.strHeader >= 0) this.checkStr(this.strHeader, base + this.strStart, this.pos - this.strStart);
      this.strHeader = -1;
      if (this.closeItem()) return this.pos;
    }
    while (this.pos < avail) {
      const at = this.pos;
      const b = bytes[base + at]!;
      let items = 0;
      if (b <= 0x7f || b >= 0xe0) {
        this.pos = at + 1; // fixint
      } else if (b <= 0x9f) {
        items = b <= 0x8f ? (b & 0x0f) * 2 : b & 0x0f; // fixmap, fixarray
        this.pos = at + 1;
        this.countContainer();
      } else if (b <= 0xbf) {
        const length = b & 0x1f; // fixstr
        this.pos = at + 1 + length;
        this.checkTotal();
        if (length > 0) {
          if (this.pos > avail) {
            this.waiting = true;
            this.strHeader = at;
            this.strStart = at + 1;
            return -1;
          }
          this.checkStr(at, base + at + 1, length);
        }
      } else {
        const kind = KIND[b - 0xc0]!;
        const size = SIZE[b - 0xc0]!;
        if (kind === INVALID) throw new FramingError('format', `invalid msgpack byte 0xc1 at ${at}`);
        if (at + 1 + size > avail) return -1; // the length field has not all arrived
        let n = 0;
        if (kind !== FIXED) for (let i = 1; i <= size; i++) n = n * 256 + bytes[base + at + i]!;
        this.pos = at + 1 + size;
        if (kind === FIXED) {
          this.checkTotal();
        } else if (kind === ARRAY || kind === MAP) {
          items = kind === MAP ? n * 2 : n;
          this.countContainer();
        } else {
          // Checked before waiting for the payload: a declared 2^32-1 bytes fails here.
          if (n > this.maxBytes) {
            throw new FramingError(
              'size',
              `msgpack value declares ${n} bytes, over the limit of ${this.maxBytes}`,
            );
          }
          this.pos += kind === EXT ? 1 + n : n;
          this.checkTotal();
          if (kind === STR && n > 0) {
            if (this.pos > avail) {
              this.waiting = true;
              this.strHeader = at;
              this.strStart = at + 1 + size;
              return -1;
            }
            this.checkStr(at, base + at + 1 + size, n);
          }
        }
      }
      if (items > 0) {
        if (this.open.length + 2 > this.maxDepth) {
          throw new FramingError('depth', `msgpack value nested deeper than ${this.maxDepth} levels`);
        }
        // Checked before any item arrives: a declared 4 GiB array fails here.
        if (items > this.maxBytes) {
          throw new FramingError(
            'size',
            `msgpack container declares ${items} items, over the limit of ${this.maxBytes} bytes`,
          );
        }
        this.open.push(items);
        this.owed += items;
        this.checkTotal();
        continue;
      }
      if (this.pos > avail) {
        this.waiting = true; // a bin or ext payload still arriving
        return -1;
      }
      if (this.closeItem()) return this.pos;
    }
    return -1;
  }

  /** One item is complete: closes the containers it completes; true when the message is. */
  private closeItem(): boolean {
    const open = this.open;
    if (open.length === 0) return true;
    this.owed--;
    while (open.length > 0 && --open[open.length - 1]! === 0) open.pop();
    return open.length === 0;
  }

  private countContainer(): void {
    if (++this.containers > this.maxContainers) {
      throw new FramingError(
        'containers',
        `msgpack message holds more than ${this.maxContainers} maps and arrays`,
      );
    }
  }

  private checkTotal(): void {
    // `owed` counts the item being read too; one byte of it is already in `pos`.
    const least = this.pos + Math.max(0, this.owed - 1);
    if (least > this.maxBytes) {
      throw new FramingError(
        'size',
        `msgpack message of at least ${least} bytes, over the limit of ${this.maxBytes}`,
      );
    }
  }

  private checkStr(header: number, start: number, length: number): void {
    const bytes = this.buf;
    const end = start + length;
    if (length <= 64) {
      // Short ASCII (method names, map keys) is valid as it is: cheaper than a native call.
      let i = start;
      while (i < end && bytes[i]! < 0x80) i++;
      if (i === end) return;
    }
    if (!isUtf8(bytes.subarray(start, end))) this.rawStrs.push(header);
  }
}

/**
 * Retypes the strs at `headers` (positions in `message`) as bin: str8/16/32 become bin8/16/32
 * (same size, changed in place), a fixstr becomes a bin8 (one byte longer, so the message is
 * rebuilt).
 */
export function retypeRawStrs(message: Buffer, headers: readonly number[]): Buffer {
  let grow = 0;
  for (const h of headers) {
    const b = message[h]!;
    if (b >= 0xd9 && b <= 0xdb) message[h] = b - 0xd9 + 0xc4;
    else grow++;
  }
  if (grow === 0) return message;
  const out = Buffer.allocUnsafe(message.length + grow);
  let from = 0;
  let to = 0;
  for (const h of headers) {
    const b = message[h]!;
    if (b < 0xa0 || b > 0xbf) continue;
    to += message.copy(out, to, from, h);
    out[to++] = 0xc4;
    out[to++] = b & 0x1f;
    from = h + 1;
  }
  message.copy(out, to, from);
  return out;
}
