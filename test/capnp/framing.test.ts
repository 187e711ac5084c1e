/**
 * FrameReader hands frames that lie inside one chunk to the fast path as views of that chunk,
 * not copies. Checked here: the views hold exactly each frame's bytes however the stream is cut,
 * ownFrame gives capnp-es an ArrayBuffer of the frame alone, and the assumption that makes the
 * views safe holds: each chunk a socket delivers is an ArrayBuffer of its own.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import * as capnp from 'capnp-es';
import * as rpc from 'capnp-es/capnp/rpc';
import { FrameReader, frameMessage, messageFromFrame, ownFrame } from '../../src/protocols/capnp/framing.js';

function finishFrame(questionId: number): Uint8Array {
  const m = new capnp.Message();
  m.initRoot(rpc.Message)._initFinish().questionId = questionId;
  return frameMessage(m);
}

describe('capnp FrameReader views', () => {
  const frames = [1, 2, 3, 4, 5].map(finishFrame);
  const stream = Buffer.concat(frames);
  const boundaries = new Set(frames.map((_, i) => frames.slice(0, i).reduce((n, f) => n + f.length, 0)));
  boundaries.add(stream.length);

  it('returns each frame of a chunk as a view of it, and copies one split across chunks', () => {
    for (let cut = 0; cut <= stream.length; cut++) {
      const reader = new FrameReader({ maxMessageBytes: 1 << 20 });
      // Buffer.alloc, not Buffer.from: small Buffer.from copies share Node's pool.
      const a = Buffer.alloc(cut);
      stream.copy(a, 0, 0, cut);
      const b = Buffer.alloc(stream.length - cut);
      stream.copy(b, 0, cut);
      const got = [...reader.pushViews(a), ...reader.pushViews(b)];
      assert.equal(got.length, frames.length, `cut at ${cut}`);
      got.forEach((view, i) => {
        assert.deepEqual(Buffer.from(view), Buffer.from(frames[i]!), `frame ${i}, cut at ${cut}`);
        // Cut between frames: each is a view of the chunk it came in, nothing copied.
        if (boundaries.has(cut)) {
          const start = frames.slice(0, i).reduce((n, f) => n + f.length, 0);
          assert.equal(view.buffer, (start < cut ? a : b).buffer, `frame ${i}, cut at ${cut}`);
        }
        const root = messageFromFrame(ownFrame(view), 1 << 20).getRoot(rpc.Message);
        assert.equal(root.finish.questionId, i + 1);
      });
    }
  });

  it('ownFrame copies a view out of a larger buffer and keeps a whole one', () => {
    const whole = new Uint8Array(frames[0]!);
    assert.equal(ownFrame(whole), whole.buffer);
    const inside = new Uint8Array(stream.buffer, stream.byteOffset + frames[0]!.length, frames[1]!.length);
    const owned = ownFrame(inside);
    assert.notEqual(owned, stream.buffer);
    assert.deepEqual(new Uint8Array(owned), frames[1]);
  });

  it('each chunk a socket delivers owns its ArrayBuffer (what makes the views safe)', async () => {
    const chunks: Buffer[] = [];
    const server = net.createServer((s) => s.on('data', (c: Buffer) => chunks.push(c)));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as net.AddressInfo;
    const client = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve) => client.once('connect', resolve));
    let received = 0;
    for (const size of [10, 300_000, 70, 5]) {
      client.write(Buffer.alloc(size, 7));
      received += size;
      while (chunks.reduce((n, c) => n + c.length, 0) < received) await new Promise((r) => setTimeout(r, 5));
    }
    client.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    assert.ok(chunks.length >= 4);
    const buffers = new Set<ArrayBufferLike>();
    for (const c of chunks) {
      assert.equal(c.byteOffset, 0);
      assert.equal(c.buffer.byteLength, c.length);
      assert.ok(!buffers.has(c.buffer), 'two chunks share an ArrayBuffer');
      buffers.add(c.buffer);
    }
  });
});
