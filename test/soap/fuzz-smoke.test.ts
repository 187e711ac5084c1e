/** The SOAP fuzz harness, run briefly with fixed seeds (a finding exits 1 and prints its input). */
import assert from 'node:assert/strict';
import path from 'node:path';
import { it } from 'node:test';
import { runToCompletion } from '../../src/peers/child-process.js';
import { repoRoot } from '../../src/peers/python.js';

for (const seed of [1, 2]) {
  it(`scripts/fuzz/soap.ts --seed ${seed}: no findings`, async () => {
    const run = await runToCompletion(
      process.execPath,
      [
        '--import',
        'tsx',
        path.join(repoRoot, 'scripts', 'fuzz', 'soap.ts'),
        '--seed',
        String(seed),
        '--iterations',
        '400',
        '--seconds',
        '60',
      ],
      { cwd: repoRoot, timeoutMs: 120_000 },
    );
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /0 finding\(s\)/);
  });
}
