/**
 * `rpclab serve` drains on SIGTERM, for every registered protocol: SIGTERM arrives in the middle
 * of a flood of calls, every call is answered or fails cleanly, and the process exits 0 within
 * its grace period.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { calculatorContract, RpcError } from '../../src/contract/index.js';
import { protocols } from '../../src/protocols/index.js';
import { startServe } from '../support/serve-process.js';

describe('rpclab serve: SIGTERM during a flood of calls', () => {
  for (const [protocol, workers] of protocols.flatMap((p) => [[p, 1] as const, [p, 2] as const])) {
    const variant = protocol.traits.pipelinedVariant ?? protocol.variants[0]!;
    const title = `${protocol.name} [${variant}]${workers > 1 ? ` --workers ${workers}` : ''}`;
    it(`${title}: every call answered or failed cleanly, exit 0`, async () => {
      const graceMs = 3_000;
      const server = await startServe([
        protocol.name,
        '--port',
        '0',
        '--grace-ms',
        String(graceMs),
        ...(workers > 1 ? ['--workers', String(workers)] : []),
      ]);
      try {
        const clients = await Promise.all(
          Array.from({ length: 4 }, () =>
            protocol.connect(calculatorContract, { port: server.port, variant, timeoutMs: 5_000 }),
          ),
        );
        let answered = 0;
        let signalled: () => void = () => undefined;
        const sent = new Promise<void>((resolve) => {
          signalled = resolve;
        });
        // Each client keeps 50 calls in flight until the server is gone; each call's failure is
        // collected (undefined when answered).
        let stopped = false;
        const failures: unknown[] = [];
        const loops = clients.map(async (c, k) => {
          const lane = async (j: number) => {
            for (let i = 0; i < 2_000 && !stopped; i++) {
              try {
                assert.equal(await c.add(k, i + j), k + i + j);
                if (++answered === 200) signalled();
              } catch (err) {
                failures.push(err);
                return;
              }
            }
          };
          await Promise.all(Array.from({ length: 50 }, (_, j) => lane(j)));
        });
        await sent;
        const started = Date.now();
        server.child.kill('SIGTERM');
        const code = await server.exited;
        const tookMs = Date.now() - started;
        stopped = true;
        await Promise.all(loops);
        for (const c of clients) await c.close();
        assert.equal(code, 0, server.stderr());
        assert.match(server.stderr(), /SIGTERM: draining/);
        if (workers > 1) assert.equal(server.stderr().match(/worker \d+: drained/g)?.length, workers);
        const clean = protocol.name === 'zeromq' ? ['TRANSPORT', 'TIMEOUT'] : ['TRANSPORT'];
        for (const err of failures)
          assert.ok(
            err instanceof RpcError && clean.includes(err.code),
            `a call failed uncleanly: ${String(err)}`,
          );
        // Not a timing test: a generous bound that only catches a drain ignoring its grace.
        assert.ok(tookMs < graceMs + 5_000, `exit took ${tookMs} ms for a grace of ${graceMs} ms`);
      } finally {
        await server.kill();
      }
    });
  }
});
