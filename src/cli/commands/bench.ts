/** `rpclab bench`: every protocol measured side by side; writes results.json, report.md and charts. */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createProgress } from '../../bench/progress.js';
import { writeDocs, writeReport } from '../../bench/report.js';
import { planRows } from '../../bench/rows.js';
import { plannedSteps, runBench } from '../../bench/run.js';
import {
  CHAIN_DELAY_MS,
  FULL_SETTINGS,
  findScenario,
  QUICK_SETTINGS,
  type RunSettings,
  scenarios,
  workersScenarios,
} from '../../bench/scenarios.js';
import { killAllServers } from '../../bench/server-runner.js';
import { runWorkersScenario, workersTable } from '../../bench/workers.js';
import { repoRoot } from '../../peers/python.js';
import type { Command } from '../command.js';
import { intOption, UsageError } from '../options.js';

const list = (value: string | undefined) =>
  value === undefined
    ? undefined
    : value
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '');

/** Comma-separated ids, wrapped to the help's width and indented under its option column. */
function wrapIds(ids: readonly string[], indent: number, width = 100): string {
  const lines: string[] = [];
  let line = '';
  for (const [i, id] of ids.entries()) {
    const item = i < ids.length - 1 ? `${id},` : id;
    if (line !== '' && indent + line.length + 1 + item.length > width) {
      lines.push(line);
      line = item;
    } else line = line === '' ? item : `${line} ${item}`;
  }
  if (line !== '') lines.push(line);
  return lines.join(`\n${' '.repeat(indent)}`);
}

export const benchCommand: Command = {
  name: 'bench',
  summary: 'measure every protocol side by side (throughput, latency, CPU, bytes) and write a report',
  usage: `usage: rpclab bench [options]

Measures every registered protocol's server, the Python peer servers (peers/python/<protocol>/
full_server.py), a raw-TCP floor and gRPC and REST reference rows, each server in its own process,
with one load generator. Writes results.json, report.md and charts/*.svg into --out.

options:
  --out DIR               output directory (default bench-out)
  --quick                 a smoke run of a few seconds per row (short windows, 1 repetition)
  --protocols LIST        rows to run, comma-separated: protocol names (with their Python peer),
                          "jsonrpc@python", "grpc", "rest" (the raw-TCP floor is always run)
  --scenarios LIST        ${wrapIds(
    scenarios.map((s) => s.id),
    26,
  )}
                          (chain-*: Cap'n Proto only, a capability obtained then called, awaited
                          vs pipelined; -${CHAIN_DELAY_MS}ms: through a relay adding ${CHAIN_DELAY_MS} ms each way)
                          or, run on their own (not part of a default run):
                          ${workersScenarios.map((s) => s.id).join(', ')} (one server process vs
                          --workers 2; writes workers.md and workers.json into --out)
  --duration MS           measuring window per scenario and row (full: ${FULL_SETTINGS.windowMs}, quick: ${QUICK_SETTINGS.windowMs})
  --warmup MS             unmeasured warm-up before each window
  --repetitions N         windows per scenario and row, interleaved across rows
  --no-python             leave the Python peer servers out
  --profile / --no-profile
                          profile (node --cpu-prof) our servers that cost more CPU per call than
                          their Python peer (default: on for full runs, off with --quick)
  --bytes-only            only the bytes-on-the-wire pass (deterministic figures)
  --docs                  also refresh the generated part of docs/performance.md and its charts
                          in docs/bench/ from this run (--docs-file FILE for another page)
  --json                  print results.json on stdout too
  --quiet                 no progress display`,
  async run(argv) {
    const { values } = parseArgs({
      args: [...argv],
      options: {
        out: { type: 'string' },
        quick: { type: 'boolean', default: false },
        protocols: { type: 'string' },
        scenarios: { type: 'string' },
        duration: { type: 'string' },
        warmup: { type: 'string' },
        repetitions: { type: 'string' },
        'no-python': { type: 'boolean', default: false },
        profile: { type: 'boolean' },
        'no-profile': { type: 'boolean', default: false },
        'bytes-only': { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
        docs: { type: 'boolean', default: false },
        'docs-file': { type: 'string' },
        quiet: { type: 'boolean', default: false },
      },
    });
    const base = values.quick ? QUICK_SETTINGS : FULL_SETTINGS;
    const windowMs = intOption(values.duration, '--duration', 10, 600_000) ?? base.windowMs;
    const settings: RunSettings = {
      ...base,
      windowMs,
      maxWindowMs: Math.max(base.maxWindowMs, windowMs * 2),
      warmupMs: intOption(values.warmup, '--warmup', 0, 600_000) ?? base.warmupMs,
      repetitions: intOption(values.repetitions, '--repetitions', 1, 1000) ?? base.repetitions,
    };
    const named = list(values.scenarios);
    const workersPicked = workersScenarios.filter((w) => named?.some((id) => id.toLowerCase() === w.id));
    if (workersPicked.length > 0) {
      const out = path.resolve(values.out ?? 'bench-out');
      mkdirSync(out, { recursive: true });
      const results = [];
      for (const w of workersPicked) {
        const result = await runWorkersScenario(w, settings, (line) => {
          if (!values.quiet) process.stderr.write(`${line}\n`);
        });
        results.push(result);
        console.log(workersTable(result));
      }
      writeFileSync(path.join(out, 'workers.json'), `${JSON.stringify(results, null, 2)}\n`);
      writeFileSync(path.join(out, 'workers.md'), `${results.map(workersTable).join('\n\n')}\n`);
      if (workersPicked.length === named!.length) return 0;
    }
    const picked = named
      ?.filter((id) => !workersPicked.some((w) => w.id === id.toLowerCase()))
      .map((id) => {
        const s = findScenario(id);
        if (!s)
          throw new UsageError(
            `unknown scenario "${id}" (choose from: ${scenarios.map((x) => x.id).join(', ')})`,
          );
        return s;
      });
    const only = list(values.protocols);
    const python = !values['no-python'];
    const plan = planRows({ python, ...(only ? { only } : {}) });
    const unknown = plan.notes.find((n) => n.startsWith('no such row'));
    if (unknown) throw new UsageError(unknown);
    const out = path.resolve(values.out ?? 'bench-out');
    const profile = values['no-profile'] ? false : (values.profile ?? !values.quick);
    const chosen = picked ?? [...scenarios];
    const timing = !values['bytes-only'];
    const progress = createProgress(
      plannedSteps(plan.rows, { scenarios: chosen, settings, timing }),
      process.stderr,
      values.quiet,
    );
    const onSignal = () => {
      progress.note('rpclab bench: interrupted, stopping servers');
      killAllServers();
      process.exit(130);
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    try {
      const results = await runBench({
        settings,
        scenarios: chosen,
        python,
        timing,
        ...(only ? { only } : {}),
        ...(profile ? { profileDir: path.join(out, 'profiles') } : {}),
        command: ['rpclab', 'bench', ...argv].join(' '),
        progress,
      });
      progress.done();
      const written = writeReport(results, out);
      if (values.docs || values['docs-file'] !== undefined) {
        const doc = path.resolve(values['docs-file'] ?? path.join(repoRoot, 'docs', 'performance.md'));
        writeDocs(results, doc);
        process.stderr.write(`rpclab bench: refreshed ${doc}\n`);
      }
      if (values.json) console.log(JSON.stringify(results));
      const failed = results.rows.filter((r) => r.error !== undefined).length;
      process.stderr.write(
        `rpclab bench: ${results.rows.length} rows, ${chosen.length} scenarios in ${results.durationSeconds.toFixed(0)} s` +
          `${failed > 0 ? ` (${failed} rows failed)` : ''}; report: ${path.join(written.dir, 'report.md')}\n`,
      );
      return 0;
    } finally {
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
    }
  },
};
