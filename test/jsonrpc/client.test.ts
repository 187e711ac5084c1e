/**
 * The JSON-RPC client: typed errors for every failure (refused connection, closed client,
 * oversized request and reply, timeouts, foreign error objects), keep-alive reuse, and a
 * contract other than Calculator served and called through the same adapter.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import {
  calculator,
  calculatorContract,
  defineContract,
  type Implementation,
  RpcError,
} from '../../src/contract/index.js';
import { startCountingRelay } from '../../src/net/counting-relay.js';
import { freePort } from '../../src/net/free-port.js';
import { jsonrpc } from '../../src/protocols/jsonrpc/index.js';
import type { RunningServer } from '../../src/protocols/types.js';

async function expectCode(promise: Promise<unknown>, code: string, message?: RegExp): Promise<RpcError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof RpcError, `expected an RpcError, got ${String(err)}`);
    assert.equal(err.code, code, `expected ${code}, got ${err.code}: ${err.message}`);
    if (message !== undefined) assert.match(err.message, message);
    return err;
  }
  assert.fail(`expected the call to fail with ${code}`);
}

/** A plain HTTP server answering every POST with a fixed status and body. */
async function fakeServer(status: number, body: string): Promise<{ port: number; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

describe('jsonrpc client', () => {
  let server: RunningServer;
  before(async () => {
    server = await jsonrpc.serve(calculatorContract, calculator, { port: 0, maxMessageBytes: 64 * 1024 });
  });
  after(async () => {
    await server.close();
  });

  it('posts to the configured path (a server mounted at /RPC2), and refuses a path that is not one', async () => {
    const seen: string[] = [];
    const mounted = http.createServer((req, res) => {
      seen.push(req.url ?? '');
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const { id } = JSON.parse(Buffer.concat(chunks).toString()) as { id: number };
        res.writeHead(req.url === '/RPC2' ? 200 : 404, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ jsonrpc: '2.0', id, result: 7 }));
      });
    });
    await new Promise<void>((r) => mounted.listen(0, '127.0.0.1', r));
    const port = (mounted.address() as AddressInfo).port;
    try {
      const client = await jsonrpc.connect(calculatorContract, { port, path: '/RPC2', timeoutMs: 5_000 });
      try {
        assert.equal(await client.add(2, 5), 7);
        assert.deepEqual(seen, ['/RPC2']);
      } finally {
        await client.close();
      }
      for (const bad of ['RPC2', '/a b', '/x\r\nHost: evil', '']) {
        await expectCode(jsonrpc.connect(calculatorContract, { port, path: bad }), 'INVALID_ARGUMENT');
      }
      assert.deepEqual(seen, ['/RPC2'], 'nothing was sent for a refused path');
    } finally {
      await new Promise<void>((r) => mounted.close(() => r()));
    }
  });

  it('connection refused is TRANSPORT with the address in the message', async () => {
    const port = await freePort();
    const client = await jsonrpc.connect(calculatorContract, { port, timeoutMs: 5_000 });
    try {
      await expectCode(
        client.add(2, 5),
        'TRANSPORT',
        new RegExp(`127\\.0\\.0\\.1:${port}.*connection refused`),
      );
    } finally {
      await client.close();
    }
  });

  it('a call after close() is TRANSPORT', async () => {
    const client = await jsonrpc.connect(calculatorContract, { port: server.port });
    assert.equal(await client.add(1, 2), 3);
    await client.close();
    await expectCode(client.add(1, 2), 'TRANSPORT', /closed/);
  });

  it('a request over the server limit is MESSAGE_TOO_LARGE (HTTP 413), and the client still works', async () => {
    const client = await jsonrpc.connect(calculatorContract, { port: server.port });
    try {
      // ~80 KB of base64: over the 64 KiB limit, and under the 2x the server drains before
      // cutting a connection, so the 413 is always readable.
      await expectCode(client.echo(new Uint8Array(60 * 1024)), 'MESSAGE_TOO_LARGE', /413/);
      assert.equal(await client.add(2, 5), 7);
    } finally {
      await client.close();
    }
  });

  it('a reply over the client limit is MESSAGE_TOO_LARGE', async () => {
    const big = await jsonrpc.serve(calculatorContract, calculator, { port: 0 });
    const client = await jsonrpc.connect(calculatorContract, { port: big.port, maxMessageBytes: 1024 });
    try {
      // The reply carries 800 bytes as ~1070 base64 characters: over the client's 1024.
      await expectCode(client.echo(new Uint8Array(800)), 'MESSAGE_TOO_LARGE');
      assert.equal(await client.add(2, 5), 7);
    } finally {
      await client.close();
      await big.close();
    }
  });

  it('calls reuse keep-alive connections', async () => {
    const inner = await jsonrpc.serve(calculatorContract, calculator, { port: 0 });
    // Connections are counted on a TCP relay between the client and the server.
    const relay = await startCountingRelay({ host: '127.0.0.1', port: inner.port });
    const client = await jsonrpc.connect(calculatorContract, { port: relay.port });
    try {
      for (let i = 0; i < 20; i++) assert.equal(await client.add(i, 1), i + 1);
      const { connections } = relay.counts();
      assert.equal(connections, 1, `20 sequential calls opened ${connections} connections`);
    } finally {
      await client.close();
      await relay.close();
      await inner.close();
    }
  });

  it('an idempotent call is resent once when a reused keep-alive socket turns out dead', async () => {
    // The server answers the first request on each connection and drops the connection on
    // the second, as a server closing an idle keep-alive socket races with a new request.
    const served = new WeakMap<object, number>();
    const flaky = http.createServer((req, res) => {
      const n = (served.get(req.socket) ?? 0) + 1;
      served.set(req.socket, n);
      if (n > 1) {
        req.socket.destroy();
        return;
      }
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const { id, params } = JSON.parse(Buffer.concat(chunks).toString()) as {
          id: number;
          params: number[];
        };
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ jsonrpc: '2.0', id, result: params[0]! + params[1]! }));
      });
    });
    await new Promise<void>((r) => flaky.listen(0, '127.0.0.1', r));
    const port = (flaky.address() as AddressInfo).port;
    const nonIdempotent = defineContract({
      name: 'Adder',
      namespace: 'adder',
      methods: {
        add: {
          params: [
            { name: 'a', type: 'i32' },
            { name: 'b', type: 'i32' },
          ],
          result: 'i32',
        },
      },
    });
    const client = await jsonrpc.connect(calculatorContract, { port });
    const once = await jsonrpc.connect(nonIdempotent, { port });
    try {
      assert.equal(await client.add(1, 2), 3);
      assert.equal(await client.add(3, 4), 7, 'the idempotent call was not resent on a fresh connection');
      assert.equal(await once.add(1, 2), 3);
      await expectCode(once.add(3, 4), 'TRANSPORT');
    } finally {
      await client.close();
      await once.close();
      await new Promise<void>((r) => {
        flaky.close(() => r());
        flaky.closeAllConnections();
      });
    }
  });

  it("a foreign server's error objects map by their numeric code", async () => {
    const cases: [number, string][] = [
      [-32601, 'NO_SUCH_METHOD'],
      [-32602, 'INVALID_ARGUMENT'],
      [-32603, 'INTERNAL'],
      [-32600, 'PROTOCOL'],
      [-32000, 'INTERNAL'],
      [1001, 'DIVIDE_BY_ZERO'],
      [42, 'INTERNAL'],
    ];
    for (const [code, expected] of cases) {
      const fake = await fakeServer(
        200,
        JSON.stringify({ jsonrpc: '2.0', id: 1, error: { code, message: 'boom' } }),
      );
      const client = await jsonrpc.connect(calculatorContract, { port: fake.port });
      try {
        const err = await expectCode(client.add(1, 2), expected);
        assert.equal(err.message, 'boom');
      } finally {
        await client.close();
        await fake.close();
      }
    }
  });

  it('a reply that is not JSON-RPC or answers another id is PROTOCOL; an HTTP error status is TRANSPORT', async () => {
    const garbage = await fakeServer(200, '<html>hello</html>');
    const c1 = await jsonrpc.connect(calculatorContract, { port: garbage.port });
    await expectCode(c1.add(1, 2), 'PROTOCOL');
    await c1.close();
    await garbage.close();
    const otherId = await fakeServer(200, JSON.stringify({ jsonrpc: '2.0', id: 12345, result: 3 }));
    const c3 = await jsonrpc.connect(calculatorContract, { port: otherId.port, timeoutMs: 5_000 });
    await expectCode(c3.add(1, 2), 'PROTOCOL', /id 12345/);
    await c3.close();
    await otherId.close();
    const notFound = await fakeServer(404, 'not here');
    const c2 = await jsonrpc.connect(calculatorContract, { port: notFound.port });
    await expectCode(c2.add(1, 2), 'TRANSPORT', /404/);
    await c2.close();
    await notFound.close();
  });

  it('a slow method gives TIMEOUT, is not sent again, and the client keeps working', async () => {
    let slowCalls = 0;
    const slowImpl = {
      ...calculator,
      add: (a: number, b: number) => {
        if (a !== 0) slowCalls++;
        return new Promise<number>((r) => setTimeout(() => r(a + b), a === 0 ? 0 : 2_500));
      },
    };
    const slow = await jsonrpc.serve(calculatorContract, slowImpl, { port: 0 });
    const client = await jsonrpc.connect(calculatorContract, { port: slow.port, timeoutMs: 1_000 });
    try {
      assert.equal(await client.add(0, 1), 1); // leaves a keep-alive socket to reuse
      await expectCode(client.add(1, 2), 'TIMEOUT');
      assert.equal(await client.add(0, 2), 2);
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(slowCalls, 1, 'the timed-out call was sent again');
    } finally {
      await client.close();
      await slow.close();
    }
  });
});

describe('jsonrpc is generic over the contract', () => {
  const greeter = defineContract({
    name: 'Greeter',
    namespace: 'greeter',
    methods: {
      greet: { params: [{ name: 'name', type: 'string' }], result: 'string' },
      big: { params: [{ name: 'n', type: 'i64' }], result: 'i64' },
      flip: { params: [{ name: 'on', type: 'bool' }], result: 'bool' },
      half: { params: [{ name: 'x', type: 'double' }], result: 'double' },
    },
  });
  const impl: Implementation<typeof greeter> = {
    greet: (name) => `hello, ${name}`,
    big: (n) => n * 2n,
    flip: (on) => !on,
    half: (x) => x / 2,
  };

  it('serves and calls a contract other than Calculator', async () => {
    const server = await jsonrpc.serve(greeter, impl, { port: 0 });
    const client = await jsonrpc.connect(greeter, { port: server.port });
    try {
      assert.equal(await client.greet('Ada'), 'hello, Ada');
      assert.equal(await client.big(2n ** 60n), 2n ** 61n); // beyond 2^53: travels as a decimal string
      assert.equal(await client.big(21n), 42n);
      assert.equal(await client.flip(false), true);
      assert.ok(Number.isNaN(await client.half(Number.NaN)));
      assert.equal(await client.half(Number.NEGATIVE_INFINITY), Number.NEGATIVE_INFINITY);
      const calc = await jsonrpc.connect(calculatorContract, { port: server.port });
      await expectCode(calc.add(1, 2), 'NO_SUCH_METHOD');
      await calc.close();
    } finally {
      await client.close();
      await server.close();
    }
  });

  // JSON.parse rounds 1152921504606846977 (2^60 + 1, as Python's json writes it) to 2^60: an i64
  // beyond 2^53 as a JSON number cannot be trusted, so it is refused rather than used rounded.
  it('an i64 beyond 2^53 sent as a JSON number is refused both ways; as a decimal string it is exact', async () => {
    const server = await jsonrpc.serve(greeter, impl, { port: 0 });
    const post = async (params: string) => {
      const res = await fetch(`http://127.0.0.1:${server.port}/`, {
        method: 'POST',
        body: `{"jsonrpc":"2.0","id":1,"method":"big","params":${params}}`,
      });
      return (await res.json()) as { result?: unknown; error?: { code: number; message: string } };
    };
    try {
      const rounded = await post('[1152921504606846977]');
      assert.equal(rounded.error?.code, -32602, JSON.stringify(rounded));
      assert.match(rounded.error?.message ?? '', /decimal string/);
      assert.deepEqual(await post('["1152921504606846977"]'), {
        jsonrpc: '2.0',
        id: 1,
        result: '2305843009213693954',
      });
      assert.deepEqual(await post('[-9007199254740991]'), {
        jsonrpc: '2.0',
        id: 1,
        result: '-18014398509481982',
      });
    } finally {
      await server.close();
    }
    const fake = await fakeServer(200, '{"jsonrpc":"2.0","id":1,"result":2305843009213693954}');
    const client = await jsonrpc.connect(greeter, { port: fake.port, timeoutMs: 2_000 });
    try {
      await expectCode(client.big(1152921504606846977n), 'PROTOCOL', /decimal string/);
    } finally {
      await client.close();
      await fake.close();
    }
  });
});
