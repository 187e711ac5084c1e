/**
 * Length-prefixed frames ([u32 big-endian length][body]) read off a byte stream. The raw-TCP
 * floor uses it; it is the least framing any request/response protocol over TCP needs.
 */
export const FRAME_HEADER_BYTES = 4;

/** Collects chunks and hands out whole frame bodies; concatenates once per frame, not per chunk. */
export class FrameReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private need = -1;

  constructor(private readonly maxFrameBytes: number) {}

  /** Adds a chunk and returns the bodies it completed; throws on a frame over the limit. */
  push(chunk: Buffer): Buffer[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const out: Buffer[] = [];
    for (;;) {
      if (this.need < 0) {
        if (this.buffered < FRAME_HEADER_BYTES) break;
        const head = this.take(FRAME_HEADER_BYTES);
        this.need = head.readUInt32BE(0);
        if (this.need > this.maxFrameBytes) {
          throw new RangeError(`frame of ${this.need} bytes exceeds the limit of ${this.maxFrameBytes}`);
        }
      }
      if (this.buffered < this.need) break;
      out.push(this.take(this.need));
      this.need = -1;
    }
    return out;
  }

  private take(n: number): Buffer {
    const first = this.chunks[0];
    if (first !== undefined && first.length >= n) {
      // Common case: the frame sits inside one chunk, so slice without copying.
      const head = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      this.buffered -= n;
      return head;
    }
    const all = Buffer.concat(this.chunks, this.buffered);
    const head = all.subarray(0, n);
    const rest = all.subarray(n);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.buffered = rest.length;
    return head;
  }
}
