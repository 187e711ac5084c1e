/**
 * The raw-TCP floor coalesces the replies (and the client's calls) written in the same turn into
 * one write, so a batching server cannot beat it. Checked by counting the bytes per socket write,
 * never by timing: 64 calls in one chunk must leave as a handful of writes, not 64.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import { rawTcp } from '../../src/bench/reference/index.js';
import { type Calculator, calculator, calculatorContract } from '../../src/contract/index.js';

type WriteFn = (this: net.Socket, ...args: unknown[]) => unknown;
interface Counted {
  writes: number;
  bytes: number;
}

/** Counts what reaches the kernel-facing _write/_writev of sockets that match `which`. */
function spyWrites(which: (s: net.Socket) => boolean): { counted: Counted; restore(): void } {
  const proto = net.Socket.prototype as unknown as Record<'_write' | '_writev', WriteFn>;
  const write = proto._write;
  const writev = proto._writev;
  const counted: Counted = { writes: 0, bytes: 0 };
  proto._write = function (this: net.Socket, ...args: unknown[]) {
    if (which(this)) {
      counted.writes++;
      counted.bytes += (args[0] as Uint8Array).byteLength;
    }
    return write.apply(this, args);
  };
  proto._writev = function (this: net.Socket, ...args: unknown[]) {
    if (which(this)) {
      counted.writes++;
      for (const c of args[0] as { chunk: Uint8Array }[]) counted.bytes += c.chunk.byteLength;
    }
    return writev.apply(this, args);
  };
  return {
    counted,
    restore: () => {
      proto._write = write;
      proto._writev = writev;
    },
  };
}

/** 64 add requests ([u32 length][u8 method 0][i32 a][i32 b]) in one buffer. */
function addRequests(n: number): Buffer {
  const out = Buffer.alloc(n * 13);
  for (let i = 0; i < n; i++) {
    out.writeUInt32BE(9, i * 13);
    out[i * 13 + 4] = 0;
    out.writeInt32BE(i, i * 13 + 5);
    out.writeInt32BE(i, i * 13 + 9);
  }
  return out;
}

/** Sends n requests in one write and reads the n 9-byte replies; returns the sums in order. */
async function pipelined(port: number, n: number): Promise<number[]> {
  const socket = net.connect({ host: '127.0.0.1', port });
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const want = n * 9;
    const got: Buffer[] = [];
    let bytes = 0;
    const done = new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('replies did not arrive within 5 s')), 5_000);
      socket.on('data', (c: Buffer) => {
        got.push(c);
        bytes += c.length;
        if (bytes >= want) {
          clearTimeout(timer);
          resolve(Buffer.concat(got));
        }
      });
    });
    socket.write(addRequests(n));
    const all = await done;
    assert.equal(all.length, want);
    return Array.from({ length: n }, (_, i) => {
      assert.equal(all.readUInt32BE(i * 9), 5);
      assert.equal(all[i * 9 + 4], 0, 'status OK');
      return all.readInt32BE(i * 9 + 5);
    });
  } finally {
    socket.destroy();
  }
}

const N = 64;
const expected = Array.from({ length: N }, (_, i) => 2 * i);
// Loopback may split one 832-byte write into a few reads; each read's replies are one write.
const MAX_WRITES = 4;

describe('raw-tcp floor coalesces writes', () => {
  for (const mode of ['synchronous', 'asynchronous'] as const) {
    it(`answers 64 pipelined ${mode} calls with a few writes, not one per reply`, async () => {
      const impl: Calculator =
        mode === 'synchronous'
          ? calculator
          : { ...calculator, add: (a: number, b: number) => Promise.resolve(a + b) };
      const server = await rawTcp.serve(calculatorContract, impl, { port: 0 });
      const spy = spyWrites((s) => s.localPort === server.port);
      try {
        assert.deepEqual(await pipelined(server.port, N), expected);
        assert.equal(spy.counted.bytes, N * 9);
        assert.ok(
          spy.counted.writes <= MAX_WRITES,
          `${spy.counted.writes} writes, ${spy.counted.bytes / spy.counted.writes} bytes per write`,
        );
      } finally {
        spy.restore();
        await server.close();
      }
    });
  }

  it("sends the client's calls made in the same turn behind a first one in one write", async () => {
    const server = await rawTcp.serve(calculatorContract, calculator, { port: 0 });
    const client = await rawTcp.connect(calculatorContract, { port: server.port, timeoutMs: 5_000 });
    const spy = spyWrites((s) => s.remotePort === server.port);
    try {
      const sums = await Promise.all(Array.from({ length: N }, (_, i) => client.add(i, i)));
      assert.deepEqual(sums, expected);
      assert.equal(spy.counted.bytes, N * 13);
      // The first call, alone on the wire, leaves at once; the 63 made behind it go together.
      assert.equal(spy.counted.writes, 2, 'the first call, then the other 63 together');
    } finally {
      spy.restore();
      await client.close();
      await server.close();
    }
  });
});
