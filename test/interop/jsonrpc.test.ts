/**
 * JSON-RPC interop with jsonrpclib-pelix, both directions: the survey's Python client and
 * server as written, then the full peers (divide by zero, 1 MiB echo as base64, batches,
 * and Python's bare Infinity token).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  type CalculatorClient,
  calculator,
  calculatorContract,
  DivideByZeroError,
  RpcError,
} from '../../src/contract/index.js';
import { freePort } from '../../src/net/free-port.js';
import { jsonrpc } from '../../src/protocols/jsonrpc/index.js';
import type { RunningServer } from '../../src/protocols/types.js';
import {
  type PythonPeer,
  peerScript,
  peersInstalled,
  requirePeers,
  runPythonScript,
  startPythonPeer,
} from '../support/peers.js';

function bytes(n: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 31 + 7) & 0xff);
}

describe('jsonrpc interop: Python clients -> our server', () => {
  let server: RunningServer | undefined;
  before(async () => {
    server = await jsonrpc.serve(calculatorContract, calculator, { port: 0 });
  });
  after(async () => {
    await server?.close();
  });

  it("the survey's client.py prints 7", async (t) => {
    if (!requirePeers(t)) return;
    const run = await runPythonScript(peerScript('jsonrpc', 'client.py'), [String(server!.port)]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout.trim(), '7');
  });

  it('full_client.py: add, divide by zero, 1 MiB echo and a batch', async (t) => {
    if (!requirePeers(t)) return;
    const run = await runPythonScript(peerScript('jsonrpc', 'full_client.py'), [String(server!.port)]);
    assert.equal(run.code, 0, run.stderr);
    const out = JSON.parse(run.stdout.trim()) as Record<string, unknown>;
    assert.equal(out.add, 7);
    assert.match(String(out.divide_by_zero), /^AppError: .*division by zero/);
    assert.equal(out.divide_by_zero_code, 1001);
    assert.deepEqual(out.divide_by_zero_data, { code: 'DIVIDE_BY_ZERO' });
    assert.equal(out.echo_ok, true);
    assert.deepEqual(out.batch, [3, 7]);
  });
});

describe('jsonrpc interop: our client -> Python servers', () => {
  it("the survey's server.py: add(2, 5) is 7, and a method it lacks is NO_SUCH_METHOD", async (t) => {
    if (!requirePeers(t)) return;
    const port = await freePort();
    const peer = await startPythonPeer(peerScript('jsonrpc', 'server.py'), port);
    const client = await jsonrpc.connect(calculatorContract, { port, timeoutMs: 10_000 });
    try {
      assert.equal(await client.add(2, 5), 7);
      await assert.rejects(client.divide(1, 2), (err: unknown) => {
        assert.ok(err instanceof RpcError);
        assert.equal(err.code, 'NO_SUCH_METHOD');
        return true;
      });
      assert.equal(await client.add(-3, 3), 0);
      // Python's a + b has no 32-bit bound: the sum is refused on our side as the contract's
      // INVALID_ARGUMENT (what our servers raise for the same call), not as PROTOCOL.
      await assert.rejects(client.add(2147483647, 1), (err: unknown) => {
        assert.ok(err instanceof RpcError);
        assert.equal(err.code, 'INVALID_ARGUMENT', err.message);
        return true;
      });
    } finally {
      await client.close();
      await peer.stop();
    }
  });

  describe('full_server.py', () => {
    let peer: PythonPeer | undefined;
    let client: CalculatorClient | undefined;
    before(async () => {
      if (!peersInstalled()) return; // each test reports the missing peers via requirePeers

      const port = await freePort();
      peer = await startPythonPeer(peerScript('jsonrpc', 'full_server.py'), port);
      client = await jsonrpc.connect(calculatorContract, { port, timeoutMs: 10_000 });
    });
    after(async () => {
      await client?.close();
      await peer?.stop();
    });

    it('add and divide', async (t) => {
      if (!requirePeers(t)) return;
      assert.equal(await client!.add(2, 5), 7);
      assert.equal(await client!.divide(1, 4), 0.25);
      // Python writes inf as the bare token Infinity, which strict JSON.parse rejects.
      assert.equal(await client!.divide(1e308, 1e-10), Number.POSITIVE_INFINITY);
    });

    it('divide by zero arrives as DivideByZeroError', async (t) => {
      if (!requirePeers(t)) return;
      await assert.rejects(client!.divide(1, 0), (err: unknown) => {
        assert.ok(err instanceof DivideByZeroError, `got ${String(err)}`);
        assert.equal(err.message, 'division by zero');
        return true;
      });
    });

    it('echo of 1 MiB and of every byte value', async (t) => {
      if (!requirePeers(t)) return;
      const data = bytes(1024 * 1024);
      assert.ok(Buffer.from(await client!.echo(data)).equals(Buffer.from(data)));
      const all = Uint8Array.from({ length: 256 }, (_, i) => i);
      assert.deepEqual([...(await client!.echo(all))], [...all]);
    });

    it('wrong argument types come back as INVALID_ARGUMENT', async (t) => {
      if (!requirePeers(t)) return;
      const add = client!.add as unknown as (a: unknown) => Promise<number>;
      // jsonrpclib answers a Python TypeError (wrong argument count) with -32602.
      await assert.rejects(
        add(1),
        (err: unknown) => err instanceof RpcError && err.code === 'INVALID_ARGUMENT',
      );
    });
  });
});
