/**
 * Fairness between peers: one peer flooding the server with calls that do not return must
 * not stall another peer's calls. The flooder's calls wait at a gate the test opens, so
 * "still blocked" is a fact, not a timing guess.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { type Calculator, calculator, calculatorContract, RpcError } from '../../src/contract/index.js';
import type { RunningServer } from '../../src/protocols/types.js';
import {
  connectZeromq,
  MAX_CONCURRENT_REQUESTS,
  MAX_PEER_REQUESTS,
  serveZeromq,
} from '../../src/protocols/zeromq/index.js';

interface Gate {
  impl: Calculator;
  release: () => void;
  isReleased: () => boolean;
  /** Resolves once `n` calls in all have reached the gate. */
  arrived: (n: number) => Promise<void>;
  count: () => number;
}

function gated(onArrive: () => void = () => undefined): Gate {
  let open: () => void = () => undefined;
  let released = false;
  let count = 0;
  const waiters: { n: number; resolve: () => void }[] = [];
  const gate = new Promise<void>((r) => {
    open = r;
  });
  // add(0, 0) waits at the gate; every other call answers at once.
  const impl: Calculator = {
    ...calculator,
    async add(a, b) {
      if (a === 0 && b === 0) {
        count++;
        for (const w of waiters.filter((x) => x.n <= count)) w.resolve();
        onArrive();
        await gate;
      }
      return a + b;
    },
  };
  return {
    impl,
    release: () => {
      released = true;
      open();
    },
    isReleased: () => released,
    count: () => count,
    arrived: (n) =>
      n <= count ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ n, resolve })),
  };
}

describe('zeromq server fairness', () => {
  let server: RunningServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it('a peer with as many blocked calls as the server-wide cap does not stall another peer', async () => {
    // Every one of the flooder's calls has been read once it is either blocked or refused.
    let refused = 0;
    let allRead: () => void = () => undefined;
    const readAll = new Promise<void>((r) => {
      allRead = r;
    });
    const progress = () => {
      if (gate.count() + refused === MAX_CONCURRENT_REQUESTS) allRead();
    };
    const gate = gated(progress);
    const { impl, release, isReleased } = gate;
    server = await serveZeromq(calculatorContract, impl, { port: 0 });
    const flooder = await connectZeromq(calculatorContract, {
      port: server.port,
      variant: 'dealer',
      timeoutMs: 120_000,
      retries: 0,
    });
    const other = await connectZeromq(calculatorContract, { port: server.port, timeoutMs: 30_000 });
    try {
      const flood = Array.from({ length: MAX_CONCURRENT_REQUESTS }, () =>
        flooder.add(0, 0).then(
          (value) => ({ value }),
          (error: unknown) => {
            refused++;
            progress();
            return { error };
          },
        ),
      );
      await readAll;
      // Before the per-peer cap all 10,000 were in progress, the server-wide cap, so the
      // server stopped reading and this call waited for the gate (here: TIMEOUT after 30 s).
      assert.equal(await other.add(2, 5), 7);
      assert.equal(isReleased(), false);
      assert.equal(gate.count(), MAX_PEER_REQUESTS);
      release();
      const outcomes = await Promise.all(flood);
      const ran = outcomes.filter((o) => 'value' in o);
      const errors = outcomes.filter((o) => 'error' in o);
      assert.equal(ran.length, MAX_PEER_REQUESTS);
      assert.equal(errors.length, MAX_CONCURRENT_REQUESTS - MAX_PEER_REQUESTS);
      for (const o of errors) {
        assert.ok(o.error instanceof RpcError);
        assert.equal(o.error.code, 'TRANSPORT');
        assert.match(o.error.message, /server busy: .*maxPeerRequests.*add was not run/);
      }
      // Slots were given back: the flooder is served again.
      assert.equal(await flooder.add(2, 5), 7);
    } finally {
      release();
      await flooder.close();
      await other.close();
    }
  });

  it('the server-wide cap still holds across peers: past it, reading waits for a free slot', async () => {
    const { impl, release, isReleased, arrived } = gated();
    server = await serveZeromq(calculatorContract, impl, { port: 0, maxRequests: 4, maxPeerRequests: 2 });
    const peers = await Promise.all(
      [0, 1, 2].map(() =>
        connectZeromq(calculatorContract, { port: server!.port, variant: 'dealer', timeoutMs: 30_000 }),
      ),
    );
    try {
      // Peer 0: two calls in progress, a third past its own cap is refused at once.
      const blocked = [peers[0]!.add(0, 0), peers[0]!.add(0, 0)];
      await assert.rejects(peers[0]!.add(1, 1), /server busy/);
      // Peer 1 fills the server-wide cap; once its calls are in progress, reading stops.
      blocked.push(peers[1]!.add(0, 0), peers[1]!.add(0, 0));
      await arrived(4);
      // A third peer's call is read only once a slot frees up: it cannot complete before.
      const third = peers[2]!.add(2, 5).then((v) => ({ v, afterRelease: isReleased() }));
      await new Promise((r) => setTimeout(r, 200));
      release();
      assert.deepEqual(await third, { v: 7, afterRelease: true });
      assert.deepEqual(await Promise.all(blocked), [0, 0, 0, 0]);
    } finally {
      release();
      await Promise.all(peers.map((p) => p.close()));
    }
  });

  it('refuses a cap below 1', async () => {
    await assert.rejects(
      serveZeromq(calculatorContract, calculator, { port: 0, maxPeerRequests: 0 }),
      /maxPeerRequests must be at least 1/,
    );
  });
});
