/**
 * Thrift interop with the official Apache Thrift Python library (thrift 0.25, code generated
 * from our calculator.thrift: peers/python/thrift_apache/), both directions, in all four
 * variants: a second implementation next to thriftpy2 (test/interop/thrift.test.ts).
 * Covers declared exceptions, UNKNOWN_METHOD, a mistyped argument, negative numbers,
 * -0.0 / NaN / Infinity doubles and a 1 MiB echo.
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

function peerArgs(variant: string, protocol?: string): string[] {
  const [encoding, transport] = variant.split('-') as [string, string];
  return ['--protocol', protocol ?? encoding, '--transport', transport];
}

/** What peers/python/thrift_apache/client.py prints against our server, in every variant. */
const EXPECTED_FROM_OUR_SERVER = {
  add: 7,
  add_negative: -15,
  add_min: -2147483648,
  add_overflow: 'InvalidArgument: add: result is out of the 32-bit integer range: 2147483648',
  divide: 0.25,
  divide_by_zero: 'DivideByZero: division by zero',
  divide_negative_zero: '-0.0',
  divide_nan: 'nan',
  divide_inf: 'inf',
  divide_overflow_to_inf: 'inf',
  echo_ok: true,
  echo_empty: '',
  // Our server echoes the caller's seqid and method name in the TApplicationException.
  unknown_method: {
    error: 'TApplicationException(1): no such method: multiply',
    name: 'multiply',
    seqid: 77,
  },
  // Field 1 sent as a string: skipped, and named in the InvalidArgument that add declares.
  mistyped_argument: {
    error: "InvalidArgument: add: argument 'a' (field 1) arrived as string, expected i32",
    name: 'add',
    seqid: 77,
  },
  add_after_errors: 42,
};

for (const variant of thrift.variants) {
  describe(`thrift interop with Apache Thrift (Python) [${variant}]`, () => {
    let server: RunningServer | undefined;
    before(async () => {
      server = await thrift.serve(calculatorContract, calculator, { port: 0, variant });
    });
    after(async () => {
      await server?.close();
    });

    it('the official client against our server: values, declared exceptions, UNKNOWN_METHOD, doubles, 1 MiB', async (t) => {
      if (!requirePeers(t)) return;
      const run = await runPythonScript(peerScript('thrift_apache', 'client.py'), [
        String(server!.port),
        ...peerArgs(variant),
      ]);
      assert.equal(run.code, 0, run.stderr);
      assert.deepEqual(JSON.parse(run.stdout.trim()), EXPECTED_FROM_OUR_SERVER);
    });

    it('our client against the official TThreadedServer', async (t) => {
      if (!requirePeers(t)) return;
      const port = await freePort();
      const peer = await startPythonPeer(peerScript('thrift_apache', 'server.py'), port, {
        args: peerArgs(variant),
      });
      const client = await thrift.connect(probeContract, { port, variant, timeoutMs: 20_000 });
      try {
        assert.equal(await client.add(2, 5), 7);
        assert.equal(await client.add(-7, -8), -15);
        await assert.rejects(client.add(2147483647, 1), (err: unknown) => {
          assert.ok(err instanceof InvalidArgumentError, String(err));
          assert.equal(err.remoteType, 'InvalidArgument');
          return true;
        });
        await assert.rejects(client.divide(1, 0), (err: unknown) => {
          assert.ok(err instanceof DivideByZeroError, String(err));
          assert.equal(err.message, 'division by zero');
          return true;
        });
        assert.ok(Object.is(await client.divide(-0, 5), -0), '-0.0 lost its sign');
        assert.ok(Number.isNaN(await client.divide(Number.NaN, 1)));
        assert.equal(await client.divide(Number.NEGATIVE_INFINITY, 2), Number.NEGATIVE_INFINITY);
        assert.equal(await client.divide(2 ** -1019, 2), 2 ** -1020);
        // The generated Python processor answers UNKNOWN_METHOD with "Unknown function multiply".
        await assert.rejects(client.multiply(2, 3), (err: unknown) => {
          assert.ok(err instanceof RpcError);
          assert.equal(err.code, 'NO_SUCH_METHOD');
          assert.equal(err.remoteType, 'TApplicationException');
          assert.match(err.message, /multiply/);
          return true;
        });
        const data = Uint8Array.from({ length: 1024 * 1024 }, (_, i) => (i * 31 + 7) & 0xff);
        assert.ok(Buffer.from(await client.echo(data)).equals(data), '1 MiB echo differs');
        assert.equal((await client.echo(new Uint8Array(0))).byteLength, 0);
        const sums = await Promise.all(Array.from({ length: 50 }, (_, i) => client.add(i, -2 * i)));
        assert.deepEqual(
          sums,
          Array.from({ length: 50 }, (_, i) => (i === 0 ? 0 : -i)),
        );
      } finally {
        await client.close();
        await peer.stop();
      }
    });
  });
}

describe('thrift interop with Apache Thrift (Python): TMultiplexedProtocol client', () => {
  for (const variant of ['binary-buffered', 'compact-framed']) {
    it(`"Calculator:add" is served, another service is UNKNOWN_METHOD [${variant}]`, async (t) => {
      if (!requirePeers(t)) return;
      const server = await thrift.serve(calculatorContract, calculator, { port: 0, variant });
      try {
        const run = await runPythonScript(peerScript('thrift_apache', 'multiplexed_client.py'), [
          String(server.port),
          ...peerArgs(variant),
        ]);
        assert.equal(run.code, 0, run.stderr);
        assert.deepEqual(JSON.parse(run.stdout.trim()), {
          add: 42,
          divide_by_zero: 'DivideByZero: division by zero',
          unknown_service:
            "TApplicationException(1): unknown service 'Nope' in 'Nope:add' (this server serves Calculator, with or without the 'Service:' prefix)",
          plain_add: 2,
        });
      } finally {
        await server.close();
      }
    });
  }
});

describe('thrift interop with Apache Thrift (Python): other server and protocol classes', () => {
  it('our client against TSimpleServer (binary-framed)', async (t) => {
    if (!requirePeers(t)) return;
    const port = await freePort();
    const peer = await startPythonPeer(peerScript('thrift_apache', 'server.py'), port, {
      args: [...peerArgs('binary-framed'), '--server', 'simple'],
    });
    const client = await thrift.connect(calculatorContract, { port, variant: 'binary-framed' });
    try {
      assert.equal(await client.add(2, 5), 7);
      await assert.rejects(client.divide(1, 0), DivideByZeroError);
    } finally {
      await client.close();
      await peer.stop();
    }
  });

  it('the C-accelerated binary protocol (fastbinary) against our server', async (t) => {
    if (!requirePeers(t)) return;
    const server = await thrift.serve(calculatorContract, calculator, { port: 0 });
    try {
      const run = await runPythonScript(peerScript('thrift_apache', 'client.py'), [
        String(server.port),
        ...peerArgs('binary-buffered', 'accelerated'),
      ]);
      assert.equal(run.code, 0, run.stderr);
      assert.deepEqual(JSON.parse(run.stdout.trim()), EXPECTED_FROM_OUR_SERVER);
    } finally {
      await server.close();
    }
  });
});
