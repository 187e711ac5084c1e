/**
 * Many calls at once: 1,000 in flight from one client (pipelined on one DEALER socket, or
 * queued client-side for REQ), replies out of order matched by id, and many REQ clients
 * served concurrently by the one ROUTER.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type Calculator, calculator, calculatorContract } from '../../src/contract/index.js';
import type { RunningServer } from '../../src/protocols/types.js';
import { connectZeromq, serveZeromq, ZEROMQ_VARIANTS } from '../../src/protocols/zeromq/index.js';

describe('zeromq pipelining', () => {
  let server: RunningServer;
  let releaseGate: () => void = () => undefined;
  let gateReached: () => void = () => undefined;
  let gate = new Promise<void>((r) => {
    releaseGate = r;
  });
  let reached = new Promise<void>((r) => {
    gateReached = r;
  });
  const resetGate = () => {
    gate = new Promise<void>((r) => {
      releaseGate = r;
    });
    reached = new Promise<void>((r) => {
      gateReached = r;
    });
  };
  // add(0, 0) waits at a gate the test opens, so a reply can be forced out of order.
  const impl: Calculator = {
    ...calculator,
    async add(a, b) {
      if (a === 0 && b === 0) {
        gateReached();
        await gate;
      }
      return a + b;
    },
  };

  before(async () => {
    server = await serveZeromq(calculatorContract, impl, { port: 0 });
  });
  after(async () => {
    await server?.close();
  });

  for (const variant of ZEROMQ_VARIANTS) {
    it(`[${variant}] 1,000 calls in flight from one client all answer correctly`, async () => {
      const client = await connectZeromq(calculatorContract, {
        port: server.port,
        variant,
        timeoutMs: 60_000,
      });
      try {
        const n = 1_000;
        const calls: Promise<number | Uint8Array>[] = [];
        for (let i = 1; i <= n; i++) {
          // Mixed methods and sizes, so replies differ in size and kind.
          if (i % 10 === 0) calls.push(client.echo(new Uint8Array(i).fill(i & 0xff)));
          else calls.push(client.add(i, -2 * i));
        }
        const results = await Promise.all(calls);
        results.forEach((r, k) => {
          const i = k + 1;
          if (i % 10 === 0) {
            assert.ok(r instanceof Uint8Array && r.byteLength === i && r.every((x) => x === (i & 0xff)));
          } else assert.equal(r, -i);
        });
      } finally {
        await client.close();
      }
    });
  }

  it('[dealer] a slow call does not hold up the others: replies are matched by id', async () => {
    resetGate();
    const client = await connectZeromq(calculatorContract, {
      port: server.port,
      variant: 'dealer',
      timeoutMs: 30_000,
    });
    try {
      let slowDone = false;
      const slow = client.add(0, 0).then((v) => {
        slowDone = true;
        return v;
      });
      await reached;
      const fast = await Promise.all(Array.from({ length: 50 }, (_, i) => client.add(i + 1, 1)));
      assert.deepEqual(
        fast,
        Array.from({ length: 50 }, (_, i) => i + 2),
      );
      assert.equal(slowDone, false, 'the fast calls were answered while the slow one waited');
      releaseGate();
      assert.equal(await slow, 0);
    } finally {
      releaseGate();
      await client.close();
    }
  });

  it('[req] many lock-step clients are served at once by the ROUTER', async () => {
    resetGate();
    const blocked = await connectZeromq(calculatorContract, {
      port: server.port,
      variant: 'req',
      timeoutMs: 30_000,
    });
    const others = await Promise.all(
      Array.from({ length: 20 }, () =>
        connectZeromq(calculatorContract, { port: server.port, variant: 'req', timeoutMs: 30_000 }),
      ),
    );
    try {
      const slow = blocked.add(0, 0);
      await reached;
      // With a REP server these would wait behind the blocked call; the ROUTER answers them.
      const sums = await Promise.all(others.map((c, i) => c.add(i + 1, i)));
      assert.deepEqual(
        sums,
        others.map((_, i) => 2 * i + 1),
      );
      releaseGate();
      assert.equal(await slow, 0);
    } finally {
      releaseGate();
      await blocked.close();
      await Promise.all(others.map((c) => c.close()));
    }
  });
});
