/**
 * The JSON-RPC server against raw HTTP: every standard error code, batches, notifications,
 * size limits and wrong HTTP methods, each followed by proof that the server still answers.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { calculator, calculatorContract } from '../../src/contract/index.js';
import { jsonrpc } from '../../src/protocols/jsonrpc/index.js';
import { serveJsonRpc } from '../../src/protocols/jsonrpc/server.js';
import { DEFAULT_MAX_MESSAGE_BYTES, type RunningServer } from '../../src/protocols/types.js';
import { rawRequest, rpc, streamChunked } from './raw-http.js';

interface ErrorReply {
  jsonrpc: string;
  id: unknown;
  error: { code: number; message: string; data?: { code?: string } };
}

function errorOf(json: unknown): ErrorReply['error'] {
  const reply = json as ErrorReply;
  assert.equal(reply.jsonrpc, '2.0');
  assert.ok(reply.error, `expected an error reply, got ${JSON.stringify(json)}`);
  return reply.error;
}

const call = (id: unknown, method: string, params?: unknown) => ({ jsonrpc: '2.0', id, method, params });

describe('jsonrpc server robustness (raw HTTP)', () => {
  let server: RunningServer;
  let small: RunningServer;
  const smallLimit = 256 * 1024;

  before(async () => {
    server = await jsonrpc.serve(calculatorContract, calculator, { port: 0 });
    small = await jsonrpc.serve(calculatorContract, calculator, { port: 0, maxMessageBytes: smallLimit });
  });
  after(async () => {
    await server.close();
    await small.close();
  });

  async function stillServes(port = server.port): Promise<void> {
    const reply = await rpc(port, call(99, 'add', [2, 5]));
    assert.equal(reply.status, 200);
    assert.deepEqual(reply.json, { jsonrpc: '2.0', id: 99, result: 7 });
  }

  it('a valid call, by position and by name', async () => {
    await stillServes();
    const byName = await rpc(server.port, call('n', 'add', { b: 5, a: 2 }));
    assert.deepEqual(byName.json, { jsonrpc: '2.0', id: 'n', result: 7 });
    assert.match(String(byName.headers['content-type']), /^application\/json/);
  });

  it('malformed JSON gets -32700 with id null, then the server answers a valid call', async () => {
    for (const body of [
      '{"jsonrpc": "2.0", "method": "add", "params": [1, 2',
      'not json',
      '',
      '\u00ff\u00fe',
    ]) {
      const reply = await rpc(server.port, body);
      assert.equal(reply.status, 200);
      assert.equal((reply.json as ErrorReply).id, null);
      assert.equal(errorOf(reply.json).code, -32700, body);
    }
    await stillServes();
  });

  it('an oversized body announced by Content-Length gets 413 before it is sent', async () => {
    // Only the headers go out: the server must answer from Content-Length alone.
    const reply = await new Promise<number>((resolve, reject) => {
      const req = http.request({
        host: '127.0.0.1',
        port: server.port,
        method: 'POST',
        path: '/',
        agent: false,
        headers: { 'Content-Length': DEFAULT_MAX_MESSAGE_BYTES + 1 },
      });
      req.on('response', (res) => {
        res.resume();
        req.destroy();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.flushHeaders();
    });
    assert.equal(reply, 413);
    await stillServes();
  });

  it('an oversized body of exactly the limit + 1 gets 413 (default 16 MiB limit)', async () => {
    const body = Buffer.alloc(DEFAULT_MAX_MESSAGE_BYTES + 1, 0x20);
    const reply = await rawRequest(server.port, { body });
    assert.equal(reply.status, 413);
    assert.equal(errorOf(reply.json).data?.code, 'MESSAGE_TOO_LARGE');
    await stillServes();
  });

  it('a chunked body with no Content-Length gets 413 once it passes the limit', async () => {
    const { status, written } = await streamChunked(small.port, 8 * smallLimit);
    assert.equal(status, 413);
    assert.ok(written > smallLimit, `only ${written} bytes were written`);
    await stillServes(small.port);
  });

  it('a chunked body past the default 16 MiB limit gets 413', async () => {
    const { status } = await streamChunked(server.port, DEFAULT_MAX_MESSAGE_BYTES + 4 * 1024 * 1024);
    assert.equal(status, 413);
    await stillServes();
  });

  it('a client that keeps streaming after the 413 has its connection cut', async () => {
    // Far more than loopback's socket buffers can absorb, so only a cut ends it early.
    const attempt = 64 * 1024 * 1024;
    const cut = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port: small.port });
      let written = 0;
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      const frame = Buffer.concat([
        Buffer.from(`${chunk.length.toString(16)}\r\n`),
        chunk,
        Buffer.from('\r\n'),
      ]);
      socket.on('data', () => undefined); // read and ignore the 413
      socket.on('error', () => undefined);
      socket.on('close', () => resolve(written < attempt));
      socket.on('connect', () => {
        socket.write('POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n');
        const pump = () => {
          while (written < attempt && !socket.destroyed) {
            written += chunk.length;
            if (!socket.write(frame)) {
              socket.once('drain', pump);
              return;
            }
          }
          socket.destroy();
        };
        pump();
      });
    });
    assert.ok(cut, 'the server let the client stream on forever');
    await stillServes(small.port);
  });

  it('a body at the limit is still served', async () => {
    const head = JSON.stringify(call(1, 'add', [2, 5]));
    const body = head + ' '.repeat(smallLimit - head.length);
    const reply = await rpc(small.port, body);
    assert.deepEqual(reply.json, { jsonrpc: '2.0', id: 1, result: 7 });
  });

  it('GET and other methods get 405 with Allow: POST', async () => {
    for (const method of ['GET', 'PUT', 'DELETE']) {
      const reply = await rawRequest(server.port, { method });
      assert.equal(reply.status, 405, method);
      assert.equal(reply.headers.allow, 'POST');
    }
    await stillServes();
  });

  it('invalid requests get -32600', async () => {
    const invalid: unknown[] = [
      { method: 'add', params: [1, 2], id: 1 }, // no "jsonrpc"
      { jsonrpc: '1.0', method: 'add', params: [1, 2], id: 1 },
      { jsonrpc: '2.0', method: 7, params: [1, 2], id: 1 },
      { jsonrpc: '2.0', method: 'add', params: 'x', id: 1 },
      { jsonrpc: '2.0', method: 'add', params: [1, 2], id: { nested: true } },
      42,
      'add',
      null,
    ];
    for (const payload of invalid) {
      const reply = await rpc(server.port, JSON.stringify(payload));
      assert.equal(reply.status, 200);
      assert.equal(errorOf(reply.json).code, -32600, JSON.stringify(payload));
    }
    // The id is echoed when it is a valid one.
    const withId = await rpc(server.port, { jsonrpc: '1.0', method: 'add', id: 5 });
    assert.equal((withId.json as ErrorReply).id, 5);
    await stillServes();
  });

  it('a request carrying "result" or "error" gets our -32600 (with data.code), like every other invalid request', async () => {
    for (const extra of [
      { result: null },
      { error: null },
      { result: 3, error: { code: 1, message: 'x' } },
    ]) {
      const reply = await rpc(server.port, { ...call(6, 'add', [1, 2]), ...extra });
      const error = errorOf(reply.json);
      assert.equal(error.code, -32600, JSON.stringify(extra));
      assert.equal(error.data?.code, 'PROTOCOL', JSON.stringify(extra));
      assert.match(error.message, /"result" or "error"/);
      assert.equal((reply.json as ErrorReply).id, 6);
    }
    await stillServes();
  });

  it('an unknown method gets -32601 with NO_SUCH_METHOD in data', async () => {
    const reply = await rpc(server.port, call(3, 'multiply', [2, 3]));
    const error = errorOf(reply.json);
    assert.equal(error.code, -32601);
    assert.equal(error.data?.code, 'NO_SUCH_METHOD');
    assert.match(error.message, /multiply/);
    // Names that exist on every JS object are not methods either.
    for (const name of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
      assert.equal(errorOf((await rpc(server.port, call(4, name, []))).json).code, -32601, name);
    }
  });

  it('wrong params get -32602 with a clear message', async () => {
    const cases: [unknown, RegExp][] = [
      [[1], /takes 2 argument/],
      [[1, 2, 3], /takes 2 argument/],
      [['x', 2], /argument 'a' must be a 32-bit integer/],
      [[1.5, 2], /argument 'a' must be a 32-bit integer/],
      [[2 ** 31, 0], /out of the 32-bit integer range/],
      [{ a: 1 }, /missing argument 'b'/],
      [{ a: 1, b: 2, c: 3 }, /no parameter 'c'/],
      [[], /takes 2 argument/],
    ];
    for (const [params, message] of cases) {
      const error = errorOf((await rpc(server.port, call(1, 'add', params))).json);
      assert.equal(error.code, -32602, JSON.stringify(params));
      assert.equal(error.data?.code, 'INVALID_ARGUMENT');
      assert.match(error.message, message);
    }
    const noParams = errorOf((await rpc(server.port, { jsonrpc: '2.0', id: 1, method: 'add' })).json);
    assert.equal(noParams.code, -32602);
    const badBase64 = errorOf((await rpc(server.port, call(1, 'echo', ['not base64!']))).json);
    assert.equal(badBase64.code, -32602);
    assert.match(badBase64.message, /base64/);
    await stillServes();
  });

  it('divide by zero gets application code 1001 with DIVIDE_BY_ZERO in data', async () => {
    const error = errorOf((await rpc(server.port, call(1, 'divide', [1, 0]))).json);
    assert.deepEqual(error, { code: 1001, message: 'division by zero', data: { code: 'DIVIDE_BY_ZERO' } });
  });

  it('bytes and non-finite doubles travel as strings; bare Infinity (Python) is accepted', async () => {
    const echo = await rpc(server.port, call(1, 'echo', [Buffer.from([0, 1, 254, 255]).toString('base64')]));
    assert.deepEqual(echo.json, { jsonrpc: '2.0', id: 1, result: 'AAH+/w==' });
    const inf = await rpc(server.port, call(2, 'divide', [1e308, 1e-10]));
    assert.deepEqual(inf.json, { jsonrpc: '2.0', id: 2, result: 'Infinity' });
    const bare = await rpc(
      server.port,
      '{"jsonrpc": "2.0", "id": 3, "method": "divide", "params": [-Infinity, 2]}',
    );
    assert.deepEqual(bare.json, { jsonrpc: '2.0', id: 3, result: '-Infinity' });
    const nan = await rpc(server.port, '{"jsonrpc": "2.0", "id": 4, "method": "divide", "params": [NaN, 2]}');
    assert.deepEqual(nan.json, { jsonrpc: '2.0', id: 4, result: 'NaN' });
  });

  it('a mixed batch is answered in one array, notifications left out', async () => {
    const reply = await rpc(server.port, [
      call(1, 'add', [2, 5]),
      { jsonrpc: '2.0', method: 'add', params: [1, 1] }, // notification: no reply
      1, // invalid
      call(2, 'nope', []),
      call(3, 'divide', [1, 0]),
      call(4, 'add', ['x', 1]),
      { jsonrpc: '2.0', method: 'nope' }, // failing notification: still no reply
    ]);
    assert.equal(reply.status, 200);
    const replies = reply.json as ErrorReply[] & { result?: unknown }[];
    assert.ok(Array.isArray(replies));
    assert.equal(replies.length, 5);
    const byId = new Map(replies.map((r) => [JSON.stringify(r.id), r]));
    assert.deepEqual(byId.get('1'), { jsonrpc: '2.0', id: 1, result: 7 });
    assert.equal(byId.get('2')?.error.code, -32601);
    assert.equal(byId.get('3')?.error.code, 1001);
    assert.equal(byId.get('4')?.error.code, -32602);
    assert.equal(byId.get('null')?.error.code, -32600);
  });

  it('a batch of one is still answered with an array', async () => {
    const reply = await rpc(server.port, [call(1, 'add', [1, 2])]);
    assert.deepEqual(reply.json, [{ jsonrpc: '2.0', id: 1, result: 3 }]);
  });

  it('an empty batch gets a single -32600', async () => {
    const reply = await rpc(server.port, '[]');
    assert.equal((reply.json as ErrorReply).id, null);
    assert.equal(errorOf(reply.json).code, -32600);
  });

  it('notifications (alone or a whole batch) get an empty 200 reply', async () => {
    const single = await rpc(server.port, { jsonrpc: '2.0', method: 'add', params: [1, 2] });
    assert.equal(single.status, 200);
    assert.equal(single.text, '');
    const batch = await rpc(server.port, [
      { jsonrpc: '2.0', method: 'add', params: [1, 2] },
      { jsonrpc: '2.0', method: 'divide', params: [1, 0] },
    ]);
    assert.equal(batch.status, 200);
    assert.equal(batch.text, '');
    await stillServes();
  });

  it('accepts the content types peers send (jsonrpclib sends application/json-rpc)', async () => {
    for (const type of ['application/json-rpc', 'application/jsonrequest', 'text/plain']) {
      const reply = await rawRequest(server.port, {
        body: JSON.stringify(call(1, 'add', [3, 4])),
        headers: { 'Content-Type': type },
      });
      assert.deepEqual(reply.json, { jsonrpc: '2.0', id: 1, result: 7 }, type);
    }
  });
});

describe('jsonrpc server: requests from web pages', () => {
  // A page on any site can POST a "simple" cross-origin request (text/plain, form types: no
  // CORS preflight) to a server on 127.0.0.1, and a DNS-rebinding page can even do it as the
  // same origin; the browser hides the reply but the method runs. Browsers always send Origin.
  it('a request with an Origin header gets 403 and runs nothing; the same call without it is served', async () => {
    let runs = 0;
    const server = await jsonrpc.serve(
      calculatorContract,
      {
        ...calculator,
        add: (a: number, b: number) => {
          runs++;
          return a + b;
        },
      },
      { port: 0 },
    );
    try {
      for (const [type, origin] of [
        ['text/plain', 'https://evil.example'],
        ['application/x-www-form-urlencoded', 'null'],
        ['application/json', 'http://127.0.0.1:8080'],
      ]) {
        const reply = await rawRequest(server.port, {
          body: JSON.stringify(call(1, 'add', [2, 5])),
          headers: { 'Content-Type': type, Origin: origin },
        });
        assert.equal(reply.status, 403, `${type} from ${origin}`);
        const error = errorOf(reply.json);
        assert.equal(error.code, -32600);
        assert.match(error.message, /Origin/);
      }
      assert.equal(runs, 0, 'a refused request ran the method');
      const plain = await rawRequest(server.port, {
        body: JSON.stringify(call(2, 'add', [2, 5])),
        headers: { 'Content-Type': 'text/plain' },
      });
      assert.deepEqual(plain.json, { jsonrpc: '2.0', id: 2, result: 7 });
      assert.equal(runs, 1);
    } finally {
      await server.close();
    }
  });

  it('allowedOrigins lets listed pages call, with CORS headers and preflights; others stay refused', async () => {
    const server = await serveJsonRpc(calculatorContract, calculator, {
      port: 0,
      allowedOrigins: ['https://app.example'],
    });
    try {
      const body = JSON.stringify(call(1, 'add', [2, 5]));
      const allowed = await rawRequest(server.port, { body, headers: { Origin: 'https://app.example' } });
      assert.equal(allowed.status, 200);
      assert.deepEqual(allowed.json, { jsonrpc: '2.0', id: 1, result: 7 });
      assert.equal(allowed.headers['access-control-allow-origin'], 'https://app.example');
      assert.equal(allowed.headers.vary, 'Origin');

      const preflight = await rawRequest(server.port, {
        method: 'OPTIONS',
        headers: {
          Origin: 'https://app.example',
          'Access-Control-Request-Method': 'POST',
          'Access-Control-Request-Headers': 'content-type',
        },
      });
      assert.equal(preflight.status, 204);
      assert.equal(preflight.headers['access-control-allow-origin'], 'https://app.example');
      assert.equal(preflight.headers['access-control-allow-methods'], 'POST');
      assert.equal(preflight.headers['access-control-allow-headers'], 'content-type');

      for (const origin of ['https://evil.example', 'https://app.example.evil', 'null']) {
        const refused = await rawRequest(server.port, { body, headers: { Origin: origin } });
        assert.equal(refused.status, 403, origin);
        assert.equal(refused.headers['access-control-allow-origin'], undefined, origin);
        const pre = await rawRequest(server.port, {
          method: 'OPTIONS',
          headers: { Origin: origin, 'Access-Control-Request-Method': 'POST' },
        });
        assert.equal(pre.status, 403, `preflight from ${origin}`);
      }
      // An allowed page using another method still gets 405, with its CORS header so it can read why.
      const get = await rawRequest(server.port, {
        method: 'GET',
        headers: { Origin: 'https://app.example' },
      });
      assert.equal(get.status, 405);
      assert.equal(get.headers['access-control-allow-origin'], 'https://app.example');
    } finally {
      await server.close();
    }
  });

  it('allowedOrigins ["*"] admits any page but not the opaque "null" origin', async () => {
    const server = await serveJsonRpc(calculatorContract, calculator, { port: 0, allowedOrigins: ['*'] });
    try {
      const body = JSON.stringify(call(1, 'add', [2, 5]));
      const any = await rawRequest(server.port, { body, headers: { Origin: 'https://anywhere.example' } });
      assert.deepEqual(any.json, { jsonrpc: '2.0', id: 1, result: 7 });
      assert.equal(any.headers['access-control-allow-origin'], 'https://anywhere.example');
      const opaque = await rawRequest(server.port, { body, headers: { Origin: 'null' } });
      assert.equal(opaque.status, 403);
    } finally {
      await server.close();
    }
  });
});
