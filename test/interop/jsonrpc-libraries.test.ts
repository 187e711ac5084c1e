/**
 * JSON-RPC interop with more Python JSON-RPC 2.0 libraries than the survey's jsonrpclib:
 * tinyrpc 1.1.7 and jsonrpcclient 4.0.3 as clients of our server (peers/python/jsonrpc/
 * libs_client.py), and our client against a jsonrpcserver 5.0.9 server (libs_server.py).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { calculator, calculatorContract, DivideByZeroError, RpcError } from '../../src/contract/index.js';
import { freePort } from '../../src/net/free-port.js';
import { jsonrpc } from '../../src/protocols/jsonrpc/index.js';
import { probeContract } from '../conformance/suite.js';
import { peerScript, requirePeers, runPythonScript, startPythonPeer } from '../support/peers.js';

const divideByZero = { code: 1001, message: 'division by zero', data: { code: 'DIVIDE_BY_ZERO' } };
// A request made only of notifications gets HTTP 200 with an empty body (docs/protocols/jsonrpc.md).
const notificationReply = { status: 200, body: '' };

describe('jsonrpc interop: tinyrpc and jsonrpcclient -> our server', () => {
  it('add, divide by zero, echo, unknown method, a batch and a notification', async (t) => {
    if (!requirePeers(t)) return;
    const server = await jsonrpc.serve(calculatorContract, calculator, { port: 0 });
    try {
      const run = await runPythonScript(peerScript('jsonrpc', 'libs_client.py'), [String(server.port)]);
      assert.equal(run.code, 0, run.stderr);
      const out = JSON.parse(run.stdout.trim()) as Record<string, Record<string, unknown>>;

      const tiny = out.tinyrpc!;
      assert.equal(tiny.add, 7);
      assert.deepEqual(tiny.divide_by_zero, divideByZero);
      assert.equal(tiny.echo_ok, true);
      assert.deepEqual(tiny.unknown, {
        code: -32601,
        message: 'no such method: multiply',
        data: { code: 'NO_SUCH_METHOD' },
      });
      // [result, error code] per call in request order; the trailing notification has no reply.
      assert.deepEqual(tiny.batch, [
        [3, null],
        [null, 1001],
        [7, null],
      ]);
      assert.deepEqual(tiny.notification, notificationReply);
      assert.equal(tiny.after_notification, 42);

      const jc = out.jsonrpcclient!;
      assert.equal(jc.add, 7);
      assert.deepEqual(jc.divide_by_zero, divideByZero);
      assert.equal(jc.echo_ok, true);
      assert.equal(jc.unknown, -32601);
      // [request index, result or error code]: index 2 is a notification, index 3 uses named params.
      assert.deepEqual(jc.batch, [
        [0, 3],
        [1, 1001],
        [3, 7],
      ]);
      assert.deepEqual(jc.notification, notificationReply);
    } finally {
      await server.close();
    }
  });
});

describe('jsonrpc interop: our client -> jsonrpcserver', () => {
  it('add, divide by zero, echo and an unknown method', async (t) => {
    if (!requirePeers(t)) return;
    const port = await freePort();
    const peer = await startPythonPeer(peerScript('jsonrpc', 'libs_server.py'), port);
    const client = await jsonrpc.connect(probeContract, { port, timeoutMs: 10_000 });
    try {
      assert.equal(await client.add(2, 5), 7);
      assert.equal(await client.divide(1, 4), 0.25);
      await assert.rejects(client.divide(1, 0), (err: unknown) => {
        assert.ok(err instanceof DivideByZeroError, `got ${String(err)}`);
        assert.equal(err.message, 'division by zero');
        return true;
      });
      // Our client rebuilds the typed error from data.code first, so check the peer's wire
      // error object too: the application code 1001 beside that data.
      const raw = await fetch(`http://127.0.0.1:${port}/`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', method: 'divide', params: [1, 0], id: 9 }),
        signal: AbortSignal.timeout(10_000),
      });
      assert.deepEqual(await raw.json(), { jsonrpc: '2.0', error: divideByZero, id: 9 });
      const all = Uint8Array.from({ length: 256 }, (_, i) => i);
      assert.deepEqual([...(await client.echo(all))], [...all]);
      const data = Uint8Array.from({ length: 1024 * 1024 }, (_, i) => (i * 31 + 7) & 0xff);
      assert.ok(Buffer.from(await client.echo(data)).equals(data), '1 MiB echo differs');
      await assert.rejects(client.multiply(2, 3), (err: unknown) => {
        assert.ok(err instanceof RpcError);
        assert.equal(err.code, 'NO_SUCH_METHOD', err.message);
        return true;
      });
      assert.equal(await client.add(-3, 3), 0, 'the client still works after an error');
      assert.equal(peer.stderr().includes('Traceback'), false, peer.stderr());
    } finally {
      await client.close();
      await peer.stop();
    }
  });
});
