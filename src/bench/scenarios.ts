/** The bench's scenarios and the run settings they are measured with. */

/** add and echo go through the contract client; chain through Cap'n Proto's capability API (chain.ts). */
export type CallKind = 'add' | 'echo' | 'chain';

/** A chained call's two steps: the second call waits for the first's return, or is pipelined on it. */
export type ChainMode = 'awaited' | 'pipelined';

export interface ChainSpec {
  readonly mode: ChainMode;
  /**
   * One-way latency added by a relay between client and server (src/net/delay-relay.ts), in
   * ms; 0 connects directly over loopback, where a round trip costs less than the calls' CPU.
   */
  readonly delayMs: number;
}

export interface Scenario {
  /** Stable id used on the command line and in results.json: "add-16", "echo-64KiB". */
  readonly id: string;
  readonly method: CallKind;
  /** Calls kept in flight by the closed-loop load generator. */
  readonly inFlight: number;
  /** Size of the echoed payload; 0 for add. */
  readonly payloadBytes: number;
  /**
   * Connections the load generator opens: one per call in flight (how every client library and
   * the survey's clients work, and comparable across all rows), or one connection carrying all
   * calls (only for protocols that pipeline; other rows skip the scenario).
   */
  readonly connections: 'per-call' | 'one';
  /** Only for method 'chain': how the capability-returning call and the call on it are made. */
  readonly chain?: ChainSpec;
}

/**
 * Echo runs with a few calls in flight: enough to overlap request and reply on the wire, few
 * enough that 1 MiB calls against single-threaded Python peers finish inside a short window.
 */
export const ECHO_IN_FLIGHT = 4;

function echo(label: string, bytes: number): Scenario {
  return {
    id: `echo-${label}`,
    method: 'echo',
    inFlight: ECHO_IN_FLIGHT,
    payloadBytes: bytes,
    connections: 'per-call',
  };
}

/** The one-way latency the delayed chained-call scenarios add: a same-region network hop, roughly. */
export const CHAIN_DELAY_MS = 2;

function chain(mode: ChainMode, delayMs: number): Scenario {
  return {
    id: `chain-${mode}${delayMs > 0 ? `-${delayMs}ms` : ''}`,
    method: 'chain',
    // One chained call at a time: its latency is then its round trips plus its CPU, nothing queued.
    inFlight: 1,
    payloadBytes: 0,
    connections: 'one',
    chain: { mode, delayMs },
  };
}

export const scenarios: readonly Scenario[] = [
  { id: 'add-1', method: 'add', inFlight: 1, payloadBytes: 0, connections: 'per-call' },
  { id: 'add-16', method: 'add', inFlight: 16, payloadBytes: 0, connections: 'per-call' },
  { id: 'add-64', method: 'add', inFlight: 64, payloadBytes: 0, connections: 'per-call' },
  { id: 'add-64-pipelined', method: 'add', inFlight: 64, payloadBytes: 0, connections: 'one' },
  echo('16B', 16),
  echo('1KiB', 1024),
  echo('64KiB', 64 * 1024),
  echo('1MiB', 1024 * 1024),
  chain('awaited', 0),
  chain('pipelined', 0),
  chain('awaited', CHAIN_DELAY_MS),
  chain('pipelined', CHAIN_DELAY_MS),
];

/**
 * Server-side scaling, measured apart from the row matrix: one protocol's server as one process
 * and with `rpclab serve --workers 2` (node:cluster), under the same closed-loop load over one
 * connection per call in flight (cluster balances connections, not calls). Server CPU is the
 * primary's and every worker's together. On a 2-core machine the load generator shares the
 * cores with the workers, so this shows what a second worker costs and buys there, not what
 * it would on a bigger machine.
 */
export interface WorkersScenario {
  readonly id: string;
  readonly protocol: string;
  readonly method: CallKind;
  readonly inFlight: number;
  readonly payloadBytes: number;
  /** Server configurations compared: 1 is a plain single process, N > 1 is --workers N. */
  readonly workers: readonly number[];
}

export const workersScenarios: readonly WorkersScenario[] = [
  {
    id: 'workers-thrift-add-64',
    protocol: 'thrift',
    method: 'add',
    inFlight: 64,
    payloadBytes: 0,
    workers: [1, 2],
  },
];

export function findScenario(id: string): Scenario | undefined {
  return scenarios.find((s) => s.id.toLowerCase() === id.toLowerCase());
}

/** The operands of every add call: fixed, so bytes on the wire are the same in every run. */
export const ADD_ARGS: readonly [number, number] = [20, 22];

/** A payload of n deterministic, non-repeating-looking bytes (no compressible zeros). */
export function payload(n: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = 0x9e3779b9;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

export interface RunSettings {
  readonly quick: boolean;
  /** Unmeasured calls before each window, so JIT, connections and buffers are warm. */
  readonly warmupMs: number;
  /** The measuring window; it is extended until at least `minCalls` calls complete. */
  readonly windowMs: number;
  readonly minCalls: number;
  /** A window never runs longer than this, whatever minCalls says. */
  readonly maxWindowMs: number;
  /** Windows per row and scenario, interleaved across rows (A B C A B C ...). */
  readonly repetitions: number;
  /** Per-call timeout for the load generator's clients. */
  readonly callTimeoutMs: number;
  /** Unmeasured mixed load on each row right after its server starts. */
  readonly rowWarmupMs: number;
}

export const QUICK_SETTINGS: RunSettings = {
  quick: true,
  warmupMs: 60,
  windowMs: 150,
  minCalls: 3,
  maxWindowMs: 5_000,
  repetitions: 1,
  callTimeoutMs: 5_000,
  rowWarmupMs: 300,
};

export const FULL_SETTINGS: RunSettings = {
  quick: false,
  warmupMs: 300,
  windowMs: 1_000,
  minCalls: 10,
  maxWindowMs: 15_000,
  repetitions: 3,
  callTimeoutMs: 15_000,
  rowWarmupMs: 1_500,
};

/** Calls counted per kind in the byte-counting pass (sequential, after one uncounted call). */
export function wireCalls(method: CallKind, payloadBytes: number): number {
  if (method === 'add') return 20;
  if (method === 'chain') return 10;
  return payloadBytes >= 1024 * 1024 ? 2 : payloadBytes >= 64 * 1024 ? 4 : 10;
}
