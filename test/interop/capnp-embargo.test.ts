/**
 * Embargoes across implementations, with pycapnp 2.2.4 (the C++ reference RPC underneath) on the
 * other side, through a relay that counts the messages (test/support/capnp-relay.ts):
 * - our client -> reflector_server.py: our Counter's calls pipelined on the promised result
 *   come back from the C++ Reflector; our Disembargo (senderLoopback) is answered by its
 *   receiverLoopback behind them, and our calls made after the Return wait until then;
 * - reflector_client.py -> our Reflector: the C++ client embargoes, and our server reflects
 *   its Disembargo behind the calls it forwarded.
 * Each with reflect (the Return resolves the promise), hold (the Return leaves after the pipelined
 * calls) and later (a promise returned, resolved by a Resolve). Either way the Counter must see
 * every seq once, in order (issue 11). Mandatory under CI=true.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { freePort } from '../../src/net/free-port.js';
import { type CapnpSession, openCapnp, type RpcConnection } from '../../src/protocols/capnp/index.js';
import {
  counterNext,
  type ReflectorMethod,
  range,
  reflectorSchemaPath,
  runReflector,
  serveReflector,
} from '../support/capnp-reflector.js';
import {
  type CapnpRelay,
  type EmbargoSummary,
  embargoSummary,
  startCapnpRelay,
} from '../support/capnp-relay.js';
import {
  type PythonPeer,
  peerScript,
  pythonForScript,
  requirePeerScript,
  runPythonScript,
  startPythonPeer,
} from '../support/peers.js';

const script = (name: string) => peerScript('capnp', name);

type Sizes = ReturnType<RpcConnection['tableSizes']>;

/** What the spec has on the wire for one run: only the pipelined calls go out, and come back. */
function expectedSummary(method: ReflectorMethod): EmbargoSummary {
  return {
    callsOut: 10,
    pipelinedOut: 10,
    reflected: 10,
    resolves: method === 'later' ? 1 : 0,
    // The promise that resolved to the caller's Counter: the promised answer (by the Return)
    // or, for later, the imported promise it resolved to (by a Resolve).
    disembargoesOut: [`senderLoopback ${method === 'later' ? 'importedCap' : 'promisedAnswer'}`],
    disembargoesBack: ['receiverLoopback importedCap'],
    backAfterReflected: true,
  };
}

describe('capnp embargo interop: our client -> pycapnp Reflector', () => {
  let peer: PythonPeer | undefined;
  let relay: CapnpRelay | undefined;
  before(async () => {
    // Each test below skips (or, under CI=true, fails) when the peer is missing.
    if (!existsSync(pythonForScript(script('reflector_server.py')))) return;
    peer = await startPythonPeer(script('reflector_server.py'), await freePort());
    relay = await startCapnpRelay(peer.port);
  });
  after(async () => {
    await relay?.close();
    await peer?.stop();
  });

  for (const method of ['reflect', 'hold', 'later'] as const) {
    it(`${method}: 10 calls pipelined on the reflected Counter, then 10 after it resolved, reach it in order`, async (t) => {
      if (!requirePeerScript(t, script('reflector_server.py'))) return;
      const session: CapnpSession = await openCapnp({
        port: relay!.port,
        schemaPath: reflectorSchemaPath,
        service: 'Reflector',
        timeoutMs: 15_000,
      });
      const probe = session.bootstrap();
      const flush = async () => assert.equal((await probe.call('release').result).held, 0);
      try {
        await flush();
        await flush();
        const start = session.connection.tableSizes();
        const mark = relay!.log.length;
        const run = await runReflector(session, method, 10, 20);
        await flush();

        assert.deepEqual(run.seen, range(0, 20), 'the Counter saw every seq once, in order');
        assert.deepEqual(run.replies, range(0, 20));
        if (method !== 'reflect') assert.equal(run.held, 1);
        const summary = embargoSummary(relay!.log.slice(mark), counterNext());
        if (method === 'later') {
          // pycapnp sends its Resolve when the held call returns, after release()'s Return or
          // (not seen so far) before it: the late calls went to the imported promise and all
          // came back, or were held here behind the embargo. Either way the rest is the same.
          assert.ok(summary.callsOut === 10 || summary.callsOut === 20, `${summary.callsOut} calls out`);
          assert.deepEqual(summary, {
            ...expectedSummary(method),
            callsOut: summary.callsOut,
            reflected: summary.callsOut,
          });
        } else {
          assert.equal(
            run.embargoesBeforeLateCalls,
            1,
            'the calls made after the Return waited on an embargo',
          );
          assert.deepEqual(summary, expectedSummary(method));
        }
        assert.deepEqual(session.connection.tableSizes(), start, 'our tables are back to their start sizes');
      } finally {
        probe.release();
        await session.close();
      }
    });
  }
});

describe('capnp embargo interop: pycapnp client -> our Reflector', () => {
  for (const method of ['reflect', 'hold', 'later'] as const) {
    it(`${method}: the C++ client's Counter sees its pipelined and later calls in order`, async (t) => {
      if (!requirePeerScript(t, script('reflector_client.py'))) return;
      const served: RpcConnection[] = [];
      // Our tables as each release() arrives: the client sends two before and two after the run.
      const snapshots: { held: number; sizes: Sizes }[] = [];
      const server = await serveReflector({ onConnection: (c) => served.push(c) }, (held) =>
        snapshots.push({ held, sizes: served.at(-1)!.tableSizes() }),
      );
      const relay = await startCapnpRelay(server.port);
      try {
        const run = await runPythonScript(
          script('reflector_client.py'),
          [String(relay.port), '10', '20', method],
          {
            timeoutMs: 60_000,
          },
        );
        assert.equal(run.code, 0, run.stderr);
        const report = JSON.parse(run.stdout.trim().split('\n').pop()!) as {
          seen: number[];
          replies: number[];
          held: number | null;
          flushes: number[];
        };
        assert.deepEqual(report.seen, range(0, 20), 'the Counter saw every seq once, in order');
        assert.deepEqual(report.replies, range(0, 20));
        assert.equal(report.held, method === 'reflect' ? null : 1);
        assert.deepEqual(report.flushes, [0, 0, 0, 0]);

        assert.deepEqual(embargoSummary(relay.log, counterNext()), expectedSummary(method));

        const flushes = snapshots.filter((s) => s.held === 0);
        assert.equal(flushes.length, 4);
        assert.deepEqual(flushes[3]!.sizes, flushes[1]!.sizes, 'our tables are back to their start sizes');
      } finally {
        await relay.close();
        await server.close();
      }
    });
  }
});
