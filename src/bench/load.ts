/**
 * The closed-loop load generator: `inFlight` workers each make one call at a time, spread over
 * the row's clients, for a warm-up that is not counted and then a measuring window. Latency goes
 * into an HDR histogram (microseconds); CPU time is read from both processes' own accounting at
 * the window's edges, so it covers exactly the measured calls' period.
 */

import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import * as hdr from 'hdr-histogram-js';
import type { CalculatorClient } from '../contract/calculator.js';
import { type CpuSample, cpuBetween, sampleCpu } from './proc-stats.js';
import { ADD_ARGS, payload, type RunSettings, type Scenario } from './scenarios.js';

export type Histogram = hdr.Histogram;

export function newHistogram(): Histogram {
  return hdr.build({ lowestDiscernibleValue: 1, numberOfSignificantValueDigits: 3 });
}

export interface WindowResult {
  readonly calls: number;
  readonly seconds: number;
  readonly serverCpuNs: number;
  readonly clientCpuNs: number;
  readonly histogram: Histogram;
}

const payloads = new Map<number, Uint8Array>();
function payloadOf(n: number): Uint8Array {
  let p = payloads.get(n);
  if (p === undefined) {
    p = payload(n);
    payloads.set(n, p);
  }
  return p;
}

/** One call of the scenario's kind; the reply is checked cheaply so a wrong answer cannot pass as fast. */
export function callOnce(client: CalculatorClient, scenario: Pick<Scenario, 'method' | 'payloadBytes'>) {
  if (scenario.method === 'chain') {
    return Promise.reject(new Error("a chained call needs Cap'n Proto's capability API (bench/chain.ts)"));
  }
  if (scenario.method === 'add') {
    return client.add(ADD_ARGS[0], ADD_ARGS[1]).then((r) => {
      if (r !== ADD_ARGS[0] + ADD_ARGS[1]) throw new Error(`add returned ${r}`);
    });
  }
  const data = payloadOf(scenario.payloadBytes);
  return client.echo(data).then((r) => {
    if (r.byteLength !== data.byteLength) throw new Error(`echo returned ${r.byteLength} bytes`);
  });
}

let gcFn: ((options: { type: 'minor' }) => void) | undefined;
/**
 * A young-generation GC between windows keeps one row's short-lived garbage out of the next
 * row's window. Not a full GC: after a forced full GC the load generator's bulk calls stayed
 * slow for seconds (a 64 KiB Thrift echo, 4 in flight, one process, 2026-12-07: client CPU
 * 66 -> 370-510 µs per call, the server's 63 -> 93-120 µs, calls/s 11,000 -> 2,800-3,600;
 * with a minor GC, 65-74 µs and 10,500-11,600 calls/s, as with none). Every bulk cell of the
 * earlier runs carried that load generator's cost.
 */
export function collectGarbage(): void {
  if (gcFn === undefined) {
    setFlagsFromString('--expose-gc');
    gcFn = runInNewContext('gc') as (options: { type: 'minor' }) => void;
  }
  gcFn({ type: 'minor' });
}

/** CPU of a server made of several processes (a primary and its workers), summed. */
function sampleAll(pids: number | readonly number[]): CpuSample {
  if (typeof pids === 'number') return sampleCpu(pids);
  let schedNs = 0;
  let statNs = 0;
  for (const pid of pids) {
    const s = sampleCpu(pid);
    schedNs += s.schedNs;
    statNs += s.statNs;
  }
  return { schedNs, statNs };
}

export function measureWindow(
  clients: readonly CalculatorClient[],
  scenario: Pick<Scenario, 'method' | 'payloadBytes' | 'inFlight'>,
  serverPid: number | readonly number[],
  settings: RunSettings,
): Promise<WindowResult> {
  return measureCalls(
    (worker) => callOnce(clients[worker % clients.length]!, scenario),
    scenario.inFlight,
    serverPid,
    settings,
  );
}

/** The closed loop over any call: `inFlight` workers, each calling `call(itsIndex)` in turn. */
export async function measureCalls(
  call: (worker: number) => Promise<void>,
  inFlight: number,
  serverPid: number | readonly number[],
  settings: RunSettings,
): Promise<WindowResult> {
  const histogram = newHistogram();
  let measuring = false;
  let stopped = false;
  let calls = 0;
  let failure: unknown;
  let finish: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => {
    finish = resolve;
  });
  let windowStart = 0;
  let windowEnd = 0;
  // Closes the window at once, so no call completing after this moment is counted.
  const close = () => {
    if (!measuring) return;
    measuring = false;
    windowEnd = performance.now();
    finish();
  };
  const enough = () =>
    measuring && calls >= settings.minCalls && performance.now() - windowStart >= settings.windowMs;

  const worker = async (index: number) => {
    while (!stopped) {
      const t0 = performance.now();
      try {
        await call(index);
      } catch (err) {
        failure ??= err;
        stopped = true;
        finish();
        return;
      }
      if (measuring) {
        calls++;
        histogram.recordValue(Math.max(1, Math.round((performance.now() - t0) * 1000)));
        if (enough()) close();
      }
    }
  };

  const workers = Array.from({ length: inFlight }, (_, i) => worker(i));
  await Promise.race([new Promise((r) => setTimeout(r, settings.warmupMs)), finished]);
  const server0 = sampleAll(serverPid);
  const client0 = sampleCpu(process.pid);
  windowStart = performance.now();
  measuring = true;
  const windowTimer = setTimeout(() => {
    if (enough()) close();
  }, settings.windowMs);
  const hardStop = setTimeout(close, settings.maxWindowMs);
  await finished;
  if (windowEnd === 0) windowEnd = performance.now();
  const seconds = (windowEnd - windowStart) / 1000;
  const server1 = sampleAll(serverPid);
  const client1 = sampleCpu(process.pid);
  stopped = true;
  clearTimeout(windowTimer);
  clearTimeout(hardStop);
  // Calls still in flight finish (or time out) before the next window starts.
  await Promise.all(workers);
  if (failure !== undefined) throw failure;
  if (calls === 0) throw new Error(`no call completed within ${settings.maxWindowMs} ms`);
  return {
    calls,
    seconds,
    serverCpuNs: cpuBetween(server0, server1),
    clientCpuNs: cpuBetween(client0, client1),
    histogram,
  };
}
