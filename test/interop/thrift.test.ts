/**
 * Thrift interop with thriftpy2 0.7.1, both directions: the survey's Python server and client
 * as written (binary protocol, buffered transport: thriftpy2's defaults), then the full peers
 * (divide by zero as the IDL's DivideByZero, 1 MiB echo) over binary/buffered and
 * compact/framed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  calculator,
  calculatorContract,
  DivideByZeroError,
  InvalidArgumentError,
  RpcError,
} from '../../src/contract/index.js';
import { freePort } from '../../src/net/free-port.js';
import { thrift } from '../../src/protocols/thrift/index.js';
import type { RunningServer } from '../../src/protocols/types.js';
import { probeContract } from '../conformance/suite.js';
import { peerScript, requirePeers, runPythonScript, startPythonPeer } from '../support/peers.js';

function bytes(n: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 31 + 7) & 0xff);
}

/** Our variant name and the matching thriftpy2 factory flags. */
const COMBOS = [
  { variant: 'binary-buffered', args: [] as string[] },
  { variant: 'compact-framed', args: ['--protocol', 'compact', '--transport', 'framed'] },
] as const;

describe("thrift interop: the survey's code as written", () => {
  it("the survey's client.py against our server prints 7", async (t) => {
    if (!requirePeers(t)) return;
    const server = await thrift.serve(calculatorContract, calculator, { port: 0 });
    try {
      const run = await runPythonScript(peerScript('thrift', 'client.py'), [String(server.port)]);
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.stdout.trim(), '7');
    } finally {
      await server.close();
    }
  });

  it("our client against the survey's server.py gets 7; a method it lacks is NO_SUCH_METHOD", async (t) => {
    if (!requirePeers(t)) return;
    const port = await freePort();
    const peer = await startPythonPeer(peerScript('thrift', 'server.py'), port);
    // Default options: the same connect() the CLI's `rpclab call thrift add 2 5` uses.
    const client = await thrift.connect(probeContract, { port });
    try {
      assert.equal(await client.add(2, 5), 7);
      await assert.rejects(client.multiply(2, 3), (err: unknown) => {
        assert.ok(err instanceof RpcError, String(err));
        assert.equal(err.code, 'NO_SUCH_METHOD');
        return true;
      });
      assert.equal(await client.add(-3, 3), 0, 'the connection survives the unknown method');
    } finally {
      await client.close();
      await peer.stop();
    }
  });
});

for (const { variant, args } of COMBOS) {
  describe(`thrift interop [${variant}]: full_client.py -> our server`, () => {
    let server: RunningServer | undefined;
    before(async () => {
      server = await thrift.serve(calculatorContract, calculator, { port: 0, variant });
    });
    after(async () => {
      await server?.close();
    });

    it('add is 7, divide by zero arrives as DivideByZero, 1 MiB echo is intact', async (t) => {
      if (!requirePeers(t)) return;
      const run = await runPythonScript(peerScript('thrift', 'full_client.py'), [
        String(server!.port),
        ...args,
      ]);
      assert.equal(run.code, 0, run.stderr);
      const out = JSON.parse(run.stdout.trim()) as Record<string, unknown>;
      assert.deepEqual(out, { add: 7, divide_by_zero: 'DivideByZero: division by zero', echo_ok: true });
    });

    it('four Python clients at once all get their answers', async (t) => {
      if (!requirePeers(t)) return;
      const runs = await Promise.all(
        Array.from({ length: 4 }, () =>
          runPythonScript(peerScript('thrift', 'full_client.py'), [String(server!.port), ...args]),
        ),
      );
      for (const run of runs) {
        assert.equal(run.code, 0, run.stderr);
        assert.equal((JSON.parse(run.stdout.trim()) as { echo_ok: boolean }).echo_ok, true);
      }
    });
  });

  describe(`thrift interop [${variant}]: our client -> full_server.py`, () => {
    it('add, typed DivideByZeroError, InvalidArgument, unknown method, 1 MiB echo, pipelined calls', async (t) => {
      if (!requirePeers(t)) return;
      const port = await freePort();
      const peer = await startPythonPeer(peerScript('thrift', 'full_server.py'), port, { args });
      const client = await thrift.connect(probeContract, { port, variant, timeoutMs: 20_000 });
      try {
        assert.equal(await client.add(2, 5), 7);
        await assert.rejects(client.divide(1, 0), (err: unknown) => {
          assert.ok(err instanceof DivideByZeroError, `expected DivideByZeroError, got ${String(err)}`);
          assert.equal(err.remoteType, 'DivideByZero');
          assert.equal(err.message, 'division by zero');
          return true;
        });
        assert.equal(await client.divide(1, 4), 0.25);
        // The Python handler raises the IDL's InvalidArgument for an overflowing sum.
        await assert.rejects(
          client.add(2147483647, 1),
          (err: unknown) => err instanceof InvalidArgumentError,
        );
        await assert.rejects(client.multiply(2, 3), (err: unknown) => {
          assert.ok(err instanceof RpcError);
          assert.equal(err.code, 'NO_SUCH_METHOD');
          return true;
        });
        const data = bytes(1024 * 1024);
        const back = await client.echo(data);
        assert.ok(Buffer.from(back).equals(Buffer.from(data)), 'echoed bytes differ');
        // Many calls in flight on one connection: thriftpy2 answers in order, we match by seqid.
        const sums = await Promise.all(Array.from({ length: 50 }, (_, i) => client.add(i, i)));
        assert.deepEqual(
          sums,
          Array.from({ length: 50 }, (_, i) => 2 * i),
        );
      } finally {
        await client.close();
        await peer.stop();
      }
    });
  });
}
