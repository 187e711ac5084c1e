/**
 * `rpclab serve --workers`: several processes behind one address. Thrift and Cap'n Proto
 * share their port through node:cluster; ZeroMQ's workers sit behind libzmq's ROUTER/DEALER
 * proxy. Which process answered is seen from each worker's own call counter, which it logs when it drains.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { calculatorContract } from '../../src/contract/index.js';
import { capnp } from '../../src/protocols/capnp/index.js';
import { thrift } from '../../src/protocols/thrift/index.js';
import type { Protocol } from '../../src/protocols/types.js';
import { zeromq } from '../../src/protocols/zeromq/index.js';
import { startServe } from '../support/serve-process.js';

/** Calls answered per worker pid, from the workers' "drained, N calls answered" lines. */
function answeredByWorker(stderr: string): Map<number, number> {
  const out = new Map<number, number>();
  for (const m of stderr.matchAll(/worker (\d+): drained, (\d+) calls answered/g))
    out.set(Number(m[1]), Number(m[2]));
  return out;
}

/** `count` fresh connections, 20 adds on each; every call must be answered. */
async function callsOnFreshConnections(protocol: Protocol, port: number, count: number): Promise<void> {
  await Promise.all(
    Array.from({ length: count }, async (_, k) => {
      const c = await protocol.connect(calculatorContract, { port, timeoutMs: 10_000 });
      try {
        for (let i = 0; i < 20; i++) assert.equal(await c.add(k, i), k + i);
      } finally {
        await c.close();
      }
    }),
  );
}

describe('rpclab serve --workers', () => {
  for (const protocol of [thrift, capnp])
    it(`${protocol.name} --workers 2 serves from two processes and survives one being killed`, async () => {
      const server = await startServe([protocol.name, '--port', '0', '--workers', '2', '--grace-ms', '3000']);
      try {
        const first = server.info.workers ?? [];
        assert.equal(first.length, 2, `two worker pids in ${JSON.stringify(server.info)}`);
        assert.ok(!first.includes(server.child.pid!), 'workers are processes of their own');
        await callsOnFreshConnections(protocol, server.port, 8);

        // One worker dies: the primary says so and starts a replacement; serving goes on.
        const [victim, survivor] = first as [number, number];
        const mark = server.stderr().length;
        process.kill(victim, 'SIGKILL');
        await server.waitForLog(
          new RegExp(
            `worker ${victim} \\(\\d of 2\\) was killed by SIGKILL; starting a replacement in \\d+ ms`,
          ),
          mark,
        );
        const up = await server.waitForLog(/worker (\d+) \(\d of 2\) listening/, mark);
        const replacement = Number(up[1]);
        assert.ok(!first.includes(replacement), 'a new process replaced the killed one');
        await callsOnFreshConnections(protocol, server.port, 8);

        server.child.kill('SIGTERM');
        assert.equal(await server.exited, 0, server.stderr());
        const answered = answeredByWorker(server.stderr());
        assert.ok(
          (answered.get(survivor) ?? 0) > 0,
          `the surviving worker answered calls: ${server.stderr()}`,
        );
        assert.ok((answered.get(replacement) ?? 0) > 0, `the replacement answered calls: ${server.stderr()}`);
      } finally {
        await server.kill();
      }
    });

  it('zeromq --workers 2: 1,000 DEALER calls in flight through the proxy are all answered', async () => {
    const server = await startServe(['zeromq', '--port', '0', '--workers', '2', '--grace-ms', '3000']);
    try {
      assert.equal(server.info.workers?.length, 2);
      const dealer = await zeromq.connect(calculatorContract, {
        port: server.port,
        variant: 'dealer',
        timeoutMs: 20_000,
      });
      const req = await zeromq.connect(calculatorContract, {
        port: server.port,
        variant: 'req',
        timeoutMs: 20_000,
      });
      try {
        const sums = await Promise.all(Array.from({ length: 1_000 }, (_, i) => dealer.add(i, 1)));
        assert.deepEqual(
          sums,
          Array.from({ length: 1_000 }, (_, i) => i + 1),
        );
        // A REQ client, unchanged, through the same proxy.
        for (let i = 0; i < 10; i++) assert.equal(await req.add(i, i), 2 * i);
      } finally {
        await dealer.close();
        await req.close();
      }
      server.child.kill('SIGTERM');
      assert.equal(await server.exited, 0, server.stderr());
      const answered = answeredByWorker(server.stderr());
      assert.equal(answered.size, 2, server.stderr());
      for (const [pid, n] of answered) assert.ok(n > 0, `worker ${pid} answered calls: ${server.stderr()}`);
    } finally {
      await server.kill();
    }
  });
});
