/**
 * Turns a TCP byte stream into complete, validated Thrift messages, for both transports:
 * - framed: a 4-byte big-endian size, then exactly one message (TFramedTransport);
 * - buffered: messages back to back with no delimiter (TBufferedTransport), so the end of a
 *   message is only known by walking it (scan.ts).
 * Sizes are checked before bytes are kept: a frame or declared length beyond the limit, or a
 * negative one, fails at once instead of making the reader wait for (and buffer) that much.
 */
import { MessageTooLargeError, ProtocolError } from '../../contract/errors.js';
import type { Encoding } from './library.js';
import { type MessageScanner, messageScanner, scanMessage } from './scan.js';

export interface Variant {
  readonly encoding: Encoding;
  readonly framed: boolean;
}

export const VARIANTS = ['binary-buffered', 'binary-framed', 'compact-buffered', 'compact-framed'] as const;
export type VariantName = (typeof VARIANTS)[number];

export function parseVariant(name: VariantName): Variant {
  const [encoding, transport] = name.split('-') as [Encoding, string];
  return { encoding, framed: transport === 'framed' };
}

const FRAME_HEADER = 4;

export class MessageReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** Bytes needed before another attempt can succeed (avoids rescanning on every chunk). */
  private needAtLeast = 1;
  /** Buffered transport: the walk of the message being received, resumed as bytes arrive. */
  private scanner: MessageScanner | undefined;

  constructor(
    private readonly variant: Variant,
    private readonly maxBytes: number,
  ) {}

  /** Bytes received that do not yet form a complete message. */
  get pendingBytes(): number {
    return this.buffered;
  }

  /**
   * Adds received bytes and returns every message they complete (payload only, without the
   * frame header). Throws ProtocolError or MessageTooLargeError; the caller then drops the
   * connection, since a byte stream cannot be resynchronised after bad input.
   */
  push(chunk: Buffer): Buffer[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const out: Buffer[] = [];
    while (this.buffered >= this.needAtLeast) {
      const message = this.variant.framed ? this.nextFrame() : this.nextBuffered();
      if (message === undefined) break;
      out.push(message);
    }
    return out;
  }

  private contiguous(): Buffer {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks, this.buffered)];
    return this.chunks[0]!;
  }

  /** Consumes `length` bytes; the returned view is never written to again. */
  private consume(buf: Buffer, length: number): void {
    const rest = buf.subarray(length);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.buffered = rest.length;
    this.needAtLeast = 1;
    this.scanner = undefined;
  }

  private nextFrame(): Buffer | undefined {
    if (this.buffered < FRAME_HEADER) {
      this.needAtLeast = FRAME_HEADER;
      return undefined;
    }
    const head = this.contiguous();
    const size = head.readInt32BE(0);
    if (size < 0) throw new ProtocolError(`negative frame size ${size}`);
    if (size > this.maxBytes) throw new MessageTooLargeError(size, this.maxBytes);
    if (size === 0) throw new ProtocolError('empty frame');
    if (this.buffered < FRAME_HEADER + size) {
      // Check what has arrived so far: garbage or a hostile length fails before the frame fills.
      const partial = scanMessage(this.variant.encoding, head, size, FRAME_HEADER, head.length);
      if (partial.complete) throw new ProtocolError('frame holds more than one message');
      this.needAtLeast = FRAME_HEADER + size;
      return undefined;
    }
    const frame = head.subarray(FRAME_HEADER, FRAME_HEADER + size);
    const scanned = scanMessage(this.variant.encoding, frame, size);
    if (!scanned.complete) throw new ProtocolError(`frame of ${size} bytes ends inside its message`);
    if (scanned.length !== size)
      throw new ProtocolError(`frame of ${size} bytes holds more than one message`);
    this.consume(head, FRAME_HEADER + size);
    return frame;
  }

  private nextBuffered(): Buffer | undefined {
    const buf = this.contiguous();
    // Resumed, not restarted: each byte of a message arriving in many chunks is walked once.
    this.scanner ??= messageScanner(this.variant.encoding, buf, this.maxBytes);
    const scanned = this.scanner.run(buf);
    if (!scanned.complete) {
      this.needAtLeast = scanned.needAtLeast;
      return undefined;
    }
    const message = buf.subarray(0, scanned.length);
    this.consume(buf, scanned.length);
    return message;
  }
}
