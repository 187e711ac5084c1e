/**
 * The zeromq.js binding's own cost beside our zeromq server and the survey's pyzmq server, in
 * one run with the bench's load generator and /proc accounting (issue 12): our server, a bare
 * zeromq.js ROUTER that answers every add with a fixed reply (scripts/zmq-bare-router.ts), and
 * the Python peer. Repetitions are interleaved; medians are printed.
 *
 *   node --import tsx scripts/zeromq-floor.ts [inFlight=16] [pipelined]
 *
 * "pipelined" puts all calls on one DEALER connection (the bare ROUTER's replies carry no id,
 * which our client then matches by order, as with the survey's REP server).
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { measureWindow } from '../src/bench/load.js';
import { FULL_SETTINGS, type Scenario } from '../src/bench/scenarios.js';
import { startNodeServer, startPythonServer } from '../src/bench/server-runner.js';
import { calculatorContract } from '../src/contract/calculator.js';
import { zeromq } from '../src/protocols/zeromq/index.js';

interface Server {
  pid: number;
  port: number;
  stop(): Promise<void>;
}

async function bareRouter(): Promise<Server> {
  const script = fileURLToPath(new URL('./zmq-bare-router.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', script, '0'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const line = await new Promise<string>((resolve) =>
    child.stdout!.once('data', (c: Buffer) => resolve(c.toString())),
  );
  const { port } = JSON.parse(line) as { port: number };
  return { pid: child.pid!, port, stop: async () => void child.kill() };
}

const inFlight = Number(process.argv[2] ?? 16);
const pipelined = process.argv[3] === 'pipelined';
const rows: [string, Server][] = [
  ['ours (zeromq row)', await startNodeServer('zeromq')],
  ['bare zeromq.js ROUTER', await bareRouter()],
  ['pyzmq (zeromq@python)', await startPythonServer('zeromq')],
];
const scenario: Scenario = {
  id: pipelined ? `add-${inFlight}-pipelined` : `add-${inFlight}`,
  method: 'add',
  inFlight,
  payloadBytes: 0,
  connections: pipelined ? 'one' : 'per-call',
};
const clients = new Map<string, Awaited<ReturnType<typeof zeromq.connect<typeof calculatorContract>>>[]>();
for (const [name, s] of rows) {
  const options = { port: s.port, timeoutMs: 10_000, ...(pipelined ? { variant: 'dealer' } : {}) };
  const n = pipelined ? 1 : inFlight;
  clients.set(
    name,
    await Promise.all(Array.from({ length: n }, () => zeromq.connect(calculatorContract, options))),
  );
}
const figures = new Map<string, { rate: number; cpu: number }[]>();
for (let rep = 0; rep < 3; rep++) {
  for (const [name, s] of rows) {
    const w = await measureWindow(clients.get(name)!, scenario, s.pid, FULL_SETTINGS);
    figures.set(name, [
      ...(figures.get(name) ?? []),
      { rate: w.calls / w.seconds, cpu: w.serverCpuNs / 1000 / w.calls },
    ]);
  }
}
const median = (v: number[]) => [...v].sort((a, b) => a - b)[v.length >> 1]!;
console.log(`${scenario.id}, ${new Date().toISOString()}`);
for (const [name, v] of figures) {
  const rate = median(v.map((x) => x.rate));
  const cpu = median(v.map((x) => x.cpu));
  console.log(
    `${name.padEnd(24)} ${String(Math.round(rate)).padStart(7)} calls/s  ${cpu.toFixed(2)} µs server CPU/call`,
  );
}
for (const c of clients.values()) for (const x of c) await x.close();
for (const [, s] of rows) await s.stop();
process.exit(0);
