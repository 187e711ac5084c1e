/**
 * Writes a run's report: results.json (every raw figure), report.md (tables, ratios to the raw
 * floor and to the Python peers, hot spots) and charts/*.svg, all into one directory.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { BenchResults, CellResult, RowInfo } from './results.js';
import { PYTHON_SUFFIX } from './rows.js';
import { barChart } from './svg-chart.js';

const FLOOR = 'raw-tcp';

function cell(results: BenchResults, row: string, scenario: string): CellResult | undefined {
  return results.cells.find(
    (c) => c.row === row && c.scenario === scenario && c.error === undefined && c.skipped === undefined,
  );
}

function fmt(v: number | undefined, digits = 3): string {
  if (v === undefined || !Number.isFinite(v)) return '–';
  if (Math.abs(v) >= 10 ** digits) return Math.round(v).toLocaleString('en-US');
  return String(Number(v.toPrecision(digits)));
}

function ratio(a: number | undefined, b: number | undefined): string {
  if (a === undefined || b === undefined || !(b > 0)) return '–';
  const r = a / b;
  return `${r >= 10 ? r.toFixed(0) : r.toFixed(2)}×`;
}

export interface FloorBeat {
  readonly row: string;
  readonly scenario: string;
  /** What beat the floor: more calls/s, or less server CPU per call. */
  readonly figure: 'calls/s' | 'server CPU';
  readonly ratio: number;
}

/**
 * Cells where a row beats the raw-TCP floor in the same scenario (more calls/s, or less server
 * CPU per call). The floor is meant to be the least any request/response can cost here, so a
 * row beating it means the floor is wrong (or the run too noisy), and the report says so.
 */
export function floorBeats(results: BenchResults): FloorBeat[] {
  const out: FloorBeat[] = [];
  for (const sc of results.scenarios) {
    const floor = cell(results, FLOOR, sc.id);
    if (floor === undefined) continue;
    for (const r of results.rows) {
      if (r.id === FLOOR) continue;
      const c = cell(results, r.id, sc.id);
      const rate = c?.callsPerSec?.median;
      const floorRate = floor.callsPerSec?.median;
      if (rate !== undefined && floorRate !== undefined && floorRate > 0 && rate > floorRate) {
        out.push({ row: r.id, scenario: sc.id, figure: 'calls/s', ratio: rate / floorRate });
      }
      const cpu = c?.serverCpuUsPerCall;
      const floorCpu = floor.serverCpuUsPerCall;
      if (cpu !== undefined && floorCpu !== undefined && cpu > 0 && cpu < floorCpu) {
        out.push({ row: r.id, scenario: sc.id, figure: 'server CPU', ratio: cpu / floorCpu });
      }
    }
  }
  return out;
}

/** Marks a ratio cell that beats the floor. */
const BEATS_FLOOR = '⚑';

function label(row: RowInfo): string {
  return row.title;
}

function rowsWithData(results: BenchResults): RowInfo[] {
  return results.rows.filter((r) => r.error === undefined);
}

function pythonOf(results: BenchResults, row: RowInfo): RowInfo | undefined {
  return row.kind === 'protocol' ? results.rows.find((r) => r.id === `${row.id}${PYTHON_SUFFIX}`) : undefined;
}

/** 16 -> "16 B", 65536 -> "64 KiB". */
export function binarySize(n: number): string {
  if (n >= 2 ** 20 && n % 2 ** 20 === 0) return `${n / 2 ** 20} MiB`;
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024} KiB`;
  return `${n} B`;
}

function scenarioCaption(results: BenchResults, id: string): string {
  const s = results.scenarios.find((x) => x.id === id);
  if (s === undefined) return id;
  if (s.chain !== undefined) {
    const how =
      s.chain.mode === 'pipelined'
        ? 'add(22) called on the promised Adder at once (pipelined)'
        : 'add(22) called once adder() has returned (awaited)';
    const path =
      s.chain.delayMs > 0 ? `through a relay adding ${s.chain.delayMs} ms each way` : 'direct on loopback';
    return `adder(20) then ${how}, one chained call at a time on one connection, ${path}`;
  }
  const what = s.method === 'add' ? 'add(20, 22)' : `echo of ${binarySize(s.payloadBytes)}`;
  const calls = `${s.inFlight} call${s.inFlight === 1 ? '' : 's'} in flight`;
  if (s.connections === 'one') return `${what}, ${calls} on one connection`;
  return `${what}, ${calls}${s.inFlight === 1 ? '' : ', one connection each'}`;
}

const msOf = (us: number | undefined) => (us === undefined ? undefined : us / 1000);

/** The chained-call scenarios of a run, as (awaited, pipelined) pairs with the same added delay. */
export function chainPairs(results: BenchResults): { delayMs: number; awaited: string; pipelined: string }[] {
  const out: { delayMs: number; awaited: string; pipelined: string }[] = [];
  for (const s of results.scenarios) {
    if (s.chain?.mode !== 'awaited') continue;
    const other = results.scenarios.find(
      (x) => x.chain?.mode === 'pipelined' && x.chain.delayMs === s.chain!.delayMs,
    );
    if (other) out.push({ delayMs: s.chain.delayMs, awaited: s.id, pipelined: other.id });
  }
  return out;
}

/** Rows that ran a chained-call scenario. */
function chainedRows(results: BenchResults): RowInfo[] {
  return rowsWithData(results).filter((r) =>
    results.cells.some(
      (c) =>
        c.row === r.id &&
        c.skipped === undefined &&
        results.scenarios.some((s) => s.id === c.scenario && s.chain !== undefined),
    ),
  );
}

function chainSection(results: BenchResults): string[] {
  const pairs = chainPairs(results);
  const rows = chainedRows(results);
  if (pairs.length === 0 || rows.length === 0) return [];
  const counted = results.wire.flatMap((w) => w.kinds).find((k) => k.roundTrips !== undefined)?.calls;
  const delays = pairs.filter((p) => p.delayMs > 0).map((p) => `${p.delayMs} ms`);
  const out = ['## Pipelining: a chained call', ''];
  out.push(
    "A chained call asks the Calculator for a capability (`adder(20)` returns an Adder) and calls it (`add(22)`, 42). **Awaited**: the client waits for adder() to return, then calls the Adder it got. **Pipelined**: it calls add() on the promised Adder at once (Cap'n Proto promise pipelining), so both calls travel together and the server runs the second as soon as the first has its result. One chained call at a time on one connection, our TypeScript client against each server.",
    '',
    `Round trips are counted, not inferred from time: in the bytes pass a relay decodes the RPC messages crossing it and counts how often the client sent a call (Call, Bootstrap) after a Return had come back, over ${counted ?? 'a fixed number of'} sequential chained calls after an uncounted one. A loopback round trip costs less than the calls' own CPU, so the difference is small there; the scenarios are therefore also run through a relay that holds every chunk ${delays.join(', ') || 'a fixed time'} in each direction (\`src/net/delay-relay.ts\`, loopback only), where each round trip costs at least twice that. "held" is how long the relay really held a chunk on average (its timers fire late by up to a millisecond). The relay runs in the load generator's process, so in the delayed scenarios the client CPU per call includes the relay's.`,
    '',
  );
  const header = [
    'Row',
    'path',
    'round trips awaited',
    'round trips pipelined',
    'p50 µs awaited',
    'p50 µs pipelined',
    'calls/s awaited',
    'calls/s pipelined',
    'p50 awaited ÷ pipelined',
  ];
  const lines: string[][] = [];
  for (const r of rows) {
    for (const p of pairs) {
      const a = cell(results, r.id, p.awaited);
      const b = cell(results, r.id, p.pipelined);
      if (a === undefined && b === undefined) continue;
      const heldValues = [a?.relayHeldMeanMs, b?.relayHeldMeanMs].filter((v) => v !== undefined);
      const held =
        heldValues.length > 0
          ? `, held ${fmt(heldValues.reduce((x, y) => x + y, 0) / heldValues.length)} ms`
          : '';
      lines.push([
        label(r),
        p.delayMs > 0 ? `+${p.delayMs} ms each way${held}` : 'loopback',
        fmt(a?.roundTripsPerCall),
        fmt(b?.roundTripsPerCall),
        fmt(a?.latencyUs?.p50),
        fmt(b?.latencyUs?.p50),
        fmt(a?.callsPerSec?.median),
        fmt(b?.callsPerSec?.median),
        ratio(a?.latencyUs?.p50, b?.latencyUs?.p50),
      ]);
    }
  }
  out.push(table(header, lines, 2), '');
  const kinds = [...new Set(pairs.flatMap((p) => [p.awaited, p.pipelined]))]
    .map((id) => results.scenarios.find((s) => s.id === id)?.chain?.mode)
    .filter((m) => m !== undefined);
  const messageLines: string[] = [];
  for (const r of rows) {
    const w = results.wire.find((x) => x.row === r.id);
    const parts = [...new Set(kinds)].map((mode) => {
      const f = w?.kinds.find((k) => k.kind === `chain-${mode}`);
      if (f?.messagesPerCall === undefined) return undefined;
      const list = Object.entries(f.messagesPerCall)
        .map(([k, v]) => `${k} ${fmt(v)}`)
        .join(', ');
      return `${mode}: ${list}`;
    });
    const shown = parts.filter((x) => x !== undefined);
    if (shown.length > 0) messageLines.push(`- \`${r.id}\`: ${shown.join('; ')}`);
  }
  if (messageLines.length > 0) {
    out.push(
      'RPC messages per chained call, by sender and kind: the same messages either way; what pipelining changes is when the second Call may leave.',
      '',
      ...messageLines,
      '',
    );
  }
  return out;
}

function charts(results: BenchResults): Record<string, string> {
  const rows = rowsWithData(results);
  const categories = rows.map(label);
  const secondary = rows.map((r) => r.kind === 'python');
  const has = (id: string) => results.scenarios.some((s) => s.id === id);
  const out: Record<string, string> = {};
  const addScenarios = results.scenarios.filter((s) => s.method === 'add');
  if (addScenarios.length > 0 && results.cells.length > 0) {
    out['throughput.svg'] = barChart({
      title: 'Throughput vs calls in flight (add)',
      subtitle: 'Median calls per second over the repetitions; more is better.',
      axis: 'calls per second (log scale)',
      categories,
      secondary,
      log: true,
      series: addScenarios.map((s, i) => ({
        name: `${s.inFlight} in flight${s.connections === 'one' ? ', one connection' : ''}`,
        color: ['#c6dbef', '#6baed6', '#2171b5', '#08306b'][i % 4]!,
        values: rows.map((r) => cell(results, r.id, s.id)?.callsPerSec?.median),
      })),
    });
  }
  const latencyScenario = has('add-1') ? 'add-1' : results.scenarios[0]?.id;
  if (latencyScenario && results.cells.length > 0) {
    out['latency.svg'] = barChart({
      title: `Latency percentiles (${latencyScenario})`,
      subtitle: `${scenarioCaption(results, latencyScenario)}; less is better.`,
      axis: 'microseconds (log scale)',
      categories,
      secondary,
      log: true,
      series: (['p50', 'p90', 'p99'] as const).map((p, i) => ({
        name: p,
        color: ['#a1d99b', '#41ab5d', '#006d2c'][i]!,
        values: rows.map((r) => cell(results, r.id, latencyScenario)?.latencyUs?.[p]),
      })),
    });
  }
  const cpuScenario = has('add-16') ? 'add-16' : results.scenarios[0]?.id;
  if (cpuScenario && results.cells.length > 0) {
    out['cpu.svg'] = barChart({
      title: `CPU time per call (${cpuScenario})`,
      subtitle: `${scenarioCaption(results, cpuScenario)}; from /proc accounting; less is better.`,
      axis: 'microseconds of CPU per call (log scale)',
      categories,
      secondary,
      log: true,
      series: [
        {
          name: 'server',
          color: '#bc4c00',
          values: rows.map((r) => cell(results, r.id, cpuScenario)?.serverCpuUsPerCall),
        },
        {
          name: 'client (load generator)',
          color: '#f0b37e',
          values: rows.map((r) => cell(results, r.id, cpuScenario)?.clientCpuUsPerCall),
        },
      ],
    });
  }
  const chained = chainedRows(results);
  const delayed = chainPairs(results).find((p) => p.delayMs > 0);
  if (chained.length > 0 && delayed !== undefined) {
    out['pipelining.svg'] = barChart({
      title: `A chained call, awaited vs pipelined (+${delayed.delayMs} ms each way)`,
      subtitle: 'adder(20).add(22) through a delay relay, one at a time; p50 latency, less is better.',
      axis: 'milliseconds',
      categories: chained.map(label),
      secondary: chained.map((r) => r.kind === 'python'),
      format: (v) => v.toFixed(1),
      series: [
        {
          name: 'awaited',
          color: '#fd8d3c',
          values: chained.map((r) => msOf(cell(results, r.id, delayed.awaited)?.latencyUs?.p50)),
        },
        {
          name: 'pipelined',
          color: '#3182bd',
          values: chained.map((r) => msOf(cell(results, r.id, delayed.pipelined)?.latencyUs?.p50)),
        },
      ],
    });
  }
  const wire = (row: string, kind: string) =>
    results.wire.find((w) => w.row === row)?.kinds.find((k) => k.kind === kind);
  out['bytes.svg'] = barChart({
    title: 'Bytes on the wire per add call',
    subtitle: 'Counted by a TCP relay after one uncounted call; less is better.',
    axis: 'bytes per call',
    categories,
    secondary,
    series: [
      { name: 'request', color: '#8250df', values: rows.map((r) => wire(r.id, 'add')?.requestBytes) },
      { name: 'response', color: '#c297ff', values: rows.map((r) => wire(r.id, 'add')?.responseBytes) },
    ],
  });
  const bigEcho = [...results.scenarios]
    .filter((s) => s.method === 'echo')
    .sort((a, b) => b.payloadBytes - a.payloadBytes)[0];
  if (bigEcho) {
    out['payload-overhead.svg'] = barChart({
      title: `Wire bytes per payload byte (${bigEcho.id})`,
      subtitle: 'Request and response bytes divided by the payload size: 1.00 means no expansion.',
      axis: 'wire bytes ÷ payload bytes',
      categories,
      secondary,
      format: (v) => v.toFixed(2),
      series: [
        {
          name: 'request',
          color: '#1a7f37',
          values: rows.map((r) => {
            const w = wire(r.id, bigEcho.id);
            return w ? w.requestBytes / bigEcho.payloadBytes : undefined;
          }),
        },
        {
          name: 'response',
          color: '#7ee2a8',
          values: rows.map((r) => {
            const w = wire(r.id, bigEcho.id);
            return w ? w.responseBytes / bigEcho.payloadBytes : undefined;
          }),
        },
      ],
    });
  }
  return out;
}

/** A markdown table: the first `textColumns` columns left-aligned, the (numeric) rest right-aligned. */
function table(header: string[], lines: string[][], textColumns = 1): string {
  const align = header.map((_, i) => (i < textColumns ? ':--' : '--:'));
  // GitHub tables split cells on '|', even inside code spans, unless it is escaped.
  const cellText = (c: string) => c.replace(/\|/g, '\\|').replace(/\n/g, ' ');
  return [header, align, ...lines].map((l) => `| ${l.map(cellText).join(' | ')} |`).join('\n');
}

export function markdown(results: BenchResults, chartFiles: readonly string[], chartDir = 'charts'): string {
  const m = results.machine;
  const s = results.settings;
  const rows = results.rows;
  const out: string[] = [];
  out.push('# rpclab bench report', '');
  out.push(
    `- **Date:** ${results.startedAt.replace('T', ' ').replace(/\.\d+Z$/, ' UTC')} (${results.durationSeconds.toFixed(0)} s)`,
    `- **Command:** \`${results.command}\`${results.commit ? ` at commit \`${results.commit}\`` : ''}`,
    `- **Machine:** ${m.cpuModel}, ${m.cpus} CPUs, ${(m.memoryMiB / 1024).toFixed(1)} GiB, ${m.os} (${m.arch}); Node ${m.node}${m.python ? `; ${m.python}` : ''}`,
    `- **Settings:** ${s.quick ? 'quick run (smoke test: short windows, figures are rough)' : 'full run'}; warm-up ${s.warmupMs} ms, window ${s.windowMs} ms (at least ${s.minCalls} calls), ${s.repetitions} repetition(s) interleaved across rows`,
    "- **Method:** every server runs in its own process, the load generator in another (closed loop, N calls in flight). CPU time per call comes from each process's /proc accounting over the measuring window; latency from an HDR histogram; bytes on the wire from a separate pass through a counting TCP relay. Connections: one per call in flight, except in add-64-pipelined, where all 64 calls share one connection (only for protocols that pipeline calls), and in the chained-call scenarios (Cap'n Proto rows only; see Pipelining below).",
    '',
  );
  const failed = rows.filter((r) => r.error !== undefined);
  const notes = [...results.notes, ...failed.map((r) => `${r.id}: ${r.error}`)];
  const cellErrors = results.cells.filter(
    (c) => c.error !== undefined && !failed.some((r) => r.id === c.row),
  );
  notes.push(...cellErrors.map((c) => `${c.row} in ${c.scenario}: ${c.error}`));
  if (notes.length > 0) out.push('**Left out or failed:**', '', ...notes.map((n) => `- ${n}`), '');
  out.push('## Rows', '');
  out.push(
    table(
      ['Row', 'id', 'kind', 'server', 'variant', 'pipelines calls'],
      rows.map((r) => [
        label(r),
        `\`${r.id}\``,
        r.kind,
        r.kind === 'python' ? `peers/python/${r.protocol}/full_server.py` : 'TypeScript (Node)',
        r.variant,
        r.pipelining ? (r.pipelinedVariant ? `yes (variant ${r.pipelinedVariant})` : 'yes') : 'no',
      ]),
      6,
    ),
    '',
  );

  const floorCpu = (scenario: string) => cell(results, FLOOR, scenario)?.serverCpuUsPerCall;
  const summaryScenario = results.scenarios.find((x) => x.id === 'add-16')?.id ?? results.scenarios[0]?.id;
  if (summaryScenario && results.cells.length > 0) {
    out.push('## Summary', '');
    out.push(
      `Server and client CPU per call and the ratios are for **${summaryScenario}** (${scenarioCaption(results, summaryScenario)}). Bytes are per add call (request + response). Ratios: our figure ÷ the raw-TCP floor's, and ÷ the Python peer's for the same protocol.`,
      '',
    );
    const addIds = results.scenarios.filter((x) => x.method === 'add').map((x) => x.id);
    const header = [
      'Row',
      'id',
      ...addIds.map((id) => `calls/s ${id}`),
      'p50 µs add-1',
      'server CPU µs/call',
      'client CPU µs/call',
      'bytes/add call',
      'server idle RSS MiB',
      'server peak RSS MiB',
      'server CPU ÷ floor',
      'server CPU ÷ Python peer',
    ];
    const lines = rows
      .filter((r) => r.error === undefined)
      .map((r) => {
        const c = cell(results, r.id, summaryScenario);
        const py = pythonOf(results, r);
        const pyCell = py ? cell(results, py.id, summaryScenario) : undefined;
        const w = results.wire.find((x) => x.row === r.id)?.kinds.find((k) => k.kind === 'add');
        const rssValues = results.cells
          .filter((x) => x.row === r.id && x.serverPeakRssBytes !== undefined)
          .map((x) => x.serverPeakRssBytes!);
        const rss = rssValues.length > 0 ? Math.max(...rssValues) : Number.NaN;
        return [
          label(r),
          `\`${r.id}\``,
          ...addIds.map((id) => fmt(cell(results, r.id, id)?.callsPerSec?.median)),
          fmt(cell(results, r.id, 'add-1')?.latencyUs?.p50),
          fmt(c?.serverCpuUsPerCall),
          fmt(c?.clientCpuUsPerCall),
          w ? fmt(w.requestBytes + w.responseBytes) : '–',
          r.idleRssBytes !== undefined ? fmt(r.idleRssBytes / 2 ** 20) : '–',
          Number.isFinite(rss) ? fmt(rss / 2 ** 20) : '–',
          ratio(c?.serverCpuUsPerCall, floorCpu(summaryScenario)),
          ratio(c?.serverCpuUsPerCall, pyCell?.serverCpuUsPerCall),
        ];
      });
    out.push(table(header, lines), '');
  }

  if (chartFiles.length > 0) {
    out.push('## Charts', '');
    for (const f of chartFiles) out.push(`![${f.replace('.svg', '')}](${chartDir}/${f})`, '');
  }

  const beats = floorBeats(results);
  const flagged = (text: string, yes: boolean) => (yes ? `${text} ${BEATS_FLOOR}` : text);
  if (results.cells.length > 0 && results.cells.some((c) => c.row === FLOOR)) {
    out.push('## Floor check', '');
    if (beats.length === 0) {
      out.push(
        'No row beats the raw-TCP floor in any scenario (calls/s or server CPU per call): the floor is a floor.',
        '',
      );
    } else {
      out.push(
        `${beats.length} cell(s) beat the raw-TCP floor (marked ${BEATS_FLOOR} in the scenario tables). The floor is meant to be the least a call can cost here, so each of these means the floor is wrong or the run was too noisy to tell:`,
        '',
        ...beats.map(
          (b) => `- \`${b.row}\` in ${b.scenario}: ${b.figure} ${b.ratio.toFixed(2)}× the floor's`,
        ),
        '',
      );
    }
  }

  out.push(...chainSection(results));

  if (results.cells.length > 0) {
    out.push('## Scenarios', '');
    out.push(
      'calls/s is the median over the repetitions (min–max in brackets). Latency in microseconds. "÷ floor" compares with the raw-TCP floor in the same scenario, "÷ Python" our server with the survey\'s Python server for the same protocol (CPU: lower is better; calls/s: higher is better).',
      '',
    );
    for (const sc of results.scenarios) {
      out.push(`### ${sc.id}: ${scenarioCaption(results, sc.id)}`, '');
      const header = [
        'Row',
        'calls/s',
        'p50',
        'p90',
        'p99',
        'max',
        'server CPU µs/call',
        'client CPU µs/call',
        'req B/call',
        'resp B/call',
        'calls/s ÷ floor',
        'server CPU ÷ floor',
        'calls/s ÷ Python',
        'server CPU ÷ Python',
      ];
      const floor = cell(results, FLOOR, sc.id);
      const beat = (row: string, figure: FloorBeat['figure']) =>
        beats.some((b) => b.row === row && b.scenario === sc.id && b.figure === figure);
      const skippedHere = results.cells.filter((x) => x.scenario === sc.id && x.skipped !== undefined);
      const lines = rows
        .filter((r) => !skippedHere.some((x) => x.row === r.id))
        .map((r) => {
          const c = results.cells.find((x) => x.row === r.id && x.scenario === sc.id);
          if (c === undefined || c.error !== undefined) {
            return [`${label(r)}`, `failed: ${c?.error ?? r.error ?? 'no data'}`, ...Array(12).fill('')];
          }
          const py = pythonOf(results, r);
          const pc = py ? cell(results, py.id, sc.id) : undefined;
          const spread =
            c.callsPerSec && c.reps.length > 1
              ? ` (${fmt(c.callsPerSec.min)}–${fmt(c.callsPerSec.max)})`
              : '';
          return [
            label(r),
            `${fmt(c.callsPerSec?.median)}${spread}`,
            fmt(c.latencyUs?.p50),
            fmt(c.latencyUs?.p90),
            fmt(c.latencyUs?.p99),
            fmt(c.latencyUs?.max),
            fmt(c.serverCpuUsPerCall),
            fmt(c.clientCpuUsPerCall),
            fmt(c.requestBytesPerCall),
            fmt(c.responseBytesPerCall),
            flagged(ratio(c.callsPerSec?.median, floor?.callsPerSec?.median), beat(r.id, 'calls/s')),
            flagged(ratio(c.serverCpuUsPerCall, floor?.serverCpuUsPerCall), beat(r.id, 'server CPU')),
            ratio(c.callsPerSec?.median, pc?.callsPerSec?.median),
            ratio(c.serverCpuUsPerCall, pc?.serverCpuUsPerCall),
          ];
        });
      out.push(table(header, lines), '');
      const reasons = [...new Set(skippedHere.map((x) => x.skipped!))];
      for (const reason of reasons) {
        const ids = skippedHere.filter((x) => x.skipped === reason).map((x) => `\`${x.row}\``);
        out.push(`Not run here: ${ids.join(', ')} (${reason}).`, '');
      }
    }
  }

  const kinds = [...new Set(results.wire.flatMap((w) => w.kinds.map((k) => k.kind)))];
  if (kinds.length > 0) {
    out.push('## Bytes on the wire', '');
    out.push(
      'Per call, request / response, counted through a TCP relay over a fixed number of sequential calls after one uncounted call; "set-up" is what connecting and the first call cost beyond one steady-state call (handshakes, greetings). These figures are deterministic, the same in every run, but for the gRPC set-up, which moves by a byte with the time of day (the Date header of its first reply is Huffman-coded).',
      '',
    );
    const header = ['Row', ...kinds.map((k) => `${k} req / resp`), 'set-up bytes'];
    const lines = rows.map((r) => {
      const w = results.wire.find((x) => x.row === r.id);
      const setup = w?.kinds.find((k) => k.kind === 'add')?.setupBytes ?? w?.kinds[0]?.setupBytes;
      return [
        label(r),
        ...kinds.map((k) => {
          const f = w?.kinds.find((x) => x.kind === k);
          return f ? `${fmt(f.requestBytes, 4)} / ${fmt(f.responseBytes, 4)}` : '–';
        }),
        fmt(setup),
      ];
    });
    out.push(table(header, lines), '');
  }

  const pairs = rows.filter((r) => r.kind === 'protocol' && pythonOf(results, r) !== undefined);
  if (pairs.length > 0 && results.cells.length > 0) {
    out.push("## Our server vs the survey's Python server", '');
    out.push('Server CPU µs per call, ours / Python (ratio), per scenario.', '');
    const header = ['Protocol', ...results.scenarios.map((x) => x.id)];
    const lines = pairs.map((r) => {
      const py = pythonOf(results, r)!;
      return [
        r.title,
        ...results.scenarios.map((x) => {
          const a = cell(results, r.id, x.id)?.serverCpuUsPerCall;
          const b = cell(results, py.id, x.id)?.serverCpuUsPerCall;
          return a === undefined || b === undefined ? '–' : `${fmt(a)} / ${fmt(b)} (${ratio(a, b)})`;
        }),
      ];
    });
    out.push(table(header, lines), '');
  }

  if (results.profiles.length > 0) {
    out.push('## Hot spots where our server costs more CPU than the Python peer', '');
    out.push(
      'Each such server was run again under `node --cpu-prof` in the scenario where the ratio is worst; the table lists the functions with the most self time (idle excluded). Fixing them is a later step.',
      '',
    );
    for (const p of results.profiles) {
      out.push(
        `### ${p.row} in ${p.scenario}: ${fmt(p.serverCpuUsPerCall)} µs/call vs ${fmt(p.pythonCpuUsPerCall)} µs/call for the Python peer`,
        '',
      );
      if (p.error) {
        out.push(`Profiling failed: ${p.error}`, '');
        continue;
      }
      out.push(
        table(
          ['Function', 'Location', 'self ms', 'self %'],
          p.hotspots.map((h) => [
            `\`${h.functionName}\``,
            h.location ? `\`${h.location}\`` : '',
            fmt(h.selfMs),
            fmt(h.selfPercent, 2),
          ]),
          2,
        ),
        '',
      );
      if (p.profileFile)
        out.push(`Profile: \`${p.profileFile}\` (open in Chrome DevTools → Performance).`, '');
    }
  }
  return `${out.join('\n')}\n`;
}

export interface WrittenReport {
  readonly dir: string;
  readonly files: string[];
}

export function writeReport(results: BenchResults, dir: string): WrittenReport {
  mkdirSync(path.join(dir, 'charts'), { recursive: true });
  const files: string[] = [];
  writeFileSync(path.join(dir, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
  files.push('results.json');
  const svgs = charts(results);
  for (const [name, svg] of Object.entries(svgs)) {
    writeFileSync(path.join(dir, 'charts', name), svg);
    files.push(`charts/${name}`);
  }
  writeFileSync(path.join(dir, 'report.md'), markdown(results, Object.keys(svgs)));
  files.push('report.md');
  return { dir, files };
}

export const DOCS_BEGIN =
  '<!-- bench:begin (generated by `rpclab bench --docs`; edit outside these markers) -->';
export const DOCS_END = '<!-- bench:end -->';

/**
 * Refreshes the generated part of a docs page (between DOCS_BEGIN and DOCS_END) with this run's
 * tables, headings one level down, and writes the charts next to it (chartDir, relative to the page).
 * The hand-written text around the markers is kept; a page without markers gets them appended.
 */
export function writeDocs(results: BenchResults, docPath: string, chartDir = 'bench'): string[] {
  const svgs = charts(results);
  const dir = path.join(path.dirname(docPath), chartDir);
  mkdirSync(dir, { recursive: true });
  const written: string[] = [];
  for (const [name, svg] of Object.entries(svgs)) {
    writeFileSync(path.join(dir, name), svg);
    written.push(path.join(dir, name));
  }
  const body = markdown(results, Object.keys(svgs), chartDir)
    .split('\n')
    .slice(1) // the report's own title
    .map((line) => (line.startsWith('#') ? `#${line}` : line))
    .join('\n')
    .trim();
  const generated = `${DOCS_BEGIN}\n\n${body}\n\n${DOCS_END}`;
  const old = existsSync(docPath) ? readFileSync(docPath, 'utf8') : '';
  const begin = old.indexOf(DOCS_BEGIN);
  const end = old.indexOf(DOCS_END);
  const page =
    begin >= 0 && end > begin
      ? `${old.slice(0, begin)}${generated}${old.slice(end + DOCS_END.length)}`
      : `${old}${old === '' || old.endsWith('\n') ? '' : '\n'}\n${generated}\n`;
  writeFileSync(docPath, page);
  written.push(docPath);
  return written;
}
