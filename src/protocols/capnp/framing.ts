/**
 * Cap'n Proto's standard stream framing, read incrementally off a socket:
 *
 *   u32 segmentCount - 1 | u32 size of each segment in words | padding to 8 bytes | segments
 *
 * Every limit is checked from the header alone, before a byte of the message is buffered or
 * allocated: a header that declares 2^32-1 segments or a 4 GiB segment is refused at once
 * (the connection is then aborted by the caller), so a peer cannot make us reserve memory it
 * never sends. capnp-es's own `new Message(buffer)` trusts the header; we only hand it
 * segments we have already measured.
 */
import * as capnp from 'capnp-es';
import { MessageTooLargeError, ProtocolError } from '../../contract/errors.js';

/** The C++ implementation refuses more than 512 segments too (kj's readMessage). */
export const DEFAULT_MAX_SEGMENTS = 512;
/** Nesting (pointer depth) limit applied to every message read, as the C++ ReaderOptions default. */
export const DEFAULT_NESTING_LIMIT = 64;

export interface FrameLimits {
  /** Largest message (all segments) accepted, in bytes; it is also the traversal limit. */
  readonly maxMessageBytes: number;
  readonly maxSegments?: number;
}

export class FramingError extends ProtocolError {}

/** Splits a byte stream into frames. */
export class FrameReader {
  private readonly chunks: Buffer[] = [];
  private buffered = 0;
  /** Size of the frame being read (header included), once its header is known. */
  private frameBytes: number | undefined;
  private readonly maxSegments: number;

  constructor(private readonly limits: FrameLimits) {
    this.maxSegments = limits.maxSegments ?? DEFAULT_MAX_SEGMENTS;
  }

  /**
   * Feeds bytes; returns every frame completed by them (header included, checked against the
   * limits). Throws FramingError / MessageTooLargeError.
   */
  push(chunk: Buffer): ArrayBuffer[] {
    return this.pushViews(chunk).map(ownFrame);
  }

  /**
   * As push, but a frame that lies inside one chunk is returned as a view of it, not copied:
   * the fast path (fastpath.ts) reads most frames straight from there. A socket's chunks are
   * each an ArrayBuffer of their own that nothing writes after delivery (checked in
   * test/capnp/framing.test.ts), so views into them stay valid; ownFrame() copies a view for
   * capnp-es, which reads whole ArrayBuffers.
   */
  pushViews(chunk: Buffer): Uint8Array[] {
    if (chunk.length === 0) return [];
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const out: Uint8Array[] = [];
    for (;;) {
      if (this.frameBytes === undefined) {
        if (this.buffered < 4) break;
        const count = this.peekU32(0) + 1; // may be 2^32: no wrap in JS numbers
        if (count > this.maxSegments) {
          throw new FramingError(`frame declares ${count} segments (limit ${this.maxSegments})`);
        }
        const headerBytes = 4 + 4 * count + (count % 2 === 0 ? 4 : 0);
        if (this.buffered < headerBytes) break;
        const header = this.peek(headerBytes);
        let total = 0;
        for (let i = 0; i < count; i++) total += header.readUInt32LE(4 + 4 * i) * 8;
        if (total > this.limits.maxMessageBytes) {
          throw new MessageTooLargeError(total, this.limits.maxMessageBytes);
        }
        if (header.readUInt32LE(4) === 0)
          throw new FramingError('a frame whose first segment is empty has no root');
        this.frameBytes = headerBytes + total;
      }
      if (this.buffered < this.frameBytes) break;
      out.push(this.takeView(this.frameBytes));
      this.frameBytes = undefined;
    }
    return out;
  }

  private peek(n: number): Buffer {
    const first = this.chunks[0]!;
    if (first.length >= n) return first.subarray(0, n);
    const whole = Buffer.concat(this.chunks);
    this.chunks.length = 0;
    this.chunks.push(whole);
    return whole.subarray(0, n);
  }

  private peekU32(at: number): number {
    // The first chunk may hold fewer than 4 bytes.
    const first = this.chunks[0]!;
    if (first.length >= at + 4) return first.readUInt32LE(at);
    return Buffer.concat(this.chunks).readUInt32LE(at);
  }

  /** The next n bytes: a view of the first chunk when it holds them all, else a copy (take). */
  private takeView(n: number): Uint8Array {
    const c = this.chunks[0]!;
    if (c.length < n) return new Uint8Array(this.take(n));
    if (c.length === n) this.chunks.shift();
    else this.chunks[0] = c.subarray(n);
    this.buffered -= n;
    return new Uint8Array(c.buffer, c.byteOffset, n);
  }

  /**
   * The next n bytes, copied once into an ArrayBuffer of their own: capnp-es reads whole
   * ArrayBuffers, a Buffer may be a slice of Node's shared pool, and the fast path (fastpath.ts)
   * hands out views into the frame, so nothing else may share it.
   */
  private take(n: number): ArrayBuffer {
    const frame = new ArrayBuffer(n);
    const out = new Uint8Array(frame);
    let filled = 0;
    while (filled < n) {
      const c = this.chunks[0]!;
      const want = n - filled;
      if (c.length <= want) {
        out.set(c, filled);
        filled += c.length;
        this.chunks.shift();
      } else {
        out.set(c.subarray(0, want), filled);
        this.chunks[0] = c.subarray(want);
        filled += want;
      }
    }
    this.buffered -= n;
    return frame;
  }
}

/** A frame as an ArrayBuffer of its own (the view's, when it already is one; else a copy). */
export function ownFrame(frame: Uint8Array): ArrayBuffer {
  const buffer = frame.buffer as ArrayBuffer;
  if (frame.byteOffset === 0 && frame.byteLength === buffer.byteLength) return buffer;
  return buffer.slice(frame.byteOffset, frame.byteOffset + frame.byteLength);
}

/**
 * A message over a frame FrameReader has measured, with the traversal limit applied; its
 * pointers are checked first (checkPointers).
 */
export function messageFromFrame(frame: ArrayBuffer, maxMessageBytes: number): capnp.Message {
  const traversalBytes = Math.max(maxMessageBytes, 64 * 1024);
  checkPointers(frame, traversalBytes / 8);
  const message = new capnp.Message(frame, false);
  // capnp-es counts the traversal limit down in bytes as pointers are followed: a message can
  // be read about once over, not amplified by pointers that share their targets.
  message._capnp.traversalLimit = traversalBytes;
  return message;
}

/**
 * Walks every pointer reachable from the root of a frame (segment table included) before
 * capnp-es reads it: each struct and list lies inside its segment, far pointers land on
 * landing pads that exist and are well formed, and the words reached stay within
 * `budgetWords` and within twice the frame's own words plus 1024, a list element of no
 * size (an empty struct, a Void) counting as one word, as the C++ implementation charges
 * its traversal limit. A well-formed message reaches each of its words once, so it always
 * passes; a pointer loop or a list claiming more elements than were sent does not.
 * Throws FramingError.
 *
 * Why: capnp-es trusts what it reads. A list of structs smaller than the schema's is resized
 * to the schema's element size on first access, allocating count × size bytes for a count the
 * sender wrote: a tag declaring 2^20 empty elements (16 bytes on the wire) cost 1.4 s and
 * 140 MiB per message, and a few such calls ran the server out of memory (found by
 * scripts/fuzz/capnp.ts). Its own traversal limit is not charged for that copy.
 */
export function checkPointers(frame: ArrayBuffer, budgetWords: number): void {
  const view = new DataView(frame);
  const count = view.getUint32(0, true) + 1;
  const starts: number[] = [];
  const sizes: number[] = [];
  let at = 4 + 4 * count + (count % 2 === 0 ? 4 : 0);
  for (let i = 0; i < count; i++) {
    const words = view.getUint32(4 + 4 * i, true);
    starts.push(at);
    sizes.push(words);
    at += words * 8;
  }
  if (at > frame.byteLength) throw new FramingError('the segment table declares more than the frame holds');
  if (sizes[0] === 0) throw new FramingError('a frame whose first segment is empty has no root');
  // A message reads at most twice its own size (plus 8 KiB): a reader amplifies nothing more.
  const limit = Math.min(budgetWords, 2 * Math.floor(frame.byteLength / 8) + 1024);
  let budget = limit;
  const charge = (words: number) => {
    budget -= words;
    if (budget < 0) {
      throw new FramingError(
        `the message reads more than ${limit} words (a pointer loop, or a list longer than what was sent)`,
      );
    }
  };
  const within = (seg: number, start: number, words: number, what: string) => {
    if (start < 0 || start + words > sizes[seg]!) {
      throw new FramingError(`a ${what} pointer points outside its segment (${seg})`);
    }
  };
  const word = (seg: number, index: number): [number, number] => {
    const off = starts[seg]! + index * 8;
    return [view.getUint32(off, true), view.getUint32(off + 4, true)];
  };
  // Pointer locations still to visit, as (segment, word) pairs.
  const stack: number[] = [0, 0];
  while (stack.length > 0) {
    const index = stack.pop()!;
    const seg = stack.pop()!;
    let [lo, hi] = word(seg, index);
    if (lo === 0 && hi === 0) continue;
    let contentSeg = seg;
    let content = index + 1 + (lo >> 2);
    if ((lo & 3) === 2) {
      // A far pointer: the landing pad is one word (the pointer itself, relative to the pad)
      // or two (a far pointer to the content, then a tag describing it).
      const padSeg = hi;
      const pad = lo >>> 3;
      const double = (lo & 4) !== 0;
      if (padSeg >= count) throw new FramingError(`a far pointer names segment ${padSeg} of ${count}`);
      within(padSeg, pad, double ? 2 : 1, 'far');
      const [padLo, padHi] = word(padSeg, pad);
      if (!double) {
        if ((padLo & 3) === 2) throw new FramingError('a far pointer lands on another far pointer');
        [lo, hi] = [padLo, padHi];
        if (lo === 0 && hi === 0) continue;
        contentSeg = padSeg;
        content = pad + 1 + (lo >> 2);
      } else {
        if ((padLo & 7) !== 2)
          throw new FramingError('a double-far landing pad does not start with a far pointer');
        contentSeg = padHi;
        content = padLo >>> 3;
        if (contentSeg >= count)
          throw new FramingError(`a far pointer names segment ${contentSeg} of ${count}`);
        [lo, hi] = word(padSeg, pad + 1);
        if ((lo & 3) === 2) throw new FramingError('a double-far landing pad has a far pointer for its tag');
      }
    }
    const type = lo & 3;
    if (type === 3) continue; // a capability: nothing to follow
    if (type === 0) {
      const data = hi & 0xffff;
      const ptrs = hi >>> 16;
      within(contentSeg, content, data + ptrs, 'struct');
      charge(data + ptrs);
      for (let i = 0; i < ptrs; i++) stack.push(contentSeg, content + data + i);
      continue;
    }
    const size = hi & 7;
    const n = hi >>> 3;
    if (size === 7) {
      // n is the elements' words; the tag before them says how many and their size.
      within(contentSeg, content, n + 1, 'list');
      const [tagLo, tagHi] = word(contentSeg, content);
      if ((tagLo & 3) !== 0)
        throw new FramingError('a list of structs has a tag that is not a struct pointer');
      const elements = tagLo >>> 2;
      const data = tagHi & 0xffff;
      const ptrs = tagHi >>> 16;
      if (elements * (data + ptrs) > n) {
        throw new FramingError(
          `a list of structs declares ${elements} elements of ${data + ptrs} words in ${n}`,
        );
      }
      charge(Math.max(n, elements));
      for (let e = 0; e < elements && ptrs > 0; e++) {
        const base = content + 1 + e * (data + ptrs) + data;
        for (let i = 0; i < ptrs; i++) stack.push(contentSeg, base + i);
      }
      continue;
    }
    const bits = [0, 1, 8, 16, 32, 64, 64][size]!;
    const words = Math.ceil((n * bits) / 64);
    within(contentSeg, content, words, 'list');
    charge(size === 0 ? n : words); // a list of Void sends nothing for any count
    if (size === 6) for (let i = 0; i < n; i++) stack.push(contentSeg, content + i);
  }
}

/** The framed bytes of a message (capnp-es writes the segment table itself). */
export function frameMessage(message: capnp.Message): Uint8Array {
  return new Uint8Array(message.toArrayBuffer());
}
