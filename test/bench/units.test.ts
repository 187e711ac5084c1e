/** Small parts of the bench: the SVG chart, /proc accounting and CPU-profile hot spots. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { cpuBetween, peakRssBytes, sampleCpu } from '../../src/bench/proc-stats.js';
import { hotspots } from '../../src/bench/profile.js';
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
