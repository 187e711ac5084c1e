/**
 * The raw-TCP floor's frame reader: whole bodies come out intact however the stream is cut, a
 * bulk body is read in place (the buffer handed out is the one the reads filled, so nothing
 * copied it), and an oversized header is refused before anything is allocated for it.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import { DIRECT_READ_BYTES, FRAME_HEADER_BYTES, FrameReader } from '../../src/bench/reference/frames.js';
import { rawTcp } from '../../src/bench/reference/index.js';
import { calculator, calculatorContract } from '../../src/contract/index.js';

function frame(body: Buffer): Buffer {
  const head = Buffer.alloc(FRAME_HEADER_BYTES);
  head.writeUInt32BE(body.length, 0);
  return Buffer.concat([head, body]);
}

function body(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

/** Small, bulk, empty and small-after-bulk frames, so every branch of the reader is crossed. */
const bodies = [
  body(9, 1),
  body(70_000, 2),
  body(0, 3),
  body(13, 4),
  body(DIRECT_READ_BYTES, 5),
  body(300_000, 6),
  body(70_000, 8),
  body(5, 7),
];
const stream = Buffer.concat(bodies.map(frame));

/** Deterministic pseudo-random read sizes, like a socket's. */
function* sizes(seed: number): Generator<number> {
  let x = seed;
  for (;;) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    yield 1 + (x % 90_000);
  }
}

describe('raw-TCP floor frame reader', () => {
  it('returns every body intact for chunks cut anywhere (push)', () => {
    for (let seed = 1; seed <= 40; seed++) {
      const reader = new FrameReader(1 << 20);
      const out: Buffer[] = [];
      const cut = sizes(seed);
      for (let at = 0; at < stream.length; ) {
        const n = Math.min(cut.next().value, stream.length - at);
        out.push(...reader.push(stream.subarray(at, at + n)));
        at += n;
      }
      assert.deepEqual(out, bodies, `seed ${seed}`);
    }
  });

  it('reads a bulk body in place through readTarget/filled, and the header after it alone', () => {
    let headerOnly = 0;
    for (let seed = 1; seed <= 40; seed++) {
      const reader = new FrameReader(1 << 20);
      const out: Buffer[] = [];
      const targets: Buffer[] = [];
      const cut = sizes(seed);
      for (let at = 0; at < stream.length; ) {
        const target = reader.readTarget();
        targets.push(target);
        // A socket read fills at most the target, and at most what the peer has sent.
        const n = Math.min(cut.next().value, target.length, stream.length - at);
        stream.copy(target, 0, at, at + n);
        out.push(...reader.filled(target, n));
        at += n;
      }
      assert.deepEqual(out, bodies, `seed ${seed}`);
      // A bulk body after a bulk one is read in place: some read landed in its own memory.
      out.forEach((b, i) => {
        if (i === 0 || b.length < DIRECT_READ_BYTES || out[i - 1]!.length < DIRECT_READ_BYTES) return;
        const inPlace = targets.some(
          (t) =>
            t.buffer === b.buffer && t.byteOffset >= b.byteOffset && t.byteOffset < b.byteOffset + b.length,
        );
        assert.ok(inPlace, `seed ${seed}: the ${b.length}-byte body ${i} was not read in place`);
      });
      headerOnly += targets.filter((t) => t.length === FRAME_HEADER_BYTES).length;
    }
    // After a bulk body completed by in-place reads, the next read asks for a header's worth only.
    assert.ok(headerOnly > 0);
  });

  it('reads the next bulk body into a released one, never into one still held', () => {
    const reader = new FrameReader(1 << 20);
    /** Feeds a frame in 1000-byte reads through readTarget/filled; returns the bodies completed. */
    const feed = (b: Buffer): Buffer[] => {
      const bytes = frame(b);
      const out: Buffer[] = [];
      for (let at = 0; at < bytes.length; ) {
        const target = reader.readTarget();
        const n = Math.min(1000, target.length, bytes.length - at);
        bytes.copy(target, 0, at, at + n);
        out.push(...reader.filled(target, n));
        at += n;
      }
      return out;
    };
    const [first] = feed(body(100_000, 5));
    const [second] = feed(body(100_000, 6));
    assert.ok(first !== undefined && second !== undefined);
    assert.notEqual(second.buffer, first.buffer, 'a body still held is not read into');
    assert.deepEqual(first, body(100_000, 5));
    reader.release(first);
    reader.release(first); // twice: still handed out only once
    const [third] = feed(body(90_000, 7));
    assert.equal(third!.buffer, first.buffer, 'the released memory is reused');
    assert.deepEqual(third, body(90_000, 7));
    const [fourth] = feed(body(90_000, 8));
    assert.notEqual(fourth!.buffer, first.buffer, 'released once, reused once');
    assert.deepEqual(second, body(100_000, 6), 'the held body was not touched');
    // Too small to be worth holding a 100 KB buffer for: fresh memory.
    reader.release(second);
    const [small] = feed(body(20_000, 9));
    assert.notEqual(small!.buffer, second.buffer);
    // Views of the shared slab are not the reader's to reuse.
    const [tiny] = feed(body(10, 10));
    reader.release(tiny!);
    assert.deepEqual(feed(body(10, 11)), [body(10, 11)]);
  });

  it('refuses a header over the limit at once', () => {
    const reader = new FrameReader(1000);
    const head = Buffer.alloc(FRAME_HEADER_BYTES);
    head.writeUInt32BE(0xffff_ffff, 0);
    assert.throws(() => reader.push(head), /exceeds the limit of 1000/);
  });

  it('echoes 64 KiB and 1 MiB over the floor byte for byte, and survives an oversized frame', async () => {
    const server = await rawTcp.serve(calculatorContract, calculator, { port: 0, maxMessageBytes: 2 << 20 });
    try {
      const client = await rawTcp.connect(calculatorContract, { port: server.port, timeoutMs: 10_000 });
      // Different bytes in every call, several in flight: the server reads later bodies into the
      // memory of earlier ones once their replies are written, and a reply must never see that.
      for (const [i, n] of [65_536, 1 << 20, 17, 1 << 20, 1 << 20, 100_000].entries()) {
        const data = [0, 1, 2].map((k) => body(n, i * 3 + k));
        const replies = await Promise.all(data.map((d) => client.echo(d)));
        for (const [k, r] of replies.entries()) assert.deepEqual(Buffer.from(r), data[k], `call ${i}.${k}`);
      }
      await client.close();
      const hostile = net.connect(server.port, '127.0.0.1');
      const closed = new Promise<void>((resolve) => hostile.on('close', () => resolve()));
      hostile.on('error', () => undefined);
      hostile.write(Buffer.from([0xff, 0xff, 0xff, 0xff, 0]));
      await closed;
      const next = await rawTcp.connect(calculatorContract, { port: server.port, timeoutMs: 10_000 });
      assert.equal(await next.add(3, 4), 7);
      await next.close();
    } finally {
      await server.close();
    }
  });
});
