/** Pieces of src/serve and src/net/reconnecting.ts on their own. */
import assert from 'node:assert/strict';
import os from 'node:os';
import { describe, it } from 'node:test';
import { calculator, calculatorContract, defineContract, RpcError } from '../../src/contract/index.js';
import { connectReconnecting } from '../../src/net/reconnecting.js';
import { thrift } from '../../src/protocols/thrift/index.js';
import { workerCount } from '../../src/serve/serve.js';

/** The Calculator with add not declared idempotent: a client must never resend it. */
const onceContract = defineContract({
  ...calculatorContract,
  methods: { ...calculatorContract.methods, add: { ...calculatorContract.methods.add, idempotent: false } },
});

describe('serve units', () => {
  it('workerCount: default 1, auto is one per core, nonsense refused', () => {
    assert.equal(workerCount(undefined), 1);
    assert.equal(workerCount(3), 3);
    assert.equal(workerCount('auto'), os.availableParallelism());
    for (const bad of [0, -1, 1.5, Number.NaN]) assert.throws(() => workerCount(bad), /at least 1/);
  });

  it('connectReconnecting: after a TRANSPORT failure the next call opens a new connection', async () => {
    let server = await thrift.serve(calculatorContract, calculator, { port: 0 });
    const port = server.port;
    const client = await connectReconnecting(thrift, calculatorContract, { port, timeoutMs: 5_000 });
    try {
      assert.equal(await client.add(2, 5), 7);
      await server.close();
      await assert.rejects(client.add(1, 1), (e: unknown) => e instanceof RpcError && e.code === 'TRANSPORT');
      server = await thrift.serve(calculatorContract, calculator, { port });
      assert.equal(await client.add(3, 4), 7, 'carries on once a server is back');
    } finally {
      await client.close();
      await server.close();
    }
  });

  it('retryIdempotent resends only calls of idempotent methods, and only when asked', async () => {
    // A server whose calls hang until released, closed under them: each call in flight fails.
    let release: () => void = () => undefined;
    const held = new Promise<void>((r) => {
      release = r;
    });
    const slow = { ...calculator, add: (a: number, b: number) => held.then(() => a + b) };
    const first = await thrift.serve(calculatorContract, slow, { port: 0 });
    const port = first.port;
    const retrying = await connectReconnecting(thrift, calculatorContract, {
      port,
      timeoutMs: 5_000,
      retryIdempotent: true,
    });
    const once = await connectReconnecting(thrift, onceContract, {
      port,
      timeoutMs: 5_000,
      retryIdempotent: true,
    });
    const plain = await connectReconnecting(thrift, calculatorContract, { port, timeoutMs: 5_000 });
    let second: Awaited<ReturnType<typeof thrift.serve>> | undefined;
    try {
      const calls = [retrying.add(2, 5), once.add(2, 5), plain.add(2, 5)].map((p) =>
        p.then(
          (v) => ({ v }),
          (e: unknown) => ({ e }),
        ),
      );
      await new Promise((r) => setTimeout(r, 50));
      // The first server goes away with the calls in progress; another takes its port.
      await first.close();
      second = await thrift.serve(calculatorContract, calculator, { port });
      const [r, o, p] = await Promise.all(calls);
      assert.deepEqual(r!, { v: 7 }, 'an idempotent call is resent on a new connection');
      for (const x of [o!, p!])
        assert.ok('e' in x && x.e instanceof RpcError && x.e.code === 'TRANSPORT', JSON.stringify(x));
    } finally {
      release();
      for (const c of [retrying, once, plain]) await c.close();
      await first.close();
      await second?.close();
    }
  });
});
