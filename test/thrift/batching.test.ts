/**
 * Replies (server) and calls (client) that become ready in the same tick leave in one socket
 * write, not one each: counted by a spy on the socket's low-level write methods, so the test
 * needs no timing. Order and content of the replies are checked alongside.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, afterEach, before, describe, it } from 'node:test';
import { calculator, calculatorContract } from '../../src/contract/index.js';
import { thrift } from '../../src/protocols/thrift/index.js';
import type { RunningServer } from '../../src/protocols/types.js';
import { binaryAdd } from './raw.js';

type WriteFn = (this: net.Socket, ...args: unknown[]) => unknown;
const proto = net.Socket.prototype as unknown as { _write: WriteFn; _writev: WriteFn };
const original = { _write: proto._write, _writev: proto._writev };

/** Counts the low-level writes (each one syscall's worth) of the sockets `pick` selects. */
function spyWrites(pick: (socket: net.Socket) => boolean): { count: number } {
  const counter = { count: 0 };
  for (const name of ['_write', '_writev'] as const) {
    const real = original[name];
    proto[name] = function (this: net.Socket, ...args: unknown[]) {
      if (pick(this)) counter.count++;
      return real.apply(this, args);
    };
  }
  return counter;
}

// REPLY header (4 + 4 + "add" + 4), field 0 header 3, i32 4, stop 1.
const ADD_REPLY_BYTES = 15 + 3 + 4 + 1;
const CALLS = 64;

describe('thrift write batching', () => {
  let server: RunningServer;
  before(async () => {
    server = await thrift.serve(calculatorContract, calculator, { port: 0, variant: 'binary-buffered' });
  });
  afterEach(() => {
    proto._write = original._write;
    proto._writev = original._writev;
  });
  after(async () => {
    await server?.close();
  });

  it('64 pipelined calls in one chunk get their replies in a few writes, in order', async () => {
    const socket = net.connect({ port: server.port, host: '127.0.0.1' });
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', () => resolve());
        socket.once('error', reject);
      });
      // The server's end of this connection is the socket whose peer is our local port.
      const writes = spyWrites((s) => s.remotePort === socket.localPort && s.localPort === server.port);
      const calls = Array.from({ length: CALLS }, (_, i) => binaryAdd(i, 1000, i + 1));
      const received = await new Promise<Buffer>((resolve, reject) => {
        const chunks: Buffer[] = [];
        let n = 0;
        const timer = setTimeout(() => reject(new Error(`only ${n} bytes of replies`)), 5_000);
        socket.on('data', (c: Buffer) => {
          chunks.push(c);
          n += c.length;
          if (n >= CALLS * ADD_REPLY_BYTES) {
            clearTimeout(timer);
            resolve(Buffer.concat(chunks));
          }
        });
        socket.once('close', () => reject(new Error(`closed after ${n} bytes`)));
        socket.write(Buffer.concat(calls));
      });
      assert.equal(received.length, CALLS * ADD_REPLY_BYTES);
      for (let i = 0; i < CALLS; i++) {
        const at = i * ADD_REPLY_BYTES;
        assert.equal(received.readUInt32BE(at), 0x80010002, `reply ${i} is a REPLY`);
        assert.equal(received.toString('latin1', at + 8, at + 11), 'add');
        assert.equal(received.readInt32BE(at + 11), i + 1, `reply ${i} carries seqid ${i + 1}`);
        assert.equal(received.readInt32BE(at + 18), i + 1000, `reply ${i} carries its sum`);
      }
      // One per reply without batching; one per tick in which replies became ready with it
      // (the calls may arrive split over a few reads).
      assert.ok(writes.count >= 1 && writes.count <= 8, `${writes.count} socket writes for ${CALLS} replies`);
    } finally {
      socket.destroy();
    }
  });

  it('the client sends calls made in the same tick in a few writes', async () => {
    const client = await thrift.connect(calculatorContract, {
      port: server.port,
      variant: 'binary-buffered',
      timeoutMs: 10_000,
    });
    try {
      assert.equal(await client.add(1, 1), 2); // the connection is open before counting
      const writes = spyWrites((s) => s.remotePort === server.port);
      const sums = await Promise.all(Array.from({ length: CALLS }, (_, i) => client.add(i, 7)));
      assert.deepEqual(
        sums,
        Array.from({ length: CALLS }, (_, i) => i + 7),
      );
      assert.ok(writes.count >= 1 && writes.count <= 8, `${writes.count} socket writes for ${CALLS} calls`);
    } finally {
      await client.close();
    }
  });

  it('a peer that disconnects with replies pending leaves the server serving', async () => {
    for (let round = 0; round < 5; round++) {
      const socket = net.connect({ port: server.port, host: '127.0.0.1' });
      socket.on('error', () => undefined);
      await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
      socket.end(Buffer.concat(Array.from({ length: CALLS }, (_, i) => binaryAdd(i, 1, i + 1))));
      socket.destroy();
    }
    const client = await thrift.connect(calculatorContract, {
      port: server.port,
      variant: 'binary-buffered',
      timeoutMs: 10_000,
    });
    try {
      assert.equal(await client.add(20, 22), 42);
    } finally {
      await client.close();
    }
  });
});
