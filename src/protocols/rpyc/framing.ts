/**
 * rpyc's Channel framing (rpyc/core/channel.py): a 5-byte header (u32 big-endian payload
 * length, u8 "compressed" flag), the payload, then one "\n" that is not counted in the length
 * (rpyc adds it so line-buffered layers flush). Compressed payloads are zlib streams.
 */
import zlib from 'node:zlib';
import { MessageTooLargeError, ProtocolError } from '../../contract/errors.js';
import { COMPRESSION_LEVEL, COMPRESSION_THRESHOLD } from './consts.js';

const HEADER = 5;
const FLUSHER = 0x0a;

/** Builds one frame; payloads above the threshold are compressed, as rpyc's sender does. */
export function encodeFrame(payload: Uint8Array, compress = true): Buffer[] {
  let body = payload;
  let compressed = 0;
  if (compress && payload.length > COMPRESSION_THRESHOLD) {
    body = zlib.deflateSync(payload, { level: COMPRESSION_LEVEL });
    compressed = 1;
  }
  const header = Buffer.allocUnsafe(HEADER);
  header.writeUInt32BE(body.length, 0);
  header[4] = compressed;
  return [
    header,
    body instanceof Buffer ? body : Buffer.from(body.buffer, body.byteOffset, body.length),
    Buffer.of(FLUSHER),
  ];
}

/**
 * Turns a buffer laid out as [5 spare bytes][payload][1 spare byte] into one frame in place
 * (one write, no copy) when it stays uncompressed; compressed payloads get new buffers.
 */
export function frameInPlace(buf: Buffer, compress = true): Buffer[] {
  const length = buf.length - HEADER - 1;
  if (compress && length > COMPRESSION_THRESHOLD)
    return encodeFrame(buf.subarray(HEADER, HEADER + length), true);
  buf.writeUInt32BE(length, 0);
  buf[4] = 0;
  buf[buf.length - 1] = FLUSHER;
  return [buf];
}

/**
 * Splits a byte stream into payloads. A frame announcing more than `maxBytes` (or inflating
 * past it) throws before it is buffered; the connection is then closed by the caller.
 */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;

  constructor(private readonly maxBytes: number) {}

  /** Feeds bytes; returns the complete payloads now available (decompressed). */
  push(chunk: Buffer): Buffer[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const out: Buffer[] = [];
    for (;;) {
      if (this.buffered < HEADER) break;
      const head = this.peek(HEADER);
      const length = head.readUInt32BE(0);
      const flag = head[4];
      if (length > this.maxBytes) throw new MessageTooLargeError(length, this.maxBytes);
      if (flag !== 0 && flag !== 1) throw new ProtocolError(`rpyc frame: bad compression flag ${flag}`);
      if (this.buffered < HEADER + length + 1) break;
      const frame = this.take(HEADER + length + 1);
      // rpyc drops the trailing byte without looking at it; so do we.
      let payload = frame.subarray(HEADER, HEADER + length);
      if (flag === 1) {
        try {
          payload = zlib.inflateSync(payload, { maxOutputLength: this.maxBytes });
        } catch (err) {
          if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE')
            throw new MessageTooLargeError(this.maxBytes + 1, this.maxBytes);
          throw new ProtocolError(`rpyc frame: bad zlib payload (${(err as Error).message})`);
        }
      }
      out.push(payload);
    }
    return out;
  }

  private peek(n: number): Buffer {
    const first = this.chunks[0]!;
    if (first.length >= n) return first;
    const joined = Buffer.concat(this.chunks);
    this.chunks = [joined];
    return joined;
  }

  private take(n: number): Buffer {
    const joined = this.peek(n);
    this.chunks[0] = joined.subarray(n);
    if (this.chunks[0].length === 0) this.chunks.shift();
    this.buffered -= n;
    return joined.subarray(0, n);
  }
}
