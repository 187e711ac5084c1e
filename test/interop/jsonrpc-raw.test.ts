/**
 * JSON-RPC interop with a second, library-free implementation (peers/python/jsonrpc_raw/):
 * a spec check list sent as raw JSON over Python's http.client against our server, and our
 * client against a server written on http.server + json from the JSON-RPC 2.0 spec.
 * (jsonrpclib-pelix, the survey's library, is covered by test/interop/jsonrpc.test.ts.)
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  calculator,
  calculatorContract,
  DivideByZeroError,
  InvalidArgumentError,
  RpcError,
} from '../../src/contract/index.js';
import { freePort } from '../../src/net/free-port.js';
import { jsonrpc } from '../../src/protocols/jsonrpc/index.js';
import { probeContract } from '../conformance/suite.js';
import { peerScript, requirePeers, runPythonScript, startPythonPeer } from '../support/peers.js';

describe('jsonrpc interop with a library-free Python peer', () => {
  it('the spec check list (raw http.client) passes against our server', async (t) => {
    if (!requirePeers(t)) return;
    const server = await jsonrpc.serve(calculatorContract, calculator, { port: 0 });
    try {
      const run = await runPythonScript(peerScript('jsonrpc_raw', 'client.py'), [String(server.port)]);
      assert.equal(run.code, 0, run.stderr);
      const results = JSON.parse(run.stdout.trim()) as Record<string, string>;
      const failed = Object.entries(results).filter(([, v]) => v !== 'ok');
      assert.deepEqual(failed, [], 'checks failed');
      assert.ok(Object.keys(results).length >= 39, `only ${Object.keys(results).length} checks ran`);
    } finally {
      await server.close();
    }
  });

  it('our client against the http.server + json peer', async (t) => {
    if (!requirePeers(t)) return;
    const port = await freePort();
    const peer = await startPythonPeer(peerScript('jsonrpc_raw', 'server.py'), port);
    const client = await jsonrpc.connect(probeContract, { port, timeoutMs: 20_000 });
    try {
      assert.equal(await client.add(2, 5), 7);
      assert.equal(await client.add(-7, -8), -15);
      await assert.rejects(client.add(2147483647, 1), InvalidArgumentError);
      assert.equal(await client.divide(1, 4), 0.25);
      await assert.rejects(client.divide(1, 0), (err: unknown) => {
        assert.ok(err instanceof DivideByZeroError, String(err));
        assert.equal(err.message, 'division by zero');
        return true;
      });
      // Python's json writes bare Infinity / NaN tokens; our client reads them.
      assert.equal(await client.divide(1e308, 1e-10), Number.POSITIVE_INFINITY);
      assert.ok(Number.isNaN(await client.divide(Number.NaN, 1)));
      // Known limit: JSON.stringify writes -0 as 0, so -0.0 leaves us as 0 (documented).
      assert.ok(Object.is(await client.divide(-0, 5), 0));
      await assert.rejects(client.multiply(2, 3), (err: unknown) => {
        assert.ok(err instanceof RpcError);
        assert.equal(err.code, 'NO_SUCH_METHOD');
        return true;
      });
      const data = Uint8Array.from({ length: 1024 * 1024 }, (_, i) => (i * 31 + 7) & 0xff);
      assert.ok(Buffer.from(await client.echo(data)).equals(data), '1 MiB echo differs');
      const sums = await Promise.all(Array.from({ length: 20 }, (_, i) => client.add(i, i)));
      assert.deepEqual(
        sums,
        Array.from({ length: 20 }, (_, i) => 2 * i),
      );
    } finally {
      await client.close();
      await peer.stop();
    }
  });
});
