/** Small parts of the bench: the SVG chart, /proc accounting and CPU-profile hot spots. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { cpuBetween, peakRssBytes, rssBytes, sampleCpu } from '../../src/bench/proc-stats.js';
import { hotspots } from '../../src/bench/profile.js';
import { floorBeats, markdown } from '../../src/bench/report.js';
import type { BenchResults, CellResult } from '../../src/bench/results.js';
import { barChart, compact } from '../../src/bench/svg-chart.js';

describe('svg chart', () => {
  it('draws one bar per value, labels them and escapes text', () => {
    const svg = barChart({
      title: 'A <b> & "c"',
      axis: 'calls/s',
      categories: ['one', 'two'],
      log: true,
      series: [
        { name: 's1', color: '#000', values: [10, 2000] },
        { name: 's2', color: '#111', values: [undefined, 50] },
      ],
    });
    assert.equal((svg.match(/<title>/g) ?? []).length, 3, 'one bar (with a tooltip) per value');
    assert.ok(svg.includes('n/a'));
    assert.ok(svg.includes('A &#60;b&#62; &#38; &#34;c&#34;'));
    assert.ok(!svg.includes('NaN'));
  });

  it('formats compactly', () => {
    assert.equal(compact(15123), '15.1k');
    assert.equal(compact(2_500_000), '2.5M');
    assert.equal(compact(0.123456), '0.123');
    assert.equal(compact(512), '512');
  });
});

describe('/proc accounting', () => {
  it('sees this process spend CPU time and hold memory', () => {
    const a = sampleCpu(process.pid);
    let x = 0;
    for (let i = 0; i < 2e7; i++) x += i % 7;
    assert.ok(x > 0);
    const b = sampleCpu(process.pid);
    assert.ok(cpuBetween(a, b) > 0);
    assert.ok(peakRssBytes(process.pid) > 10 * 2 ** 20);
    assert.ok(Number.isNaN(peakRssBytes(2 ** 22 + 12345)));
    assert.ok(rssBytes(process.pid) > 10 * 2 ** 20);
    assert.ok(rssBytes(process.pid) <= peakRssBytes(process.pid));
    assert.ok(Number.isNaN(rssBytes(2 ** 22 + 12345)));
  });
});

describe('cpu profile hot spots', () => {
  it('sums self time per function, leaving idle out', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'rpclab-prof-'));
    try {
      const file = path.join(dir, 'p.cpuprofile');
      const frame = (functionName: string, url = '') => ({
        functionName,
        url,
        lineNumber: 9,
        columnNumber: 0,
      });
      writeFileSync(
        file,
        JSON.stringify({
          nodes: [
            { id: 1, callFrame: frame('(root)') },
            { id: 2, callFrame: frame('(idle)') },
            { id: 3, callFrame: frame('decode', 'file:///work/main/src/protocols/x/codec.ts') },
            { id: 4, callFrame: frame('writev', 'node:net') },
            { id: 5, callFrame: frame('call', 'file:///r/node_modules/@grpc/grpc-js/build/src/client.js') },
          ],
          samples: [2, 3, 3, 4, 2, 5],
          timeDeltas: [5000, 300, 300, 400, 9000, 100],
        }),
      );
      const spots = hotspots(file);
      assert.deepEqual(
        spots.map((s) => [s.functionName, s.location, s.selfMs]),
        [
          ['decode', 'src/protocols/x/codec.ts:10', 0.6],
          ['writev', 'node:net:10', 0.4],
          ['call', 'node_modules/@grpc/grpc-js/build/src/client.js:10', 0.1],
        ],
      );
      assert.equal(Math.round(spots[0]!.selfPercent), 55);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('floor check', () => {
  const fig = (row: string, scenario: string, callsPerSec: number, cpu: number): CellResult => ({
    row,
    scenario,
    reps: [{ calls: 100, seconds: 1, callsPerSec, serverCpuNs: cpu * 100_000, clientCpuNs: 1 }],
    callsPerSec: { median: callsPerSec, min: callsPerSec, max: callsPerSec },
    latencyUs: { p50: 1, p90: 2, p99: 3, max: 4, mean: 1.5 },
    serverCpuUsPerCall: cpu,
    clientCpuUsPerCall: 1,
  });
  const results = (cells: CellResult[]): BenchResults =>
    ({
      schema: 'rpclab-bench/1',
      startedAt: '2026-01-01T00:00:00.000Z',
      finishedAt: '2026-01-01T00:00:01.000Z',
      durationSeconds: 1,
      command: 'test',
      machine: { os: 'x', kernel: 'x', arch: 'x', cpuModel: 'x', cpus: 2, memoryMiB: 1024, node: 'v20' },
      versions: {},
      settings: {
        quick: true,
        warmupMs: 1,
        windowMs: 1,
        minCalls: 1,
        maxWindowMs: 1,
        repetitions: 1,
        callTimeoutMs: 1,
        rowWarmupMs: 1,
      },
      scenarios: [{ id: 'add-16', method: 'add', inFlight: 16, payloadBytes: 0, connections: 'per-call' }],
      rows: ['raw-tcp', 'a', 'b'].map((id) => ({
        id,
        title: `row ${id}`,
        kind: id === 'raw-tcp' ? 'floor' : 'protocol',
        protocol: id,
        variant: 'v',
        pipelining: true,
        idleRssBytes: 40 * 2 ** 20,
      })),
      cells,
      wire: [],
      profiles: [],
      notes: [],
    }) as BenchResults;

  it('flags a row with more calls/s or less server CPU than the floor, and says so in the report', () => {
    const r = results([
      fig('raw-tcp', 'add-16', 1000, 10),
      fig('a', 'add-16', 1200, 20),
      fig('b', 'add-16', 500, 8),
    ]);
    assert.deepEqual(
      floorBeats(r).map((b) => `${b.row} ${b.figure} ${b.ratio.toFixed(1)}`),
      ['a calls/s 1.2', 'b server CPU 0.8'],
    );
    const md = markdown(r, []);
    assert.ok(md.includes('2 cell(s) beat the raw-TCP floor'));
    assert.ok(md.includes('1.20× ⚑'), 'the calls/s ratio cell is marked');
    assert.ok(md.includes('0.80× ⚑'), 'the CPU ratio cell is marked');
    assert.ok(md.includes('server idle RSS MiB'));
  });

  it('says the floor holds when no row beats it', () => {
    const r = results([fig('raw-tcp', 'add-16', 1000, 10), fig('a', 'add-16', 900, 20)]);
    assert.deepEqual(floorBeats(r), []);
    assert.ok(markdown(r, []).includes('No row beats the raw-TCP floor'));
  });
});
