/**
 * Cap'n Proto interop, both directions, with pycapnp 2.2.4 (the C++ reference implementation
 * underneath, in .venv-peers/capnp): the survey's server and client (brought to 2.x), then the
 * full peers: two calls on one bootstrap capability, divide by zero raised on the other side,
 * a 1 MiB echo, a pipelined chained call (adder(10).adder.add(2) before adder() returns), a
 * callback capability called across the wire, and 10 concurrent calls.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { calculator, calculatorContract, DivideByZeroError, RpcError } from '../../src/contract/index.js';
import { freePort } from '../../src/net/free-port.js';
import { type CapnpSession, connectCapnp, openCapnp, serveCapnp } from '../../src/protocols/capnp/index.js';
import type { RunningServer } from '../../src/protocols/types.js';
import {
  type PythonPeer,
  peerScript,
  pythonForScript,
  requirePeerScript,
  runPythonScript,
  startPythonPeer,
} from '../support/peers.js';

const script = (name: string) => peerScript('capnp', name);

describe('capnp interop: pycapnp clients -> our server', () => {
  let server: RunningServer;
  before(async () => {
    server = await serveCapnp(calculatorContract, calculator, { port: 0 });
  });
  after(async () => {
    await server?.close();
  });

  it("the survey's client (pycapnp 2.x form) gets 7", async (t) => {
    if (!requirePeerScript(t, script('client.py'))) return;
    const run = await runPythonScript(script('client.py'), [String(server.port)], { timeoutMs: 60_000 });
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /2 \+ 5 = 7/);
  });

  it('the full client: two adds on one bootstrap, divide by zero, 1 MiB echo, pipelining, a callback, 10 concurrent', async (t) => {
    if (!requirePeerScript(t, script('full_client.py'))) return;
    const run = await runPythonScript(script('full_client.py'), [String(server.port)], { timeoutMs: 60_000 });
    assert.equal(run.code, 0, run.stderr);
    const report = JSON.parse(run.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
    assert.deepEqual(report.add, [7, 7]);
    assert.equal(report.divide, 2);
    assert.match(String(report.divide_by_zero), /DIVIDE_BY_ZERO/);
    assert.equal(report.echo_ok, true);
    assert.equal(report.pipelined_adder, 12);
    assert.equal(report.awaited_adder, 12);
    assert.equal(report.callback, 30);
    assert.equal(report.callback_calls, 1);
    assert.deepEqual(
      report.concurrent,
      Array.from({ length: 10 }, (_, i) => 2 * i),
    );
  });
});

describe('capnp interop: our client -> pycapnp servers', () => {
  let survey: PythonPeer | undefined;
  let full: PythonPeer | undefined;
  after(async () => {
    await survey?.stop();
    await full?.stop();
  });

  it("the survey's server answers add(2, 5) = 7", async (t) => {
    if (!requirePeerScript(t, script('server.py'))) return;
    survey = await startPythonPeer(script('server.py'), await freePort());
    const client = await connectCapnp(calculatorContract, { port: survey.port, timeoutMs: 15_000 });
    try {
      assert.equal(await client.add(2, 5), 7);
      assert.equal(await client.add(2, 5), 7, 'a second call on the same bootstrap capability');
    } finally {
      await client.close();
    }
  });

  describe('the full server', () => {
    let session: CapnpSession;
    before(async () => {
      // Each test below skips (or, under CI=true, fails) when the peer is missing.
      if (!existsSync(pythonForScript(script('full_server.py')))) return;
      full = await startPythonPeer(script('full_server.py'), await freePort());
      session = await openCapnp({ port: full.port, timeoutMs: 15_000 });
    });
    after(async () => {
      await session?.close();
    });

    it('contract calls: add twice on one bootstrap, divide by zero as the typed error, 1 MiB echo', async (t) => {
      if (!requirePeerScript(t, script('full_server.py'))) return;
      const client = await connectCapnp(calculatorContract, { port: full!.port, timeoutMs: 15_000 });
      try {
        assert.equal(await client.add(2, 5), 7);
        assert.equal(await client.add(2, 5), 7);
        assert.equal(await client.divide(6, 3), 2);
        await assert.rejects(client.divide(1, 0), (err: unknown) => {
          assert.ok(err instanceof DivideByZeroError, String(err));
          assert.equal(err.message, 'division by zero');
          return true;
        });
        const data = new Uint8Array(randomBytes(1024 * 1024));
        assert.ok(Buffer.from(await client.echo(data)).equals(Buffer.from(data)));
      } finally {
        await client.close();
      }
    });

    it('a pipelined chained call: adder(10).adder.add(2) sent before adder() returns', async (t) => {
      if (!requirePeerScript(t, script('full_server.py'))) return;
      const calc = session.bootstrap();
      const pending = calc.call('adder', { base: 10 });
      const adder = pending.cap('adder');
      const sum = adder.call('add', { x: 2 });
      // Both calls are on the wire before either has returned: two questions outstanding.
      assert.ok(session.connection.tableSizes().questions >= 2);
      assert.deepEqual(await sum.result, { result: 12 });
      const awaited = (await pending.result).adder as { release(): void };
      awaited.release();
      adder.release();
      calc.release();
    });

    it('a callback: apply(fn, 5, 6) calls our Function back across the wire', async (t) => {
      if (!requirePeerScript(t, script('full_server.py'))) return;
      let calls = 0;
      const calc = session.bootstrap();
      const fn = session.serve('Function', {
        call: ({ a, b }) => {
          calls++;
          return { result: (a as number) * (b as number) };
        },
      });
      assert.deepEqual(await calc.call('apply', { fn, a: 5, b: 6 }).result, { result: 30 });
      assert.equal(calls, 1);
      fn.release();
      calc.release();
    });

    it('10 concurrent calls', async (t) => {
      if (!requirePeerScript(t, script('full_server.py'))) return;
      const calc = session.bootstrap();
      const replies = await Promise.all(
        Array.from({ length: 10 }, (_, i) => calc.call('add', { a: i, b: i }).result),
      );
      assert.deepEqual(
        replies.map((r) => r.result),
        Array.from({ length: 10 }, (_, i) => 2 * i),
      );
      calc.release();
    });

    it("an unknown method gives pycapnp's unimplemented exception as NO_SUCH_METHOD", async (t) => {
      if (!requirePeerScript(t, script('full_server.py'))) return;
      const probe = {
        ...calculatorContract,
        methods: { ...calculatorContract.methods, multiply: calculatorContract.methods.add },
      };
      const client = await connectCapnp(probe, { port: full!.port, timeoutMs: 15_000 });
      try {
        await assert.rejects(client.multiply(2, 3), (err: unknown) => {
          assert.ok(err instanceof RpcError && err.code === 'NO_SUCH_METHOD', String(err));
          return true;
        });
        assert.equal(await client.add(2, 3), 5);
      } finally {
        await client.close();
      }
    });
  });
});
