/**
 * rpyc's Channel framing (rpyc/core/channel.py): a 5-byte header (u32 big-endian payload
 * length, u8 "compressed" flag), the payload, then one "\n" that is not counted in the length
 * (rpyc adds it so line-buffered layers flush). Compressed payloads are zlib streams.
 */
import zlib from 'node:zlib';
import { MessageTooLargeError, ProtocolError } from '../../contract/errors.js';
import { estimatedDeflatedSize } from './compressibility.js';
import { COMPRESSION_LEVEL, COMPRESSION_THRESHOLD } from './consts.js';

const HEADER = 5;
const FLUSHER = 0x0a;

/**
 * The sender's compression choice; the flag is per frame, so a receiver (rpyc's Channel, or ours)
 * reads either whatever the peer chose:
 * - `true`: every payload over 3000 bytes, as rpyc's own sender does;
 * - `false`: never;
 * - `'auto'` (our default): only where it pays. Payloads over the threshold are sampled (their
 *   first 4 KiB judged by a model of deflate, compressibility.ts, which costs ~5 µs where
 *   deflating them cost 30-60) and compressed only when the sample would shrink by at least
 *   10% at rpyc's level 1; payloads of 4 KiB or less are deflated and judged whole. Random or already-compressed bytes (a 1 MiB echo of them cost 25 ms of server
 *   CPU per call to deflate for nothing) go out as they are; text and zeros still shrink.
 */
export type Compression = boolean | 'auto';

/** Bytes of a payload deflated to judge whether compressing the whole pays. */
export const COMPRESSION_SAMPLE_BYTES = 4096;
/** Compressing pays when the sample shrinks to at most this fraction of its size. */
export const COMPRESSION_PAYS_RATIO = 0.9;

const deflate = (bytes: Uint8Array) => zlib.deflateSync(bytes, { level: COMPRESSION_LEVEL });

/** The compressed body to send instead of `payload`, or undefined to send it as it is. */
export function compressedBody(payload: Uint8Array, compress: Compression): Buffer | undefined {
  if (compress === false || payload.length <= COMPRESSION_THRESHOLD) return undefined;
  if (compress === true) return deflate(payload);
  if (payload.length <= COMPRESSION_SAMPLE_BYTES) {
    const whole = deflate(payload);
    return whole.length <= payload.length * COMPRESSION_PAYS_RATIO ? whole : undefined;
  }
  if (!samplePays(payload.subarray(0, COMPRESSION_SAMPLE_BYTES))) return undefined;
  const whole = deflate(payload);
  // The sample can mislead (a compressible head on random bytes): never send a larger frame.
  return whole.length < payload.length ? whole : undefined;
}

/** Builds one frame; `compress` is the sender's choice (see Compression). */
export function encodeFrame(payload: Uint8Array, compress: Compression = true): Buffer[] {
  let body = payload;
  let compressed = 0;
  const deflated = compressedBody(payload, compress);
  if (deflated !== undefined) {
    body = deflated;
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
export function frameInPlace(buf: Buffer, compress: Compression = true): Buffer[] {
  const length = buf.length - HEADER - 1;
  const deflated = compressedBody(buf.subarray(HEADER, HEADER + length), compress);
  if (deflated !== undefined) {
    const header = Buffer.allocUnsafe(HEADER);
    header.writeUInt32BE(deflated.length, 0);
    header[4] = 1;
    return [header, deflated, Buffer.of(FLUSHER)];
  }
  buf.writeUInt32BE(length, 0);
  buf[4] = 0;
  buf[buf.length - 1] = FLUSHER;
  return [buf];
}

/**
 * frameInPlace() for a payload in parts (brine's dumpFramedParts): the first part starts with
 * 5 spare bytes, the last ends with 1. Left uncompressed, the parts are the frame, written as
 * they are; a payload that compression pays for is joined and compressed whole.
 */
export function framePartsInPlace(parts: readonly Buffer[], compress: Compression = true): Buffer[] {
  if (parts.length === 1) return frameInPlace(parts[0]!, compress);
  let total = 0;
  for (const p of parts) total += p.length;
  const length = total - HEADER - 1;
  if (compress !== false && length > COMPRESSION_THRESHOLD) {
    const pays =
      compress === true ||
      length <= COMPRESSION_SAMPLE_BYTES ||
      samplePays(payloadHead(parts, COMPRESSION_SAMPLE_BYTES));
    if (pays) return frameInPlace(Buffer.concat(parts, total), compress);
  }
  const first = parts[0]!;
  const last = parts[parts.length - 1]!;
  first.writeUInt32BE(length, 0);
  first[4] = 0;
  last[last.length - 1] = FLUSHER;
  return parts as Buffer[];
}

/** The first `n` payload bytes of a frame in parts (past the 5-byte header). */
function payloadHead(parts: readonly Buffer[], n: number): Buffer {
  const out = Buffer.allocUnsafe(n);
  let skip = HEADER;
  let at = 0;
  for (const p of parts) {
    if (at >= n) break;
    if (skip >= p.length) {
      skip -= p.length;
      continue;
    }
    at += p.copy(out, at, skip, Math.min(p.length, skip + n - at));
    skip = 0;
  }
  return out.subarray(0, at);
}

/** Whether a payload whose first bytes are `sample` is worth compressing ('auto'). */
function samplePays(sample: Uint8Array): boolean {
  return estimatedDeflatedSize(sample) <= sample.length * COMPRESSION_PAYS_RATIO;
}

/** A frame over the size limit, skipped without being buffered; `head` starts its payload. */
export interface OversizedFrame {
  /** Its announced length, or for a compressed frame that inflates past the limit, the limit + 1. */
  readonly size: number;
  /** The first bytes of its (inflated) payload, enough to read the message's seq; may be empty. */
  readonly head: Buffer;
}

/** Bytes kept from the start of an oversized frame to find its seq. */
const HEAD_BYTES = 64;
/** Compressed bytes kept for the same purpose. */
const COMPRESSED_HEAD_BYTES = 256;
/**
 * Frames announcing more than this many times the limit are not read past: no rpyc peer sends
 * them by mistake, and reading gigabytes to answer one message is not worth it.
 */
const SKIP_FACTOR = 4;
/**
 * Chunks smaller than this, arriving while more than STAGE_AFTER chunks are already buffered,
 * are copied into a staging buffer of STAGING_BYTES instead of being kept one Buffer each: a
 * Buffer costs ~100 bytes beyond its data, so a peer trickling a frame one byte per TCP segment
 * would make a 16 MiB frame hold gigabytes. Ordinary traffic (a frame in a few chunks) is not
 * copied, and the staging buffer is let go once nothing is buffered, so idle connections keep none.
 */
const SMALL_CHUNK = 4096;
const STAGE_AFTER = 16;
const STAGING_BYTES = 64 * 1024;

/** The start of a payload: a compressed one inflated from its first bytes only (bounded output). */
function headOf(bytes: Buffer, compressed: boolean): Buffer {
  if (!compressed) return bytes.subarray(0, HEAD_BYTES);
  try {
    // Sync-flush finishing: a truncated stream gives what it has instead of failing. 256 input
    // bytes cannot inflate to more than ~260 KB.
    const out = zlib.inflateSync(bytes.subarray(0, COMPRESSED_HEAD_BYTES), {
      finishFlush: zlib.constants.Z_SYNC_FLUSH,
    });
    return out.subarray(0, HEAD_BYTES);
  } catch {
    return Buffer.alloc(0);
  }
}

/**
 * Splits a byte stream into payloads. A frame announcing more than `maxBytes` is never
 * buffered: without `onOversized` it throws (the caller closes the connection); with it, the
 * frame is reported as soon as its first bytes are in (so the caller can answer that one
 * message) and read past, and the connection goes on. A compressed frame inflating past the
 * limit is reported alike. Frames announcing more than 4 times the limit always throw.
 */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** Where small chunks are copied (see SMALL_CHUNK), and how much of it is written. */
  private staging: Buffer | undefined;
  private stagingUsed = 0;
  /** An oversized frame being read past: bytes still to drop, and its head as it comes in. */
  private skip:
    | { left: number; size: number; compressed: boolean; head: Buffer[]; headLen: number; reported: boolean }
    | undefined;

  constructor(
    private readonly maxBytes: number,
    private readonly onOversized?: (frame: OversizedFrame) => void,
  ) {}

  /**
   * Feeds bytes; returns the complete payloads now available (decompressed). A bad frame throws,
   * losing the good ones before it in the same chunk: a connection uses append() and next().
   */
  push(chunk: Buffer): Buffer[] {
    this.append(chunk);
    const out: Buffer[] = [];
    for (let payload = this.next(); payload !== undefined; payload = this.next()) out.push(payload);
    return out;
  }

  /**
   * The next complete payload, or undefined until more bytes come. One at a time, as rpyc reads
   * its channel: the frames before a corrupt or oversized one are handled before it is met (a
   * pipelined request ahead of a bad frame is still answered).
   */
  next(): Buffer | undefined {
    for (;;) {
      if (this.skip !== undefined) {
        if (!this.skipSome()) return undefined;
        continue;
      }
      if (this.buffered < HEADER) return undefined;
      const head = this.peek(HEADER);
      const length = head.readUInt32BE(0);
      const flag = head[4];
      if (flag !== 0 && flag !== 1) throw new ProtocolError(`rpyc frame: bad compression flag ${flag}`);
      if (length > this.maxBytes) {
        if (this.onOversized === undefined || length > this.maxBytes * SKIP_FACTOR)
          throw new MessageTooLargeError(length, this.maxBytes);
        this.take(HEADER);
        this.skip = {
          left: length + 1,
          size: length,
          compressed: flag === 1,
          head: [],
          headLen: 0,
          reported: false,
        };
        continue;
      }
      if (this.buffered < HEADER + length + 1) return undefined;
      const frame = this.take(HEADER + length + 1);
      // rpyc drops the trailing byte without looking at it; so do we.
      const payload = frame.subarray(HEADER, HEADER + length);
      if (flag === 0) return payload;
      try {
        return zlib.inflateSync(payload, { maxOutputLength: this.maxBytes });
      } catch (err) {
        if ((err as { code?: string }).code !== 'ERR_BUFFER_TOO_LARGE')
          throw new ProtocolError(`rpyc frame: bad zlib payload (${(err as Error).message})`);
        if (this.onOversized === undefined) throw new MessageTooLargeError(this.maxBytes + 1, this.maxBytes);
        this.onOversized({ size: this.maxBytes + 1, head: headOf(payload, true) });
      }
    }
  }

  /** Buffers held for incomplete frames (a diagnostic: it stays small whatever the chunk sizes). */
  get bufferCount(): number {
    return this.chunks.length;
  }

  /** Size of the staging buffer kept for trickled frames (a diagnostic: 0 when idle). */
  get stagingBytes(): number {
    return this.staging?.length ?? 0;
  }

  /** Feeds bytes without decoding them (see next()). */
  append(chunk: Buffer): void {
    this.buffered += chunk.length;
    if (chunk.length >= SMALL_CHUNK || this.chunks.length < STAGE_AFTER) {
      this.chunks.push(chunk);
      return;
    }
    let staging = this.staging;
    if (staging === undefined || this.stagingUsed + chunk.length > staging.length) {
      staging = Buffer.allocUnsafe(STAGING_BYTES);
      this.staging = staging;
      this.stagingUsed = 0;
    }
    const at = this.stagingUsed;
    chunk.copy(staging, at);
    this.stagingUsed += chunk.length;
    // Only bytes past stagingUsed are ever written, so views handed out stay intact. When the
    // last buffered chunk ends where this one starts, it grows instead of a new one being added.
    const last = this.chunks[this.chunks.length - 1];
    if (
      last !== undefined &&
      last.buffer === staging.buffer &&
      last.byteOffset + last.length === staging.byteOffset + at
    )
      this.chunks[this.chunks.length - 1] = Buffer.from(
        last.buffer,
        last.byteOffset,
        last.length + chunk.length,
      );
    else this.chunks.push(staging.subarray(at, at + chunk.length));
  }

  /** Drops what is buffered of the frame being skipped; true once it is wholly gone. */
  private skipSome(): boolean {
    const skip = this.skip!;
    const wanted = skip.compressed ? COMPRESSED_HEAD_BYTES : HEAD_BYTES;
    while (skip.left > 0 && this.buffered > 0) {
      const first = this.chunks[0]!;
      const n = Math.min(first.length, skip.left);
      if (skip.headLen < wanted) {
        const keep = first.subarray(0, Math.min(n, wanted - skip.headLen));
        skip.head.push(Buffer.from(keep));
        skip.headLen += keep.length;
      }
      this.take(n);
      skip.left -= n;
      if (!skip.reported && (skip.headLen >= wanted || skip.left === 0)) {
        // Reported as soon as its start is known: the peer need not wait for the rest to go by.
        skip.reported = true;
        this.onOversized!({ size: skip.size, head: headOf(Buffer.concat(skip.head), skip.compressed) });
      }
    }
    if (skip.left > 0) return false;
    this.skip = undefined;
    return true;
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
    // Nothing buffered: let the staging buffer go (views handed out keep what they need alive).
    if (this.buffered === 0) this.staging = undefined;
    return joined.subarray(0, n);
  }
}
