/**
 * The workers scenario (scenarios.ts: WorkersScenario): `rpclab serve <protocol>` as one process
 * and with --workers N, each measured with the same load generator, windows interleaved
 * (1, 2, 1, 2, ...) so drift in the machine's state hits both alike.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import type { CalculatorClient } from '../contract/calculator.js';
import { calculatorContract } from '../contract/calculator.js';
import { findProtocol } from '../protocols/index.js';
import { compiledSources } from './compiled.js';
import { collectGarbage, measureWindow } from './load.js';
import type { RunSettings, WorkersScenario } from './scenarios.js';

export interface WorkersFigures {
  readonly workers: number;
  /** Processes whose CPU is counted: the server, or the primary and its workers. */
  readonly processes: number;
  readonly callsPerSec: number;
  readonly serverCpuUsPerCall: number;
  readonly clientCpuUsPerCall: number;
  readonly p50Us: number;
  readonly p99Us: number;
  readonly windows: number;
}

export interface WorkersResult {
  readonly scenario: string;
  readonly cores: number;
  readonly cpuModel: string;
  readonly figures: readonly WorkersFigures[];
}

interface Started {
  readonly child: ChildProcess;
  readonly port: number;
  readonly pids: readonly number[];
}

async function startServer(protocol: string, workers: number): Promise<Started> {
  const root = await compiledSources();
  const main = path.join(root, 'src', 'cli', 'main.js');
  const args = [main, 'serve', protocol, '--port', '0', '--json', '--grace-ms', '2000'];
  if (workers > 1) args.push('--workers', String(workers));
  // Its own process group, so that stopping it takes its workers along whatever happens.
  const child = spawn(process.execPath, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (c: Buffer) => {
    err = (err + c.toString()).slice(-8_000);
  });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => {
      stopServer(child);
      reject(new Error(`${protocol} --workers ${workers} did not start: ${err}`));
    }, 60_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${protocol} --workers ${workers} exited with ${code}: ${err}`));
    });
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const nl = out.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      const info = JSON.parse(out.slice(0, nl)) as { port: number; workers?: number[] };
      resolve({ child, port: info.port, pids: [child.pid!, ...(info.workers ?? [])] });
    });
  });
}

function stopServer(child: ChildProcess): void {
  try {
    process.kill(-child.pid!, 'SIGKILL');
  } catch {
    // gone already
  }
}

export async function runWorkersScenario(
  scenario: WorkersScenario,
  settings: RunSettings,
  note: (line: string) => void = () => undefined,
): Promise<WorkersResult> {
  const protocol = findProtocol(scenario.protocol);
  if (protocol === undefined) throw new Error(`no protocol ${scenario.protocol}`);
  const live: { workers: number; server: Started; clients: CalculatorClient[] }[] = [];
  const windows = new Map<number, Awaited<ReturnType<typeof measureWindow>>[]>();
  try {
    for (const workers of scenario.workers) {
      const server = await startServer(scenario.protocol, workers);
      const clients: CalculatorClient[] = [];
      live.push({ workers, server, clients });
      for (let i = 0; i < scenario.inFlight; i++)
        clients.push(
          await protocol.connect(calculatorContract, {
            port: server.port,
            timeoutMs: settings.callTimeoutMs,
          }),
        );
      // Unmeasured: JIT and buffers warm in every process.
      await measureWindow(clients, scenario, server.pids, {
        ...settings,
        warmupMs: settings.rowWarmupMs,
        windowMs: 100,
        minCalls: 1,
      });
    }
    for (let rep = 0; rep < settings.repetitions; rep++) {
      for (const l of live) {
        collectGarbage();
        const w = await measureWindow(l.clients, scenario, l.server.pids, settings);
        (windows.get(l.workers) ?? windows.set(l.workers, []).get(l.workers)!).push(w);
        note(
          `${scenario.id} workers=${l.workers} rep ${rep + 1}: ${Math.round(w.calls / w.seconds)} calls/s`,
        );
      }
    }
  } finally {
    for (const l of live) {
      for (const c of l.clients) await c.close().catch(() => undefined);
      stopServer(l.server.child);
    }
  }
  const figures = scenario.workers.map((workers): WorkersFigures => {
    const ws = windows.get(workers) ?? [];
    const calls = ws.reduce((n, w) => n + w.calls, 0);
    const seconds = ws.reduce((n, w) => n + w.seconds, 0);
    const serverNs = ws.reduce((n, w) => n + w.serverCpuNs, 0);
    const clientNs = ws.reduce((n, w) => n + w.clientCpuNs, 0);
    const all = ws[0]!.histogram;
    for (const w of ws.slice(1)) all.add(w.histogram);
    return {
      workers,
      processes: live.find((l) => l.workers === workers)!.server.pids.length,
      callsPerSec: calls / seconds,
      serverCpuUsPerCall: serverNs / 1000 / calls,
      clientCpuUsPerCall: clientNs / 1000 / calls,
      p50Us: all.getValueAtPercentile(50),
      p99Us: all.getValueAtPercentile(99),
      windows: ws.length,
    };
  });
  return {
    scenario: scenario.id,
    cores: os.availableParallelism(),
    cpuModel: os.cpus()[0]?.model ?? '',
    figures,
  };
}

/** The result as a Markdown table with the machine it ran on. */
export function workersTable(result: WorkersResult): string {
  const lines = [
    `${result.scenario} on ${result.cores} cores (${result.cpuModel}); the load generator shares them.`,
    '',
    '| server | processes | calls/s | server CPU µs/call | client CPU µs/call | p50 µs | p99 µs |',
    '|---|---:|---:|---:|---:|---:|---:|',
  ];
  for (const f of result.figures) {
    const name = f.workers === 1 ? 'one process' : `--workers ${f.workers}`;
    lines.push(
      `| ${name} | ${f.processes} | ${Math.round(f.callsPerSec)} | ${f.serverCpuUsPerCall.toFixed(1)} | ${f.clientCpuUsPerCall.toFixed(1)} | ${f.p50Us} | ${f.p99Us} |`,
    );
  }
  return lines.join('\n');
}
