/**
 * Length-prefixed frames ([u32 big-endian length][body]) read off a byte stream. The raw-TCP
 * floor uses it; it is the least framing any request/response protocol over TCP needs.
 */
export const FRAME_HEADER_BYTES = 4;

/** Released bulk bodies kept for reuse per connection (one per call in flight is the most used). */
const MAX_SPARE_BODIES = 4;
/** A body at least this long is read straight into its own buffer (see FrameReader.readTarget). */
export const DIRECT_READ_BYTES = 16 * 1024;
/** Size of the slab ordinary socket reads are carved from (node:net reads 64 KiB at most too). */
const SLAB_BYTES = 64 * 1024;
/** A slab with less room than this left is replaced rather than read into. */
const MIN_READ_BYTES = 4 * 1024;

/**
 * Hands out whole frame bodies. Fed chunks (push), a body inside one chunk is a view of it and
 * a body spread over chunks is copied into a buffer of its declared size as each piece arrives.
 * Driving the socket's reads (readTarget/filled, node:net's onread) it does better: a bulk body
 * is read straight into that buffer and never copied. Joining a 64 KiB body's chunks after its
 * last one had arrived was 40% of the floor server's CPU in a 64 KiB echo, and the floor lost
 * bulk-byte scenarios to the rows it is meant to bound.
 */
export class FrameReader {
  /** Header bytes of a header split across chunks. */
  private readonly head = Buffer.alloc(FRAME_HEADER_BYTES);
  private headHave = 0;
  /** The body being assembled (declared length known), and how much of it has arrived. */
  private body: Buffer | null = null;
  private bodyHave = 0;
  /** The last frame completed was a bulk one, so the next read takes only its successor's header. */
  private lastBulk = false;
  /** Ordinary reads land in the unused tail of this slab; what they filled is never reused. */
  private slab = Buffer.alloc(0);
  private slabUsed = 0;
  /** Bulk bodies handed back by release(), whole, for the next bulk bodies to be read into. */
  private spare: Buffer[] = [];
  /** Memory of the bulk bodies handed out and not yet released. */
  private readonly handedOut = new WeakSet<ArrayBufferLike>();

  constructor(private readonly maxFrameBytes: number) {}

  /** Adds a chunk and returns the bodies it completed; throws on a frame over the limit. */
  push(chunk: Buffer): Buffer[] {
    const out: Buffer[] = [];
    let at = 0;
    const end = chunk.length;
    while (at < end) {
      if (this.body !== null) {
        const n = Math.min(this.body.length - this.bodyHave, end - at);
        chunk.copy(this.body, this.bodyHave, at, at + n);
        this.bodyHave += n;
        at += n;
        if (this.bodyHave === this.body.length) this.complete(out);
        continue;
      }
      let need: number;
      if (this.headHave === 0 && end - at >= FRAME_HEADER_BYTES) {
        need = chunk.readUInt32BE(at);
        at += FRAME_HEADER_BYTES;
      } else {
        const n = Math.min(FRAME_HEADER_BYTES - this.headHave, end - at);
        chunk.copy(this.head, this.headHave, at, at + n);
        this.headHave += n;
        at += n;
        if (this.headHave < FRAME_HEADER_BYTES) break;
        this.headHave = 0;
        need = this.head.readUInt32BE(0);
      }
      if (need > this.maxFrameBytes) {
        throw new RangeError(`frame of ${need} bytes exceeds the limit of ${this.maxFrameBytes}`);
      }
      if (end - at >= need) {
        // Common case: the whole body sits in this chunk, so slice without copying.
        out.push(chunk.subarray(at, at + need));
        this.lastBulk = need >= DIRECT_READ_BYTES;
        at += need;
      } else {
        this.body = need >= DIRECT_READ_BYTES ? this.bulkBody(need) : Buffer.allocUnsafe(need);
        this.bodyHave = 0;
      }
    }
    return out;
  }

  /**
   * Where the next socket read should land, for node:net's `onread.buffer`:
   * - the unfilled part of a bulk body being assembled, so the kernel copies its bytes into
   *   place and nothing copies them again (exactly that part, so the next read starts at a frame
   *   boundary);
   * - after a bulk frame, room for a header only, so the body that follows is read in place too
   *   (one small read per bulk frame);
   * - else the unused tail of a 64 KiB slab, whose frames are handed out as views. A filled part
   *   is never read into again (bodies handed out may be views of it, alive until their replies
   *   are written), and a slab is shared by successive reads, so a 20-byte read does not cost a
   *   64 KiB allocation: allocating one per read, as a first version did, made the client's
   *   process collect garbage so often that the floor's add-16 fell to a quarter of its calls/s.
   */
  readTarget(): Buffer {
    const body = this.body;
    if (body !== null && body.length >= DIRECT_READ_BYTES) return body.subarray(this.bodyHave);
    if (this.slab.length - this.slabUsed < MIN_READ_BYTES) {
      this.slab = Buffer.allocUnsafe(SLAB_BYTES);
      this.slabUsed = 0;
    }
    const headerOnly = body === null && this.headHave === 0 && this.lastBulk;
    return this.slab.subarray(
      this.slabUsed,
      headerOnly ? this.slabUsed + FRAME_HEADER_BYTES : this.slab.length,
    );
  }

  /** A read into the last readTarget() filled its first n bytes; returns the bodies it completed. */
  filled(target: Buffer, n: number): Buffer[] {
    const body = this.body;
    if (body === null || target.buffer !== body.buffer) {
      this.slabUsed += n;
      return this.push(target.subarray(0, n));
    }
    // The read landed in the body itself.
    this.bodyHave += n;
    const out: Buffer[] = [];
    if (this.bodyHave === body.length) this.complete(out);
    return out;
  }

  /**
   * Hands back a body this reader completed, once nothing uses it any more (its reply has been
   * written): the next bulk body of a fitting size is read into the same memory. Fresh memory
   * for every 1 MiB body cost the floor's server ~115 page faults per call, and made it dearer
   * than a server that copies each body once into memory the allocator reuses (msgpack-rpc's).
   * Bodies that are views of a shared slab, or not this reader's, are ignored.
   */
  release(body: Buffer): void {
    const memory = body.buffer;
    if (!this.handedOut.has(memory)) return;
    this.handedOut.delete(memory);
    if (this.spare.length < MAX_SPARE_BODIES) this.spare.push(Buffer.from(memory, 0, memory.byteLength));
  }

  /** Memory for a bulk body of `need` bytes: a released body's if one fits, else fresh. */
  private bulkBody(need: number): Buffer {
    const at = this.spare.findIndex((b) => b.length >= need && b.length <= 2 * need);
    const whole = at >= 0 ? this.spare.splice(at, 1)[0]! : Buffer.allocUnsafe(need);
    this.handedOut.add(whole.buffer);
    return whole.subarray(0, need);
  }

  private complete(out: Buffer[]): void {
    const body = this.body as Buffer;
    out.push(body);
    this.lastBulk = body.length >= DIRECT_READ_BYTES;
    this.body = null;
  }
}
