/** The workers scenario: one server process vs --workers 2, measured and reported (a smoke run). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { QUICK_SETTINGS, workersScenarios } from '../../src/bench/scenarios.js';
import { runWorkersScenario, workersTable } from '../../src/bench/workers.js';

describe('bench: workers scenario', () => {
  it('measures thrift as one process and with --workers 2, counting every server process', async () => {
    const scenario = workersScenarios.find((s) => s.id === 'workers-thrift-add-64')!;
    const result = await runWorkersScenario({ ...scenario, inFlight: 8 }, QUICK_SETTINGS);
    assert.deepEqual(
      result.figures.map((f) => [f.workers, f.processes]),
      [
        [1, 1],
        [2, 3],
      ],
    );
    for (const f of result.figures) {
      assert.ok(f.callsPerSec > 0 && f.serverCpuUsPerCall > 0 && f.windows === 1, JSON.stringify(f));
    }
    assert.match(workersTable(result), /\| --workers 2 \| 3 \|/);
  });
});
