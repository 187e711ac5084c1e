/**
 * Runs a bench: starts every row's server once, in its own process; measures each scenario with
 * repetitions interleaved across rows (A B C A B C ...) so machine drift hits all alike; counts
 * bytes on the wire in a separate pass; profiles our servers that cost more CPU per call than
 * their Python peer; and returns every figure (results.ts).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { CalculatorClient } from '../contract/calculator.js';
import { calculatorContract } from '../contract/calculator.js';
import { RpcError } from '../contract/errors.js';
import { peersInstalled, peersPython, repoRoot } from '../peers/python.js';
import { chainSkipReason, measureChainWindow, measureChainWire } from './chain.js';
import { collectGarbage, type Histogram, measureWindow, newHistogram, type WindowResult } from './load.js';
import { peakRssBytes, procAvailable, rssBytes } from './proc-stats.js';
import { hotspots } from './profile.js';
import type { Progress } from './progress.js';
import type {
  BenchResults,
  CellResult,
  MachineInfo,
  ProfileResult,
  RepFigures,
  RowInfo,
  RowWire,
} from './results.js';
import { RESULTS_SCHEMA } from './results.js';
import { type BenchRow, PYTHON_SUFFIX, planRows } from './rows.js';
import type { RunSettings, Scenario } from './scenarios.js';
import type { ServerHandle } from './server-runner.js';
import { measureWireBytes, type WireKind } from './wire-bytes.js';

export interface BenchOptions {
  readonly settings: RunSettings;
  readonly scenarios: readonly Scenario[];
  /** Row ids or protocol names; empty = every row. The raw-TCP floor is always included. */
  readonly only?: readonly string[];
  readonly python: boolean;
  /** Measure throughput, latency and CPU (false: the bytes-on-the-wire pass only). */
  readonly timing?: boolean;
  /** Profile our servers that cost more CPU per call than their Python peer, into this directory. */
  readonly profileDir?: string;
  /** How long a profiling load runs. */
  readonly profileMs?: number;
  readonly command: string;
  readonly progress: Progress;
}

interface LiveRow {
  readonly row: BenchRow;
  server?: ServerHandle;
  clients: CalculatorClient[];
  clientsVariant?: string;
  idleRssBytes?: number;
  error?: string;
}

const message = (err: unknown) => (err instanceof Error ? err.message : String(err)).split('\n')[0]!;

/** Connections the load generator opens for a scenario (see Scenario.connections). */
export function clientsNeeded(scenario: Pick<Scenario, 'inFlight' | 'connections'>): number {
  return scenario.connections === 'one' ? 1 : scenario.inFlight;
}

/**
 * Why a row sits a scenario out, if it does: one pipelined connection needs a protocol that
 * pipelines; a chained call needs a method that returns a capability (Cap'n Proto).
 */
export function skipReason(row: BenchRow, scenario: Scenario): string | undefined {
  if (scenario.chain !== undefined) return chainSkipReason(row);
  if (scenario.connections === 'one' && !row.protocol.traits.pipelining) {
    return 'the protocol does not pipeline calls on one connection';
  }
  return undefined;
}

/** Unmeasured load right after start-up, so the first scenario does not pay for JIT and lazy set-up. */
async function warmUpRow(live: LiveRow, settings: RunSettings): Promise<void> {
  const warm: Scenario[] = [
    { id: 'warm-add', method: 'add', inFlight: 4, payloadBytes: 0, connections: 'per-call' },
    { id: 'warm-echo', method: 'echo', inFlight: 2, payloadBytes: 1024, connections: 'per-call' },
  ];
  // The pipelined path (possibly another client variant) gets warmed up too.
  const pipelined: Scenario = {
    id: 'warm-pipelined',
    method: 'add',
    inFlight: 8,
    payloadBytes: 0,
    connections: 'one',
  };
  if (skipReason(live.row, pipelined) === undefined) warm.unshift(pipelined);
  for (const scenario of warm) {
    const clients = await ensureClients(live, scenario, settings.callTimeoutMs);
    await measureWindow(clients, scenario, live.server!.pid, {
      ...settings,
      warmupMs: 0,
      windowMs: settings.rowWarmupMs / warm.length,
      minCalls: 1,
    });
  }
}

/**
 * The client variant a scenario uses: the row's default, except on one pipelined connection,
 * where a protocol whose default variant is lock-step names the one that pipelines (ZeroMQ's
 * DEALER instead of REQ); the same server answers both.
 */
export function variantFor(row: BenchRow, scenario: Pick<Scenario, 'connections'>): string {
  return scenario.connections === 'one' ? (row.protocol.traits.pipelinedVariant ?? row.variant) : row.variant;
}

async function ensureClients(
  live: LiveRow,
  scenario: Pick<Scenario, 'inFlight' | 'connections'>,
  timeoutMs: number,
): Promise<CalculatorClient[]> {
  const variant = variantFor(live.row, scenario);
  const count = clientsNeeded(scenario);
  // Clients of another variant are closed rather than kept: a row holds one pool at a time.
  if (live.clientsVariant !== variant) await closeClients(live);
  live.clientsVariant = variant;
  while (live.clients.length < count) {
    live.clients.push(
      await live.row.protocol.connect(calculatorContract, {
        port: live.server!.port,
        variant,
        timeoutMs,
      }),
    );
  }
  return live.clients.slice(0, count);
}

/**
 * Measures one window; if it fails, tries once more on fresh connections, because some servers
 * drop connections that sat idle while other rows were measured (thriftpy2's make_server closes
 * them after 3 s). A second failure is the row's result for this scenario.
 */
async function measureWithRetry(l: LiveRow, scenario: Scenario, settings: RunSettings) {
  const attempt = async () => {
    const clients = await ensureClients(l, scenario, settings.callTimeoutMs);
    collectGarbage();
    return measureWindow(clients, scenario, l.server!.pid, settings);
  };
  try {
    return await attempt();
  } catch (err) {
    // A timeout means the server cannot keep up (or never answers): trying again would only wait again.
    if (err instanceof RpcError && err.code === 'TIMEOUT') throw err;
    await closeClients(l);
    return attempt();
  }
}

/** A chained-call window on a connection of its own (the capability API, not the contract client). */
function measureChain(l: LiveRow, scenario: Scenario, settings: RunSettings) {
  collectGarbage();
  return measureChainWindow(l.server!.port, scenario, l.server!.pid, settings);
}

async function closeClients(live: LiveRow): Promise<void> {
  const clients = live.clients.splice(0);
  await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function wireKinds(scenarios: readonly Scenario[]): WireKind[] {
  const kinds = new Map<string, WireKind>();
  for (const s of scenarios) {
    const id = wireKindOf(s);
    kinds.set(id, {
      id,
      method: s.method,
      payloadBytes: s.payloadBytes,
      ...(s.chain ? { chain: s.chain.mode } : {}),
    });
  }
  return [...kinds.values()];
}

/** The wire figures a scenario shares: every add is alike; a chained call's delay adds no bytes. */
export function wireKindOf(scenario: Scenario): string {
  if (scenario.chain !== undefined) return `chain-${scenario.chain.mode}`;
  return scenario.method === 'add' ? 'add' : scenario.id;
}

function pythonVersion(): string | undefined {
  if (!peersInstalled()) return undefined;
  try {
    return execFileSync(peersPython, ['--version'], { encoding: 'utf8' }).trim();
  } catch {
    return undefined;
  }
}

export function machineInfo(): MachineInfo {
  const cpus = os.cpus();
  const python = pythonVersion();
  return {
    os: `${os.type()} ${os.release()}`,
    kernel: os.version(),
    arch: os.arch(),
    cpuModel: cpus[0]?.model ?? 'unknown',
    cpus: cpus.length,
    memoryMiB: Math.round(os.totalmem() / 2 ** 20),
    node: process.version,
    ...(python ? { python } : {}),
  };
}

function versions(): Record<string, string> {
  const out: Record<string, string> = {};
  try {
    const pkg = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as {
      version: string;
      dependencies?: Record<string, string>;
    };
    out.rpclab = pkg.version;
    for (const [name, v] of Object.entries(pkg.dependencies ?? {})) out[name] = v;
  } catch {
    // versions are informative only
  }
  try {
    const req = readFileSync(path.join(repoRoot, 'peers', 'python', 'requirements.txt'), 'utf8');
    for (const line of req.split('\n')) {
      const m = line.trim().match(/^([A-Za-z0-9_.-]+)==(\S+)/);
      if (m) out[`python:${m[1]}`] = m[2]!;
    }
  } catch {
    // no peers
  }
  return out;
}

function gitCommit(): string | undefined {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repoRoot, encoding: 'utf8' }).trim();
  } catch {
    return undefined;
  }
}

async function startRows(rows: BenchRow[], settings: RunSettings, progress: Progress): Promise<LiveRow[]> {
  const live: LiveRow[] = rows.map((row) => ({ row, clients: [] }));
  // Two at a time: server start-up (tsx, Python imports) is mostly CPU, and there are 2 cores.
  let next = 0;
  const starter = async () => {
    while (next < live.length) {
      const l = live[next++]!;
      try {
        l.server = await l.row.start();
        // Before the warm-up: the memory a listening server holds before it has seen a call.
        const idle = rssBytes(l.server.pid);
        if (Number.isFinite(idle)) l.idleRssBytes = idle;
      } catch (err) {
        l.error = `server did not start: ${message(err)}`;
      }
      if (l.error === undefined) {
        try {
          await warmUpRow(l, settings);
        } catch (err) {
          l.error = `warm-up failed: ${message(err)}`;
        }
      }
      progress.step(`started ${l.row.id}${l.error ? ` (FAILED: ${l.error})` : ''}`);
    }
  };
  await Promise.all([starter(), starter()]);
  return live;
}

async function stopRows(live: LiveRow[]): Promise<void> {
  await Promise.all(
    live.map(async (l) => {
      await closeClients(l);
      await l.server?.stop().catch(() => undefined);
    }),
  );
}

function summarise(
  row: string,
  scenario: Scenario,
  reps: RepFigures[],
  histogram: Histogram,
  rss: number | undefined,
  error: string | undefined,
): CellResult {
  if (error !== undefined || reps.length === 0)
    return { row, scenario: scenario.id, reps, error: error ?? 'no data' };
  const calls = reps.reduce((a, r) => a + r.calls, 0);
  const rates = reps.map((r) => r.callsPerSec);
  return {
    row,
    scenario: scenario.id,
    reps,
    callsPerSec: { median: median(rates), min: Math.min(...rates), max: Math.max(...rates) },
    // HDR percentiles report their bucket's upper edge, which can lie above the exact max recorded.
    latencyUs: {
      p50: Math.min(histogram.getValueAtPercentile(50), histogram.maxValue),
      p90: Math.min(histogram.getValueAtPercentile(90), histogram.maxValue),
      p99: Math.min(histogram.getValueAtPercentile(99), histogram.maxValue),
      max: histogram.maxValue,
      mean: histogram.mean,
    },
    serverCpuUsPerCall: reps.reduce((a, r) => a + r.serverCpuNs, 0) / 1000 / calls,
    clientCpuUsPerCall: reps.reduce((a, r) => a + r.clientCpuNs, 0) / 1000 / calls,
    ...(rss !== undefined && Number.isFinite(rss) ? { serverPeakRssBytes: rss } : {}),
  };
}

async function timingPass(live: LiveRow[], options: BenchOptions): Promise<CellResult[]> {
  const { settings, progress } = options;
  const cells: CellResult[] = [];
  for (const scenario of options.scenarios) {
    const reps = new Map<string, RepFigures[]>();
    const histograms = new Map<string, Histogram>();
    const errors = new Map<string, string>();
    const rss = new Map<string, number>();
    const held = new Map<string, number[]>();
    for (let rep = 0; rep < settings.repetitions; rep++) {
      for (const l of live) {
        const id = l.row.id;
        if (l.error !== undefined || errors.has(id) || skipReason(l.row, scenario)) continue;
        try {
          const w: WindowResult & { readonly relayHeldMs?: number } =
            scenario.chain === undefined
              ? await measureWithRetry(l, scenario, settings)
              : await measureChain(l, scenario, settings);
          const figures: RepFigures = {
            calls: w.calls,
            seconds: w.seconds,
            callsPerSec: w.calls / w.seconds,
            serverCpuNs: w.serverCpuNs,
            clientCpuNs: w.clientCpuNs,
          };
          reps.set(id, [...(reps.get(id) ?? []), figures]);
          if (w.relayHeldMs !== undefined) {
            held.set(id, [...(held.get(id) ?? []), w.relayHeldMs]);
          }
          const h = histograms.get(id) ?? newHistogram();
          h.add(w.histogram);
          histograms.set(id, h);
          rss.set(id, peakRssBytes(l.server!.pid));
          progress.step(
            `${scenario.id} ${id} rep ${rep + 1}/${settings.repetitions}: ${Math.round(figures.callsPerSec)} calls/s`,
          );
        } catch (err) {
          errors.set(id, message(err));
          progress.note(`${scenario.id} ${id}: FAILED: ${message(err)}`);
          // A failed row may have calls stuck on these connections: start afresh next scenario.
          await closeClients(l);
        }
      }
    }
    for (const l of live) {
      const id = l.row.id;
      const skipped = l.error === undefined ? skipReason(l.row, scenario) : undefined;
      if (skipped !== undefined) {
        cells.push({ row: id, scenario: scenario.id, reps: [], skipped });
        continue;
      }
      const summary = summarise(
        id,
        scenario,
        reps.get(id) ?? [],
        histograms.get(id) ?? newHistogram(),
        rss.get(id),
        l.error ?? errors.get(id),
      );
      const heldMs = held.get(id);
      cells.push(
        heldMs === undefined || summary.error !== undefined
          ? summary
          : { ...summary, relayHeldMeanMs: heldMs.reduce((a, b) => a + b, 0) / heldMs.length },
      );
    }
  }
  return cells;
}

async function wirePass(live: LiveRow[], options: BenchOptions): Promise<RowWire[]> {
  const kinds = wireKinds(options.scenarios);
  const out: RowWire[] = [];
  for (const l of live) {
    if (l.error !== undefined) {
      out.push({ row: l.row.id, kinds: [], error: l.error });
      continue;
    }
    const figures = [];
    let error: string | undefined;
    for (const kind of kinds) {
      const skipped = options.scenarios.some((s) => wireKindOf(s) === kind.id && skipReason(l.row, s));
      if (kind.chain !== undefined && skipped) continue;
      try {
        const timeoutMs = options.settings.callTimeoutMs;
        figures.push(
          kind.chain === undefined
            ? await measureWireBytes(l.row, l.server!.port, kind, timeoutMs)
            : await measureChainWire(l.server!.port, { id: kind.id, mode: kind.chain }, timeoutMs),
        );
      } catch (err) {
        error = `${kind.id}: ${message(err)}`;
        options.progress.note(`bytes ${l.row.id} ${error}`);
      }
    }
    options.progress.step(`bytes on the wire: ${l.row.id}`);
    out.push({ row: l.row.id, kinds: figures, ...(error ? { error } : {}) });
  }
  return out;
}

/** Our protocol rows whose server costs more CPU per call than their Python peer, worst scenario each. */
export function profileCandidates(
  cells: readonly CellResult[],
): { row: string; scenario: string; ours: number; python: number }[] {
  const out: { row: string; scenario: string; ours: number; python: number }[] = [];
  const rows = new Set(
    cells.map((c) => c.row).filter((r) => cells.some((c) => c.row === `${r}${PYTHON_SUFFIX}`)),
  );
  for (const row of rows) {
    let worst: { row: string; scenario: string; ours: number; python: number } | undefined;
    for (const c of cells.filter((x) => x.row === row)) {
      const py = cells.find((x) => x.row === `${row}${PYTHON_SUFFIX}` && x.scenario === c.scenario);
      const ours = c.serverCpuUsPerCall;
      const python = py?.serverCpuUsPerCall;
      if (ours === undefined || python === undefined || ours <= python) continue;
      if (worst === undefined || ours / python > worst.ours / worst.python) {
        worst = { row, scenario: c.scenario, ours, python };
      }
    }
    if (worst) out.push(worst);
  }
  return out;
}

async function profilePass(
  live: LiveRow[],
  cells: CellResult[],
  options: BenchOptions,
  dir: string,
): Promise<ProfileResult[]> {
  const out: ProfileResult[] = [];
  for (const c of profileCandidates(cells)) {
    const row = live.find((l) => l.row.id === c.row)?.row;
    const scenario = options.scenarios.find((s) => s.id === c.scenario);
    if (row === undefined || scenario === undefined) continue;
    const base = {
      row: c.row,
      scenario: c.scenario,
      serverCpuUsPerCall: c.ours,
      pythonCpuUsPerCall: c.python,
    };
    const profDir = path.join(dir, row.id);
    mkdirSync(profDir, { recursive: true });
    const before = new Set(readdirSync(profDir));
    const l: LiveRow = { row, clients: [] };
    try {
      l.server = await row.start({ cpuProfileDir: profDir });
      const ms = options.profileMs ?? 3_000;
      const settings = {
        ...options.settings,
        warmupMs: Math.min(500, ms / 4),
        windowMs: ms,
        maxWindowMs: ms * 4,
      };
      if (scenario.chain !== undefined) {
        await measureChainWindow(l.server.port, scenario, l.server.pid, settings);
      } else {
        const clients = await ensureClients(l, scenario, options.settings.callTimeoutMs);
        await measureWindow(clients, scenario, l.server.pid, settings);
      }
      await stopRows([l]);
      const file = readdirSync(profDir).find((f) => f.endsWith('.cpuprofile') && !before.has(f));
      if (file === undefined) throw new Error('the server wrote no .cpuprofile');
      const full = path.join(profDir, file);
      out.push({ ...base, profileFile: path.relative(dir, full), hotspots: hotspots(full) });
      options.progress.step(`profiled ${row.id} (${scenario.id})`);
    } catch (err) {
      await stopRows([l]);
      out.push({ ...base, hotspots: [], error: message(err) });
      options.progress.note(`profile ${row.id}: FAILED: ${message(err)}`);
    }
  }
  return out;
}

/** How many progress steps a run takes (for the progress display). */
export function plannedSteps(
  rows: readonly BenchRow[],
  options: Pick<BenchOptions, 'scenarios' | 'settings' | 'timing'>,
): number {
  const windows = rows.reduce(
    (n, row) => n + options.scenarios.filter((s) => skipReason(row, s) === undefined).length,
    0,
  );
  const timing = options.timing === false ? 0 : windows * options.settings.repetitions;
  return rows.length + timing + rows.length;
}

export async function runBench(options: BenchOptions): Promise<BenchResults> {
  if (!procAvailable()) throw new Error('rpclab bench reads /proc for CPU time and memory: Linux only');
  const startedAt = new Date();
  const plan = planRows({ python: options.python, ...(options.only ? { only: options.only } : {}) });
  const live = await startRows(plan.rows, options.settings, options.progress);
  let cells: CellResult[] = [];
  let wire: RowWire[] = [];
  let profiles: ProfileResult[] = [];
  try {
    if (options.timing !== false) cells = await timingPass(live, options);
    // Fresh clients through the relay: the timing pass's connections are closed first.
    for (const l of live) await closeClients(l);
    wire = await wirePass(live, options);
  } finally {
    await stopRows(live);
  }
  // Bytes per call belong to every cell of the same call kind.
  cells = cells.map((c) => {
    const scenario = options.scenarios.find((s) => s.id === c.scenario)!;
    const figures = wire.find((w) => w.row === c.row)?.kinds.find((k) => k.kind === wireKindOf(scenario));
    if (c.error !== undefined || c.skipped !== undefined || figures === undefined) return c;
    return {
      ...c,
      requestBytesPerCall: figures.requestBytes,
      responseBytesPerCall: figures.responseBytes,
      ...(figures.roundTrips !== undefined ? { roundTripsPerCall: figures.roundTrips } : {}),
    };
  });
  if (options.profileDir !== undefined && options.timing !== false) {
    profiles = await profilePass(live, cells, options, options.profileDir);
  }
  const rows: RowInfo[] = live.map((l) => ({
    id: l.row.id,
    title: l.row.title,
    kind: l.row.kind,
    protocol: l.row.protocol.name,
    variant: l.row.variant,
    pipelining: l.row.protocol.traits.pipelining,
    ...(l.row.protocol.traits.pipelinedVariant
      ? { pipelinedVariant: l.row.protocol.traits.pipelinedVariant }
      : {}),
    ...(l.idleRssBytes !== undefined ? { idleRssBytes: l.idleRssBytes } : {}),
    ...(l.error ? { error: l.error } : {}),
  }));
  const finishedAt = new Date();
  const commit = gitCommit();
  return {
    schema: RESULTS_SCHEMA,
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    durationSeconds: (finishedAt.getTime() - startedAt.getTime()) / 1000,
    command: options.command,
    ...(commit ? { commit } : {}),
    machine: machineInfo(),
    versions: versions(),
    settings: options.settings,
    scenarios: options.scenarios,
    rows,
    cells,
    wire,
    profiles,
    notes: plan.notes,
  };
}
