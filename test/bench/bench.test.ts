/**
 * The quick bench end to end through the command: a restricted run (the floor, gRPC, REST and the
 * first registered protocol with its Python peer) must write results.json, report.md and charts,
 * and every figure must be a positive finite number. No timing thresholds: timing is the bench's job.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { DOCS_BEGIN, DOCS_END, writeDocs } from '../../src/bench/report.js';
import type { BenchResults } from '../../src/bench/results.js';
import { benchCommand } from '../../src/cli/commands/bench.js';
import { peersInstalled } from '../../src/peers/python.js';
import { protocols } from '../../src/protocols/index.js';

const out = mkdtempSync(path.join(os.tmpdir(), 'rpclab-bench-'));
const first = protocols[0]?.name;
const rowsAsked = ['grpc', 'rest', ...(first ? [first] : [])];
const scenariosAsked = ['add-1', 'add-16', 'add-64-pipelined', 'echo-16B', 'echo-64KiB'];

function positive(value: unknown, what: string): void {
  assert.equal(typeof value, 'number', `${what} is not a number`);
  assert.ok(Number.isFinite(value as number) && (value as number) > 0, `${what} = ${String(value)}`);
}

describe('rpclab bench --quick', () => {
  after(() => rmSync(out, { recursive: true, force: true }));

  it('writes a complete report with positive, finite figures', async () => {
    const code = await benchCommand.run([
      '--quick',
      '--quiet',
      '--out',
      out,
      '--protocols',
      rowsAsked.join(','),
      '--scenarios',
      scenariosAsked.join(','),
    ]);
    assert.equal(code, 0);
    const results = JSON.parse(readFileSync(path.join(out, 'results.json'), 'utf8')) as BenchResults;
    assert.equal(results.schema, 'rpclab-bench/1');
    assert.equal(results.settings.quick, true);
    assert.ok(results.machine.cpus > 0 && results.machine.node.startsWith('v'));
    assert.deepEqual(
      results.scenarios.map((s) => s.id),
      scenariosAsked,
    );

    const expected = ['raw-tcp', ...rowsAsked];
    if (first && peersInstalled() && existsSync(path.join('peers', 'python', first, 'full_server.py'))) {
      expected.push(`${first}@python`);
    }
    assert.deepEqual(results.rows.map((r) => r.id).sort(), expected.sort());
    for (const row of results.rows) assert.equal(row.error, undefined, `${row.id}: ${row.error}`);
    // First, so that a bytes pass that failed is named, not seen as a cell without bytes.
    for (const w of results.wire) assert.equal(w.error, undefined, `bytes pass ${w.row}: ${w.error}`);

    assert.equal(results.cells.length, expected.length * scenariosAsked.length);
    for (const c of results.cells) {
      const at = `${c.row} ${c.scenario}`;
      const row = results.rows.find((r) => r.id === c.row)!;
      if (c.scenario === 'add-64-pipelined' && !row.pipelining) {
        assert.ok(c.skipped, `${at} should be skipped`);
        assert.equal(c.reps.length, 0);
        continue;
      }
      assert.equal(c.skipped, undefined, `${at} skipped: ${c.skipped}`);
      assert.equal(c.error, undefined, `${at}: ${c.error}`);
      assert.equal(c.reps.length, 1);
      for (const rep of c.reps) {
        for (const k of ['calls', 'seconds', 'callsPerSec'] as const) positive(rep[k], `${at} rep ${k}`);
        // CPU is read from /proc in clock ticks (10 ms): a quick window of a lightly loaded
        // server can truly read 0 ticks, so one window's figure is only finite and not negative.
        for (const k of ['serverCpuNs', 'clientCpuNs'] as const) {
          const v = rep[k];
          assert.ok(typeof v === 'number' && Number.isFinite(v) && v >= 0, `${at} rep ${k} = ${String(v)}`);
        }
      }
      positive(c.callsPerSec?.median, `${at} calls/s`);
      for (const p of ['p50', 'p90', 'p99', 'max', 'mean'] as const) positive(c.latencyUs?.[p], `${at} ${p}`);
      const l = c.latencyUs!;
      assert.ok(l.p50 <= l.p90 && l.p90 <= l.p99 && l.p99 <= l.max, `${at}: percentiles out of order`);
      positive(c.serverCpuUsPerCall, `${at} server CPU`);
      positive(c.clientCpuUsPerCall, `${at} client CPU`);
      positive(c.serverPeakRssBytes, `${at} server RSS`);
      positive(c.requestBytesPerCall, `${at} request bytes`);
      positive(c.responseBytesPerCall, `${at} response bytes`);
    }
    for (const w of results.wire) {
      assert.equal(w.error, undefined, `${w.row}: ${w.error}`);
      assert.deepEqual(
        w.kinds.map((k) => k.kind),
        ['add', 'echo-16B', 'echo-64KiB'],
      );
      for (const k of w.kinds) {
        positive(k.requestBytes, `${w.row} ${k.kind} request bytes`);
        positive(k.responseBytes, `${w.row} ${k.kind} response bytes`);
        assert.ok(Number.isFinite(k.setupBytes) && k.setupBytes >= 0);
      }
      // Payload bytes cannot shrink on the way (no compression is configured anywhere).
      const echo = w.kinds.find((k) => k.kind === 'echo-64KiB')!;
      assert.ok(echo.requestBytes >= 64 * 1024 && echo.responseBytes >= 64 * 1024, `${w.row} echo bytes`);
    }

    const report = readFileSync(path.join(out, 'report.md'), 'utf8');
    for (const heading of [
      '# rpclab bench report',
      '## Summary',
      '## Floor check',
      '## Charts',
      '## Scenarios',
      '## Bytes on the wire',
    ]) {
      assert.ok(report.includes(heading), `report.md lacks "${heading}"`);
    }
    for (const s of scenariosAsked) assert.ok(report.includes(`### ${s}:`), `report.md lacks scenario ${s}`);
    for (const r of results.rows) assert.ok(report.includes(r.title), `report.md lacks row ${r.title}`);
    assert.ok(!report.includes('NaN') && !report.includes('undefined'), 'report.md shows NaN or undefined');
    // Every row that ran has its peak RSS in the summary (no "–" in that column).
    const summary = report.slice(report.indexOf('## Summary'), report.indexOf('## Charts'));
    const rssColumn = summary
      .split('\n')[4]!
      .split('|')
      .map((x) => x.trim())
      .indexOf('server peak RSS MiB');
    const idleColumn = summary
      .split('\n')[4]!
      .split('|')
      .map((x) => x.trim())
      .indexOf('server idle RSS MiB');
    assert.ok(idleColumn > 0, 'the summary has an idle-RSS column');
    for (const line of summary.split('\n').filter((l) => l.startsWith('| ') && l.includes('`'))) {
      assert.notEqual(line.split('|')[rssColumn]!.trim(), '–', `no RSS in: ${line}`);
      assert.notEqual(line.split('|')[idleColumn]!.trim(), '–', `no idle RSS in: ${line}`);
    }
    for (const row of results.rows) positive(row.idleRssBytes, `${row.id} idle RSS`);

    for (const chart of ['throughput', 'latency', 'cpu', 'bytes', 'payload-overhead']) {
      const file = path.join(out, 'charts', `${chart}.svg`);
      assert.ok(existsSync(file), `${chart}.svg missing`);
      const svg = readFileSync(file, 'utf8');
      assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
      assert.match(svg.trimEnd(), /<\/svg>$/);
      assert.ok(!svg.includes('NaN'), `${chart}.svg has NaN coordinates`);
      assert.ok(report.includes(`charts/${chart}.svg`), `report.md does not show ${chart}.svg`);
    }
  });

  it('refreshes the generated part of a docs page and keeps the hand-written text', () => {
    const results = JSON.parse(readFileSync(path.join(out, 'results.json'), 'utf8')) as BenchResults;
    const doc = path.join(out, 'docs', 'performance.md');
    mkdirSync(path.dirname(doc), { recursive: true });
    writeFileSync(
      doc,
      `# Performance\n\nhand-written intro\n\n${DOCS_BEGIN}\nold tables\n${DOCS_END}\n\nhand-written end\n`,
    );
    writeDocs(results, doc);
    writeDocs(results, doc);
    const page = readFileSync(doc, 'utf8');
    assert.ok(page.startsWith('# Performance\n\nhand-written intro\n'));
    assert.ok(page.trimEnd().endsWith('hand-written end'));
    assert.ok(!page.includes('old tables'));
    assert.equal(page.split(DOCS_BEGIN).length, 2, 'one generated block');
    assert.ok(page.includes('### Summary') && page.includes('](bench/throughput.svg)'));
    assert.ok(existsSync(path.join(out, 'docs', 'bench', 'throughput.svg')));
  });

  it('rejects an unknown scenario or row as a usage error', async () => {
    await assert.rejects(benchCommand.run(['--quick', '--scenarios', 'nope']), /unknown scenario/);
    await assert.rejects(benchCommand.run(['--quick', '--protocols', 'nope']), /no such row/);
  });
});
