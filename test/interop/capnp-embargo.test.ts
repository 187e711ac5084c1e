/**
 * Embargoes across implementations, with pycapnp 2.2.4 (the C++ reference RPC underneath) on the
 * other side, through a relay that counts the messages (test/support/capnp-relay.ts):
 * - our client -> reflector_server.py: our Counter's calls pipelined on the promised result
 *   come back from the C++ Reflector; our Disembargo (senderLoopback) is answered by its
 *   receiverLoopback behind them, and our calls made after the Return wait until then;
 * - reflector_client.py -> our Reflector: the C++ client embargoes, and our server reflects
 *   its Disembargo behind the calls it forwarded.
 * Either way the Counter must see every seq once, in order (issue 11). Mandatory under CI=true.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { freePort } from '../../src/net/free-port.js';
import { type CapnpSession, openCapnp, type RpcConnection } from '../../src/protocols/capnp/index.js';
import {
  counterNext,
  range,
  reflectorSchemaPath,
  runReflector,
  serveReflector,
} from '../support/capnp-reflector.js';
import {
  type CapnpRelay,
  type Direction,
  matches,
  type RelayedMessage,
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

function counter(log: readonly RelayedMessage[]) {
  return (dir: Direction, kind: string, detail?: string): number =>
    log.filter((m) => m.dir === dir && m.kind === kind && matches(m, detail)).length;
}

/** The embargo's messages, as the spec has them, in `log` (one reflected run of `pipelined` calls). */
function assertEmbargoMessages(log: readonly RelayedMessage[], next: string, pipelined: number): void {
  const count = counter(log);
  assert.equal(count('client->server', 'call', next), pipelined, 'only the pipelined calls went out');
  assert.equal(count('client->server', 'call', `promisedAnswer ${next}`), pipelined);
  assert.equal(count('server->client', 'call', `importedCap ${next}`), pipelined, 'reflected back');
  assert.equal(count('client->server', 'disembargo'), 1);
  assert.equal(count('client->server', 'disembargo', 'senderLoopback promisedAnswer'), 1);
  assert.equal(count('server->client', 'disembargo'), 1);
  assert.equal(count('server->client', 'disembargo', 'receiverLoopback'), 1);
  const back = log.findIndex((m) => m.dir === 'server->client' && m.kind === 'disembargo');
  const lastReflected = log.findLastIndex((m) => m.dir === 'server->client' && m.kind === 'call');
  assert.ok(back > lastReflected, `receiverLoopback at ${back}, last reflected call at ${lastReflected}`);
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

  for (const method of ['reflect', 'hold'] as const) {
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
        if (method === 'hold') assert.equal(run.held, 1);
        assert.equal(run.embargoesAfterResult, 1, 'the calls made after the Return waited on an embargo');
        assertEmbargoMessages(relay!.log.slice(mark), counterNext(), 10);
        assert.deepEqual(session.connection.tableSizes(), start, 'our tables are back to their start sizes');
      } finally {
        probe.release();
        await session.close();
      }
    });
  }
});

describe('capnp embargo interop: pycapnp client -> our Reflector', () => {
  for (const method of ['reflect', 'hold'] as const) {
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
        assert.equal(report.held, method === 'hold' ? 1 : null);
        assert.deepEqual(report.flushes, [0, 0, 0, 0]);

        assertEmbargoMessages(relay.log, counterNext(), 10);

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
