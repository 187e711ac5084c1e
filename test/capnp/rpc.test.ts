/**
 * The RPC connection against our own server: tables that return to their size over a long
 * session, hostile frame headers, malformed messages, thrown server errors and broken
 * connections. (Interop with pycapnp is test/interop/capnp.test.ts.)
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { type Calculator, calculator, calculatorContract, RpcError } from '../../src/contract/index.js';
import {
  type CapnpServer,
  type CapnpSession,
  connectCapnp,
  openCapnp,
  type RpcConnection,
  serveCapnp,
} from '../../src/protocols/capnp/index.js';

function closedWithin(socket: net.Socket, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

function rawConnect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
}

describe('capnp rpc', () => {
  let server: CapnpServer;
  const served: RpcConnection[] = [];
  before(async () => {
    server = await serveCapnp(calculatorContract, calculator, {
      port: 0,
      onConnection: (c) => served.push(c),
    });
  });
  after(async () => {
    await server?.close();
  });

  it('10,000 calls each obtaining and dropping a capability leave the server tables at their start size', async () => {
    const session: CapnpSession = await openCapnp({ port: server.port, timeoutMs: 20_000 });
    try {
      const calc = session.bootstrap();
      assert.equal((await calc.call('add', { a: 1, b: 1 }).result).result, 2);
      const conn = served.at(-1)!;
      // The Finish of that call may still be on the wire: let it land before taking the start.
      await new Promise((r) => setTimeout(r, 50));
      const start = conn.tableSizes();
      for (let batch = 0; batch < 100; batch++) {
        await Promise.all(
          Array.from({ length: 100 }, async (_, i) => {
            const n = batch * 100 + i;
            const pending = calc.call('adder', { base: n });
            const adder = pending.cap('adder');
            const sum = await adder.call('add', { x: 1 }).result;
            assert.equal(sum.result, n + 1);
            adder.release();
            ((await pending.result).adder as { release(): void }).release();
          }),
        );
      }
      // Release and Finish messages may still be on the wire: a round trip flushes them.
      assert.equal((await calc.call('add', { a: 2, b: 5 }).result).result, 7);
      await new Promise((r) => setTimeout(r, 50));
      const end = conn.tableSizes();
      assert.equal(end.exports, start.exports, `exports ${start.exports} -> ${end.exports}`);
      assert.equal(end.answers, start.answers, `answers ${start.answers} -> ${end.answers}`);
      assert.equal(end.imports, start.imports);
      assert.equal(end.questions, start.questions);
      const mine = session.connection.tableSizes();
      assert.equal(mine.questions, 0, 'our question table is empty');
      assert.equal(mine.imports, 1, 'only the bootstrap capability stays imported');
      calc.release();
    } finally {
      await session.close();
    }
  });

  for (const [what, header] of [
    ['2^32-1 segments', Buffer.from([0xfe, 0xff, 0xff, 0xff])],
    ['a 4 GiB segment', Buffer.from([0, 0, 0, 0, 0xff, 0xff, 0xff, 0x1f])],
    ['a first segment of 0 words', Buffer.from([0, 0, 0, 0, 0, 0, 0, 0])],
  ] as const) {
    it(`a frame header declaring ${what} closes that connection at once; the next client gets 7`, async () => {
      const before = process.memoryUsage().rss;
      const socket = await rawConnect(server.port);
      socket.on('error', () => undefined);
      socket.resume();
      socket.write(header);
      // A bound that only catches a connection left open waiting for bytes that never come.
      assert.ok(await closedWithin(socket, 5_000), 'the server kept the connection open');
      assert.ok(
        process.memoryUsage().rss - before < 256 * 1024 * 1024,
        'the server allocated the declared size',
      );
      const client = await connectCapnp(calculatorContract, { port: server.port, timeoutMs: 10_000 });
      try {
        assert.equal(await client.add(2, 5), 7);
      } finally {
        await client.close();
      }
    });
  }

  it('a well-framed message that is not an RPC message gets an Abort and a close; the server keeps serving', async () => {
    const socket = await rawConnect(server.port);
    socket.on('error', () => undefined);
    const got: Buffer[] = [];
    socket.on('data', (d: Buffer) => got.push(d));
    // One segment of 2 words: a root pointer to a struct whose union says "type 0x7777".
    const frame = Buffer.alloc(8 + 16);
    frame.writeUInt32LE(0, 0);
    frame.writeUInt32LE(2, 4);
    frame.writeUInt32LE(0x00000000, 8); // struct pointer, offset 0
    frame.writeUInt32LE(0x00010001, 12); // 1 data word, 1 pointer... pointing past the segment
    frame.writeUInt32LE(0xffffffff, 16);
    socket.write(frame);
    assert.ok(await closedWithin(socket, 5_000), 'the server kept the connection open');
    const client = await connectCapnp(calculatorContract, { port: server.port, timeoutMs: 10_000 });
    try {
      assert.equal(await client.add(2, 5), 7);
    } finally {
      await client.close();
    }
  });

  it('an oversized message (beyond maxMessageBytes) aborts the connection before it is buffered', async () => {
    const small = await serveCapnp(calculatorContract, calculator, { port: 0, maxMessageBytes: 64 * 1024 });
    try {
      const client = await connectCapnp(calculatorContract, { port: small.port, timeoutMs: 10_000 });
      try {
        await assert.rejects(client.echo(new Uint8Array(128 * 1024)), (err: unknown) => {
          assert.ok(err instanceof RpcError && err.code === 'TRANSPORT', String(err));
          return true;
        });
      } finally {
        await client.close();
      }
      const again = await connectCapnp(calculatorContract, { port: small.port, timeoutMs: 10_000 });
      try {
        assert.equal((await again.echo(new Uint8Array(1000))).byteLength, 1000);
      } finally {
        await again.close();
      }
    } finally {
      await small.close();
    }
  });

  it('an error thrown by server code is a failed call (INTERNAL), never a crash', async () => {
    const broken: Calculator = {
      ...calculator,
      add: () => {
        throw new Error('boom');
      },
    };
    const s = await serveCapnp(calculatorContract, broken, { port: 0 });
    try {
      const client = await connectCapnp(calculatorContract, { port: s.port, timeoutMs: 10_000 });
      try {
        await assert.rejects(client.add(1, 2), (err: unknown) => {
          assert.ok(err instanceof RpcError && err.code === 'INTERNAL', String(err));
          return true;
        });
        assert.equal(await client.divide(1, 2), 0.5);
      } finally {
        await client.close();
      }
    } finally {
      await s.close();
    }
  });

  it('a broken connection fails every outstanding call with TRANSPORT', async () => {
    const slow: Calculator = { ...calculator, add: () => new Promise(() => undefined) };
    const s = await serveCapnp(calculatorContract, slow, { port: 0 });
    const client = await connectCapnp(calculatorContract, { port: s.port, timeoutMs: 30_000 });
    try {
      const calls = Array.from({ length: 5 }, (_, i) =>
        client.add(i, i).then(
          () => 'answered',
          (e: unknown) => e,
        ),
      );
      await new Promise((r) => setTimeout(r, 50));
      await s.close();
      for (const outcome of await Promise.all(calls)) {
        assert.ok(outcome instanceof RpcError && outcome.code === 'TRANSPORT', String(outcome));
      }
    } finally {
      await client.close();
    }
  });

  it('a callback capability passed to our server is called back, and released after the call', async () => {
    const session = await openCapnp({ port: server.port, timeoutMs: 10_000 });
    try {
      let released = false;
      const calc = session.bootstrap();
      const fn = session.serve('Function', {
        call: ({ a, b }) => ({ result: (a as number) - (b as number) }),
      });
      assert.deepEqual(await calc.call('apply', { fn, a: 9, b: 4 }).result, { result: 5 });
      fn.release();
      released = true;
      assert.equal((await calc.call('add', { a: 1, b: 1 }).result).result, 2);
      await new Promise((r) => setTimeout(r, 20));
      assert.ok(released);
      assert.equal(session.connection.tableSizes().exports, 0, 'the server released our Function');
      calc.release();
    } finally {
      await session.close();
    }
  });
});
