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
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const out: ArrayBuffer[] = [];
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
      out.push(this.take(this.frameBytes));
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

/** A message over a frame FrameReader has measured, with the traversal limit applied. */
export function messageFromFrame(frame: ArrayBuffer, maxMessageBytes: number): capnp.Message {
  const message = new capnp.Message(frame, false);
  // capnp-es counts the traversal limit down in bytes as pointers are followed: a message can
  // be read about once over, not amplified by pointers that share their targets.
  message._capnp.traversalLimit = Math.max(maxMessageBytes, 64 * 1024);
  return message;
}

/** The framed bytes of a message (capnp-es writes the segment table itself). */
export function frameMessage(message: capnp.Message): Uint8Array {
  return new Uint8Array(message.toArrayBuffer());
}
