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
      for (const n of [65_536, 1 << 20, 17, 1 << 20]) {
        const data = body(n, n & 0xff);
        const [a, b] = await Promise.all([client.echo(data), client.echo(data)]);
        assert.deepEqual(Buffer.from(a), data);
        assert.deepEqual(Buffer.from(b), data);
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
