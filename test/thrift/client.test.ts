/**
 * The Thrift client's failure paths and concurrency: refused connections, dropped
 * connections with calls pending, late replies after a timeout, client-side argument
 * validation, oversized replies, replies out of order, many clients at once.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it, mock } from 'node:test';
import { type Calculator, calculator, calculatorContract, RpcError } from '../../src/contract/index.js';
import { freePort } from '../../src/net/free-port.js';
import { thrift } from '../../src/protocols/thrift/index.js';

async function expectCode(promise: Promise<unknown>, code: string): Promise<RpcError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof RpcError, `expected an RpcError, got ${String(err)}`);
    assert.equal(err.code, code, `expected ${code}, got ${err.code}: ${err.message}`);
    return err;
  }
  assert.fail(`expected ${code}`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A TCP server that records what it receives and runs `onData` for each chunk. */
async function rawServer(onData: (socket: net.Socket, chunk: Buffer) => void = () => undefined) {
  let received = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('data', (c: Buffer) => {
      received += c.length;
      onData(s, c);
    });
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    received: () => received,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

describe('thrift client', () => {
  it('connection refused is TRANSPORT and says where', async () => {
    const port = await freePort();
    const err = await expectCode(thrift.connect(calculatorContract, { port }), 'TRANSPORT');
    assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${port}.*connection refused`));
  });

  it('a connection dropped with calls pending fails them with TRANSPORT', async () => {
    const server = await rawServer((s) => s.destroy());
    try {
      const c = await thrift.connect(calculatorContract, { port: server.port, timeoutMs: 10_000 });
      const calls = [c.add(1, 2), c.divide(1, 2), c.echo(new Uint8Array(10))];
      for (const call of calls) await expectCode(call, 'TRANSPORT');
      await expectCode(c.add(1, 2), 'TRANSPORT'); // and later calls too, without hanging
      await c.close();
    } finally {
      await server.close();
    }
  });

  it('after the server drops an idle connection, the next call reconnects', async () => {
    // thriftpy2's make_server drops connections idle for 3 s; here the server restarts instead.
    const first = await thrift.serve(calculatorContract, calculator, { port: 0 });
    const port = first.port;
    const c = await thrift.connect(calculatorContract, { port, timeoutMs: 10_000 });
    try {
      assert.equal(await c.add(1, 1), 2);
      await first.close();
      await sleep(20);
      // Nobody listens now: the reconnect fails, clearly.
      await expectCode(c.add(1, 2), 'TRANSPORT');
      const second = await thrift.serve(calculatorContract, calculator, { port });
      try {
        assert.equal(await c.add(2, 5), 7);
        assert.deepEqual(await Promise.all([c.add(1, 1), c.add(2, 2), c.add(3, 3)]), [2, 4, 6]);
      } finally {
        await second.close();
      }
    } finally {
      await c.close();
    }
    await expectCode(c.add(1, 1), 'TRANSPORT');
  });

  it('close() with calls pending fails them with TRANSPORT', async () => {
    const server = await rawServer();
    try {
      const c = await thrift.connect(calculatorContract, { port: server.port, timeoutMs: 10_000 });
      const pending = c.add(1, 2);
      await sleep(10);
      await c.close();
      await expectCode(pending, 'TRANSPORT');
    } finally {
      await server.close();
    }
  });

  it('arguments that cannot be encoded are INVALID_ARGUMENT before anything is sent', async () => {
    const server = await rawServer();
    try {
      const c = await thrift.connect(calculatorContract, { port: server.port, timeoutMs: 10_000 });
      const add = c.add as unknown as (...args: unknown[]) => Promise<number>;
      const echo = c.echo as unknown as (d: unknown) => Promise<Uint8Array>;
      await expectCode(add(1.5, 2), 'INVALID_ARGUMENT');
      await expectCode(add('x', 2), 'INVALID_ARGUMENT');
      await expectCode(add(2 ** 31, 0), 'INVALID_ARGUMENT');
      await expectCode(add(1), 'INVALID_ARGUMENT');
      await expectCode(echo('text'), 'INVALID_ARGUMENT');
      await sleep(20);
      assert.equal(server.received(), 0, 'bytes were sent for invalid calls');
      await c.close();
    } finally {
      await server.close();
    }
  });

  it('a late reply after TIMEOUT is ignored and the connection keeps working', async () => {
    const slow: Calculator = {
      ...calculator,
      async add(a, b) {
        if (a === 999) await sleep(1_500);
        return a + b;
      },
    };
    const server = await thrift.serve(calculatorContract, slow, { port: 0 });
    try {
      const c = await thrift.connect(calculatorContract, { port: server.port, timeoutMs: 1_000 });
      await expectCode(c.add(999, 1), 'TIMEOUT');
      await sleep(700); // the late reply arrives now and must be dropped
      assert.equal(await c.add(2, 5), 7);
      await c.close();
    } finally {
      await server.close();
    }
  });

  it('a call that times out while its connection is still being opened is never sent', async () => {
    let adds = 0;
    const counting: Calculator = {
      ...calculator,
      async add(a, b) {
        adds++;
        return a + b;
      },
    };
    const server = await thrift.serve(calculatorContract, counting, { port: 0 });
    // Connections after the first are sockets the test connects when it chooses, and timers are
    // mocked: "the connection opens after the call timed out" happens in that order, always.
    const realConnect = net.connect.bind(net) as (o: net.NetConnectOpts) => net.Socket;
    const sockets: net.Socket[] = [];
    mock.method(net, 'connect', (o: net.NetConnectOpts) => {
      const s = sockets.length === 0 ? realConnect(o) : new net.Socket();
      sockets.push(s);
      return s;
    });
    const flush = () => new Promise<void>((r) => setImmediate(r));
    try {
      const c = await thrift.connect(calculatorContract, { port: server.port, timeoutMs: 1_000 });
      const first = sockets[0]!;
      await new Promise<void>((r) => {
        first.once('close', () => r());
        first.destroy();
      });
      mock.timers.enable({ apis: ['setTimeout'] });
      // A's reconnect never opens and times out with A; B, made halfway, then starts its own,
      // whose connect timeout ends half a timeout after B's call timeout.
      const a = c.add(1, 1);
      await flush();
      mock.timers.tick(500);
      const b = c.add(2, 2);
      await flush();
      mock.timers.tick(500);
      await expectCode(a, 'TIMEOUT');
      await flush();
      assert.equal(sockets.length, 3, 'B opened a connection of its own');
      mock.timers.tick(500);
      await expectCode(b, 'TIMEOUT');
      // B's connection opens now: B must not go out on it.
      sockets[2]!.connect({ port: server.port, host: '127.0.0.1' });
      assert.equal(await c.add(3, 4), 7);
      assert.equal(adds, 1, 'only the call made after the connection opened reached the server');
      await c.close();
    } finally {
      mock.timers.reset();
      mock.restoreAll();
      await server.close();
    }
  });

  it('replies finishing out of order are matched to their calls by sequence id', async () => {
    const staggered: Calculator = {
      ...calculator,
      async add(a, b) {
        await sleep((20 - a) * 3);
        return a + b;
      },
    };
    for (const variant of thrift.variants) {
      const server = await thrift.serve(calculatorContract, staggered, { port: 0, variant });
      try {
        const c = await thrift.connect(calculatorContract, { port: server.port, variant, timeoutMs: 10_000 });
        const results = await Promise.all(Array.from({ length: 20 }, (_, i) => c.add(i, 100)));
        assert.deepEqual(
          results,
          Array.from({ length: 20 }, (_, i) => i + 100),
        );
        await c.close();
      } finally {
        await server.close();
      }
    }
  });

  it('a reply larger than the client limit is MESSAGE_TOO_LARGE', async () => {
    const server = await thrift.serve(calculatorContract, calculator, { port: 0 });
    try {
      const c = await thrift.connect(calculatorContract, {
        port: server.port,
        timeoutMs: 10_000,
        maxMessageBytes: 64 * 1024,
      });
      await expectCode(c.echo(new Uint8Array(100 * 1024)), 'MESSAGE_TOO_LARGE');
      await c.close();
    } finally {
      await server.close();
    }
  });

  it('many clients with many calls in flight each, at once', async () => {
    const server = await thrift.serve(calculatorContract, calculator, { port: 0, variant: 'compact-framed' });
    try {
      const clients = await Promise.all(
        Array.from({ length: 20 }, () =>
          thrift.connect(calculatorContract, {
            port: server.port,
            variant: 'compact-framed',
            timeoutMs: 20_000,
          }),
        ),
      );
      const sums = await Promise.all(
        clients.map((c, k) => Promise.all(Array.from({ length: 50 }, (_, i) => c.add(k, i)))),
      );
      sums.forEach((row, k) => {
        assert.deepEqual(
          row,
          Array.from({ length: 50 }, (_, i) => k + i),
        );
      });
      await Promise.all(clients.map((c) => c.close()));
    } finally {
      await server.close();
    }
  });

  it('an unknown variant is a clear INVALID_ARGUMENT', async () => {
    const err = await expectCode(
      thrift.connect(calculatorContract, { port: 1, variant: 'json-http' }),
      'INVALID_ARGUMENT',
    );
    assert.match(err.message, /binary-buffered/);
  });
});
