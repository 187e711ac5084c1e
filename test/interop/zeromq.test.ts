/**
 * ZeroMQ + msgpack interop with pyzmq 27.3.0 / msgpack 1.2.4, both directions: the survey's
 * REP server and REQ client as written, then the full peers (divide by zero, 1 MiB echo,
 * msgpack type fidelity). Our client runs in both variants against the Python REP servers.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ExtData } from '@msgpack/msgpack';
import {
  calculator,
  calculatorContract,
  DivideByZeroError,
  defineContract,
  RpcError,
} from '../../src/contract/index.js';
import { freePort } from '../../src/net/free-port.js';
import type { RunningServer } from '../../src/protocols/types.js';
import { connectZeromq, serveZeromq, ZEROMQ_VARIANTS } from '../../src/protocols/zeromq/index.js';
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

function hasCode(code: string) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof RpcError, `expected an RpcError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return true;
  };
}

/** full_server.py's probe: reports the Python type each argument arrived as. */
const probeContract = defineContract({
  name: 'Probe',
  namespace: 'probe',
  methods: {
    describe_params: {
      params: [
        { name: 'i', type: 'i32' },
        { name: 'whole_double', type: 'double' },
        { name: 'double', type: 'double' },
        { name: 's', type: 'string' },
        { name: 'b', type: 'binary' },
        { name: 'big', type: 'i64' },
        { name: 'flag', type: 'bool' },
      ],
      result: 'dynamic',
    },
  },
});

describe('zeromq interop: Python clients -> our ROUTER server', () => {
  let server: RunningServer | undefined;
  before(async () => {
    server = await serveZeromq(calculatorContract, calculator, { port: 0 });
  });
  after(async () => {
    await server?.close();
  });

  it("the survey's client.py prints {'result': 7}", async (t) => {
    if (!requirePeers(t)) return;
    const run = await runPythonScript(peerScript('zeromq', 'client.py'), [String(server!.port)]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout.trim(), "{'result': 7}");
  });

  it('full_client.py: types, divide by zero, 1 MiB echo, unknown method', async (t) => {
    if (!requirePeers(t)) return;
    const run = await runPythonScript(peerScript('zeromq', 'full_client.py'), [String(server!.port)]);
    assert.equal(run.code, 0, run.stderr);
    const out = JSON.parse(run.stdout.trim()) as Record<string, unknown>;
    assert.equal(out.add, 7);
    assert.equal(out.add_type, 'int');
    // 6.0 / 3.0 = 2 in JavaScript; the contract says double, so it travels as a msgpack float.
    assert.equal(out.divide, 2);
    assert.equal(out.divide_type, 'float');
    assert.equal(out.divide_by_zero, 'DIVIDE_BY_ZERO: division by zero');
    assert.equal(out.echo_ok, true);
    assert.equal(out.echo_type, 'bytes');
    assert.equal(out.unknown, 'NO_SUCH_METHOD: no such method: multiply');
  });

  it("encodings_client.py: other encoders' forms, ids of every type, refused input, DEALER framings", async (t) => {
    if (!requirePeers(t)) return;
    const run = await runPythonScript(peerScript('zeromq', 'encodings_client.py'), [String(server!.port)]);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(JSON.parse(run.stdout.trim()), {
      map16: 7,
      map32: 7,
      str8_keys: 7,
      str16_key: 7,
      array32_int64: -3,
      int8_int32: 3,
      float32_divide: 3,
      extra_keys: 7,
      // each id comes back equal to what was sent, of the same Python type
      id_timestamp: true, // Timestamp(1, 123456789): its nanoseconds too
      id_ext: true,
      id_uint64_max: true,
      id_int64_min: true,
      id_str: true,
      // what Python's msgpack would refuse to unpack, we refuse too
      int_key: 'ERR:PROTOCOL',
      not_utf8: 'ERR:PROTOCOL',
      trailing_byte: 'ERR:PROTOCOL',
      // a DEALER with its own routing id and no delimiter gets no delimiter back
      dealer_no_delimiter: [1, { result: 7, id: 1 }],
      dealer_delimiter: [2, { result: 7 }],
    });
  });
});

for (const variant of ZEROMQ_VARIANTS) {
  describe(`zeromq interop [${variant}]: our client -> Python REP servers`, () => {
    it("the survey's server.py: add(2, 5) is 7; its string error is NO_SUCH_METHOD", async (t) => {
      if (!requirePeers(t)) return;
      const port = await freePort();
      const peer = await startPythonPeer(peerScript('zeromq', 'server.py'), port);
      const client = await connectZeromq(calculatorContract, { port, variant, timeoutMs: 10_000 });
      try {
        assert.equal(await client.add(2, 5), 7);
        await assert.rejects(client.divide(1, 2), (err: unknown) => {
          hasCode('NO_SUCH_METHOD')(err);
          assert.match((err as Error).message, /unknown method/);
          return true;
        });
        assert.equal(await client.add(-3, 3), 0);
        // The survey's server ignores "id": replies are matched by REP's strict order.
        const sums = await Promise.all(Array.from({ length: 200 }, (_, i) => client.add(i, i)));
        assert.deepEqual(
          sums,
          Array.from({ length: 200 }, (_, i) => 2 * i),
        );
      } finally {
        await client.close();
        await peer.stop();
      }
    });

    describe('full_server.py', () => {
      let peer: PythonPeer | undefined;
      let port = 0;
      before(async () => {
        if (!peersInstalled()) return; // each test reports the missing peers via requirePeers
        port = await freePort();
        peer = await startPythonPeer(peerScript('zeromq', 'full_server.py'), port);
      });
      after(async () => {
        await peer?.stop();
      });

      it('add, divide, divide by zero as DivideByZeroError, 1 MiB echo', async (t) => {
        if (!requirePeers(t)) return;
        const client = await connectZeromq(calculatorContract, { port, variant, timeoutMs: 10_000 });
        try {
          assert.equal(await client.add(2, 5), 7);
          assert.equal(await client.divide(1, 4), 0.25);
          await assert.rejects(client.divide(1, 0), (err: unknown) => {
            assert.ok(err instanceof DivideByZeroError, `got ${String(err)}`);
            // Python's own words: the doubles arrive as floats, hence "float division by zero".
            assert.equal(err.message, 'float division by zero');
            assert.equal(err.remoteType, 'ZeroDivisionError');
            return true;
          });
          const data = bytes(1024 * 1024);
          assert.ok(Buffer.from(await client.echo(data)).equals(Buffer.from(data)));
          const all = Uint8Array.from({ length: 256 }, (_, i) => i);
          assert.deepEqual([...(await client.echo(all))], [...all]);
        } finally {
          await client.close();
        }
      });

      it('msgpack types arrive in Python as int, float, str, bytes, bool', async (t) => {
        if (!requirePeers(t)) return;
        const client = await connectZeromq(probeContract, { port, variant, timeoutMs: 10_000 });
        try {
          const types = await client.describe_params(7, 3, 0.5, 'héllo', bytes(3), 2n ** 40n, true);
          assert.deepEqual(types, ['int', 'float', 'float', 'str', 'bytes', 'int', 'bool']);
        } finally {
          await client.close();
        }
      });

      it('a method the peer lacks is NO_SUCH_METHOD; calls in flight all answer', async (t) => {
        if (!requirePeers(t)) return;
        const lacking = defineContract({
          ...calculatorContract,
          methods: { multiply: calculatorContract.methods.add },
        });
        const client = await connectZeromq(lacking, { port, variant, timeoutMs: 10_000 });
        try {
          await assert.rejects(client.multiply(2, 3), hasCode('NO_SUCH_METHOD'));
        } finally {
          await client.close();
        }
        const calc = await connectZeromq(calculatorContract, { port, variant, timeoutMs: 10_000 });
        try {
          const sums = await Promise.all(Array.from({ length: 200 }, (_, i) => calc.add(i, 1)));
          assert.deepEqual(
            sums,
            Array.from({ length: 200 }, (_, i) => i + 1),
          );
        } finally {
          await calc.close();
        }
      });
    });
  });
}

/** What router_shapes_server.py answers, each method in another server's reply shape. */
const shapesContract = defineContract({
  name: 'Shapes',
  namespace: 'shapes',
  methods: {
    add: calculatorContract.methods.add,
    nothing: { params: [], result: 'dynamic' },
    fail: { params: [], result: 'dynamic' },
    listing: { params: [], result: 'dynamic' },
    two: { params: [], result: 'dynamic' },
    big: { params: [], result: 'dynamic' },
    stamp: { params: [], result: 'dynamic' },
    missing: { params: [], result: 'dynamic' },
  },
});

for (const variant of ZEROMQ_VARIANTS) {
  describe(`zeromq interop [${variant}]: our client -> a Python ROUTER server with other reply shapes`, () => {
    it('each shape is a result or a clear typed error, and pipelined calls stay matched', async (t) => {
      if (!requirePeers(t)) return;
      const port = await freePort();
      const peer = await startPythonPeer(peerScript('zeromq', 'router_shapes_server.py'), port);
      const client = await connectZeromq(shapesContract, { port, variant, timeoutMs: 10_000 });
      try {
        assert.equal(await client.add(2, 5), 7, '{"error": None, "result": 7} is a result');
        assert.equal(await client.nothing(), null);
        await assert.rejects(client.fail(), (err: unknown) => {
          hasCode('INTERNAL')(err);
          assert.equal((err as Error).message, 'disk on fire');
          return true;
        });
        await assert.rejects(client.listing(), hasCode('PROTOCOL'));
        await assert.rejects(client.two(), hasCode('PROTOCOL')); // not 2, from the second frame
        assert.equal(await client.big(), 2n ** 64n - 1n);
        const stamp = await client.stamp();
        assert.ok(stamp instanceof ExtData && stamp.type === -1, String(stamp));
        assert.ok(stamp.data instanceof Uint8Array);
        assert.equal(Buffer.from(stamp.data).toString('hex'), '0000001400000001'); // 5 ns, 1 s
        await assert.rejects(client.missing(), hasCode('NO_SUCH_METHOD'));
        const sums = await Promise.all(Array.from({ length: 200 }, (_, i) => client.add(i, 1)));
        assert.deepEqual(
          sums,
          Array.from({ length: 200 }, (_, i) => i + 1),
        );
      } finally {
        await client.close();
        await peer.stop();
      }
    });
  });
}
