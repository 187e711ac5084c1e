/**
 * The Cap'n Proto fuzz harness (scripts/fuzz/capnp.ts), run briefly with fixed seeds: a
 * finding exits 1 and prints its input.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { it } from 'node:test';
import { runToCompletion } from '../../src/peers/child-process.js';
import { repoRoot } from '../../src/peers/python.js';

const runs: { target: string; seed: number; iterations: number }[] = [
  { target: 'server', seed: 1, iterations: 300 },
  { target: 'server', seed: 2, iterations: 300 },
  { target: 'client', seed: 1, iterations: 300 },
  { target: 'client', seed: 2, iterations: 300 },
];

for (const { target, seed, iterations } of runs) {
  it(`scripts/fuzz/capnp.ts --target ${target} --seed ${seed} --iterations ${iterations}: no findings`, async () => {
    const run = await runToCompletion(
      process.execPath,
      [
        '--import',
        'tsx',
        path.join(repoRoot, 'scripts', 'fuzz', 'capnp.ts'),
        '--target',
        target,
        '--seed',
        String(seed),
        '--iterations',
        String(iterations),
        '--seconds',
        '90',
      ],
      { cwd: repoRoot, timeoutMs: 150_000 },
    );
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /0 findings/);
    // The iterations ran (not cut short by the time bound on a slow machine).
    assert.match(run.stdout, new RegExp(`${target}: ${iterations} `));
  });
}
