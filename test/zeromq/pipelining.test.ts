/**
 * Many calls at once: 1,000 in flight from one client (pipelined on one DEALER socket, or
 * queued client-side for REQ), replies out of order matched by id, and many REQ clients
 * served concurrently by the one ROUTER.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Dealer } from 'zeromq';
import { type Calculator, calculator, calculatorContract, TimeoutError } from '../../src/contract/index.js';
import type { RunningServer } from '../../src/protocols/types.js';
import { connectZeromq, serveZeromq, ZEROMQ_VARIANTS } from '../../src/protocols/zeromq/index.js';
import { decodeValue, encodeValue } from '../../src/protocols/zeromq/msgpack.js';

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

  it('a raw DEALER burst of 5,000 requests, good and bad, gets exactly one reply each', async () => {
    // The server sends each reply the moment it is ready (no send queue): none may be lost.
    const dealer = new Dealer({ linger: 0, receiveTimeout: 20_000, sendHighWaterMark: 0 });
    dealer.connect(server.address);
    try {
      const n = 5_000;
      for (let id = 1; id <= n; id++) {
        const request =
          id % 7 === 0 ? { method: 'nope', params: [], id } : { method: 'add', params: [id, 1], id };
        await dealer.send(['', encodeValue(request)]);
      }
      const seen = new Set<number>();
      for (let k = 0; k < n; k++) {
        const frames = await dealer.receive();
        assert.equal(frames.length, 2, 'delimiter and body');
        const reply = decodeValue(frames[1]!) as { id: number; result?: number; error?: { code: string } };
        assert.ok(!seen.has(reply.id), `reply ${reply.id} came twice`);
        seen.add(reply.id);
        if (reply.id % 7 === 0) assert.equal(reply.error?.code, 'NO_SUCH_METHOD');
        else assert.equal(reply.result, reply.id + 1);
      }
      assert.equal(seen.size, n);
    } finally {
      dealer.close();
    }
  });

  it('closing the server while a call is being handled drops its reply quietly', async () => {
    resetGate();
    const own = await serveZeromq(calculatorContract, impl, { port: 0 });
    const client = await connectZeromq(calculatorContract, {
      port: own.port,
      variant: 'dealer',
      timeoutMs: 500,
    });
    try {
      const slow = client.add(0, 0);
      await reached;
      await own.close();
      releaseGate(); // the handler finishes after close(): its reply must go nowhere, without error
      await assert.rejects(slow, TimeoutError);
    } finally {
      releaseGate();
      await client.close();
      await own.close();
    }
  });
});
