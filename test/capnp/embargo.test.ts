/**
 * Embargoes, ours against ours (issue 11: "calls stay in order when a promise resolves to a
 * local capability"). Our client passes its own Counter to our Reflector and pipelines next()
 * on the promised result: those calls go to the server and come back to the Counter. When the
 * Return says the result is the Counter itself, calls made on the same promised capability
 * from then on must wait behind the reflected ones: the client sends Disembargo
 * (senderLoopback) after them, the server reflects it (receiverLoopback) behind the calls it
 * forwarded, and only then are the waiting calls delivered. A relay between the two counts
 * the messages. `later` returns a promise instead, resolved to the Counter by a Resolve: the
 * imported promise embargoes, because calls went to the promised answer that resolved to it.
 * (Against pycapnp: test/interop/capnp-embargo.test.ts; the race: embargo-scripted.test.ts.)
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { RpcError } from '../../src/contract/index.js';
import {
  type Capability,
  type CapnpServer,
  type CapnpSession,
  openCapnp,
  type RpcConnection,
} from '../../src/protocols/capnp/index.js';
import {
  counterNext,
  range,
  reflectorSchemaPath,
  runReflector,
  serveReflector,
} from '../support/capnp-reflector.js';
import { type CapnpRelay, embargoSummary, startCapnpRelay } from '../support/capnp-relay.js';

type Sizes = ReturnType<RpcConnection['tableSizes']>;

describe('capnp embargo: our client -> our Reflector', () => {
  let server: CapnpServer;
  let relay: CapnpRelay;
  const served: RpcConnection[] = [];
  before(async () => {
    server = await serveReflector({ onConnection: (c) => served.push(c) });
    relay = await startCapnpRelay(server.port);
  });
  after(async () => {
    await relay?.close();
    await server?.close();
  });

  /**
   * A session through the relay, and a probe whose round trip (release(), nothing held) means
   * every Finish and Release sent before it has landed on both sides.
   */
  async function open(): Promise<{ session: CapnpSession; flush: () => Promise<void>; done: () => void }> {
    const session = await openCapnp({
      port: relay.port,
      schemaPath: reflectorSchemaPath,
      service: 'Reflector',
      timeoutMs: 15_000,
    });
    const probe = session.bootstrap();
    const flush = async () => {
      assert.equal((await probe.call('release').result).held, 0);
    };
    // Twice: the first call was pipelined on the Bootstrap, whose Finish went out after it.
    await flush();
    await flush();
    return {
      session,
      flush,
      done: () => {
        probe.release();
        void session.close();
      },
    };
  }

  function sizes(session: CapnpSession): { client: Sizes; server: Sizes } {
    return { client: session.connection.tableSizes(), server: served.at(-1)!.tableSizes() };
  }

  for (const method of ['reflect', 'hold', 'later'] as const) {
    it(`${method}: 10 calls pipelined on the reflected Counter, then 10 after it resolved, reach it in order`, async () => {
      const { session, flush, done } = await open();
      try {
        const start = sizes(session);
        const mark = relay.log.length;
        const run = await runReflector(session, method, 10, 20);
        await flush();

        assert.deepEqual(run.seen, range(0, 20), 'the Counter saw every seq once, in order');
        assert.deepEqual(run.replies, range(0, 20));
        if (method !== 'reflect') assert.equal(run.held, 1);
        assert.equal(run.embargoesBeforeLateCalls, 1, 'the late calls waited on an embargo');
        // Only the pipelined calls went out and came back; the late ones were delivered here,
        // after the server's Disembargo. The client's names the promise that resolved: the
        // promised answer (resolved by the Return) or the imported promise (by a Resolve).
        assert.deepEqual(embargoSummary(relay.log.slice(mark), counterNext()), {
          callsOut: 10,
          pipelinedOut: 10,
          reflected: 10,
          resolves: method === 'later' ? 1 : 0,
          disembargoesOut: [`senderLoopback ${method === 'later' ? 'importedCap' : 'promisedAnswer'}`],
          disembargoesBack: ['receiverLoopback importedCap'],
          backAfterReflected: true,
        });

        assert.deepEqual(sizes(session), start, 'both sides’ tables are back to their start sizes');
        assert.equal(start.client.embargoes, 0);
      } finally {
        done();
      }
    });
  }

  it('no call pipelined before the Return: no Disembargo, calls go straight to the Counter', async () => {
    const { session, flush, done } = await open();
    try {
      const start = sizes(session);
      const mark = relay.log.length;
      const run = await runReflector(session, 'reflect', 0, 10);
      await flush();
      assert.deepEqual(run.seen, range(0, 10));
      assert.equal(run.embargoesBeforeLateCalls, 0);
      const log = relay.log.slice(mark);
      assert.equal(log.filter((m) => m.kind === 'disembargo').length, 0);
      assert.equal(log.filter((m) => m.dir === 'server->client' && m.kind === 'call').length, 0);
      assert.deepEqual(sizes(session), start);
    } finally {
      done();
    }
  });

  it('the connection lost while calls wait on an embargo: they fail with TRANSPORT, none hangs', {
    timeout: 30_000,
  }, async () => {
    // The relay cuts the connection instead of passing on the client's Disembargo, so the
    // embargo can never be lifted by the peer.
    const cutting = await startCapnpRelay(server.port, {
      cutOn: (m) => m.dir === 'client->server' && m.kind === 'disembargo',
    });
    const session = await openCapnp({
      port: cutting.port,
      schemaPath: reflectorSchemaPath,
      service: 'Reflector',
      timeoutMs: 15_000,
    });
    const seen: number[] = [];
    const counter = session.serve('Counter', {
      next: ({ seq }) => {
        seen.push(seq as number);
        return { seq };
      },
    });
    const reflector = session.bootstrap();
    try {
      const pending = reflector.call('reflect', { cap: counter });
      const promised = pending.cap('cap');
      const early = range(0, 5).map((seq) => promised.call('next', { seq }).result);
      ((await pending.result).cap as Capability).release();
      assert.equal(session.connection.tableSizes().embargoes, 1);
      const late = range(5, 10).map((seq) => promised.call('next', { seq }).result);
      const outcomes = await Promise.allSettled(late);
      for (const o of outcomes) {
        assert.equal(o.status, 'rejected', 'a call queued behind the embargo cannot succeed');
        assert.ok(o.reason instanceof RpcError && o.reason.code === 'TRANSPORT', String(o.reason));
      }
      await Promise.allSettled(early);
      assert.ok(
        seen.every((seq, i) => seq < 5 && (i === 0 || seq > seen[i - 1]!)),
        `only reflected calls, in order: ${seen.join(',')}`,
      );
      assert.equal(session.connection.tableSizes().embargoes, 0);
      promised.release();
    } finally {
      counter.release();
      reflector.release();
      await session.close();
      await cutting.close();
    }
  });

  it('a Disembargo the peer never sends back: the held calls time out, none hangs', {
    timeout: 30_000,
  }, async () => {
    // The relay swallows the server's receiverLoopback reply; the connection stays up.
    const dropping = await startCapnpRelay(server.port, {
      dropOn: (m) => m.dir === 'server->client' && m.kind === 'disembargo',
    });
    const session = await openCapnp({
      port: dropping.port,
      schemaPath: reflectorSchemaPath,
      service: 'Reflector',
      timeoutMs: 500,
    });
    const seen: number[] = [];
    const counter = session.serve('Counter', {
      next: ({ seq }) => {
        seen.push(seq as number);
        return { seq };
      },
    });
    const reflector = session.bootstrap();
    try {
      const pending = reflector.call('reflect', { cap: counter });
      const promised = pending.cap('cap');
      const early = range(0, 5).map((seq) => promised.call('next', { seq }).result);
      ((await pending.result).cap as Capability).release();
      assert.equal(session.connection.tableSizes().embargoes, 1);
      const late = range(5, 10).map((seq) => promised.call('next', { seq }).result);
      for (const o of await Promise.allSettled(late)) {
        assert.equal(o.status, 'rejected', 'a call held behind a lost Disembargo cannot succeed');
        assert.ok(o.reason instanceof RpcError && o.reason.code === 'TIMEOUT', String(o.reason));
        assert.match(o.reason.message, /held by an embargo/);
      }
      assert.deepEqual(
        (await Promise.all(early)).map((r) => r.seq),
        range(0, 5),
      );
      assert.deepEqual(seen, range(0, 5), 'no held call reached the Counter');
      assert.equal(dropping.count('server->client', 'disembargo'), 1);
      promised.release();
    } finally {
      counter.release();
      reflector.release();
      await session.close();
      await dropping.close();
    }
  });
});
