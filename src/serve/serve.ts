/**
 * Serving any registered protocol in one process or across several, through the Protocol
 * interface only.
 *
 * With `workers: N` (or 'auto', one per core) the calling process becomes a primary that runs
 * N worker processes with node:cluster. Each worker re-runs the same program (cluster.fork runs
 * process.argv again) and reaches the same serve() call, which there serves for real. TCP and
 * HTTP protocols share the listening port through cluster (the primary accepts and hands
 * connections to the workers in turn); a protocol with a `broker` (ZeroMQ) gets it in the
 * primary, and its workers connect to the broker's backend.
 *
 * The primary replaces a worker that dies (after a back-off that grows while workers keep
 * dying young, with one log line each time), and drains the workers on drain(): each stops
 * accepting, answers its calls in progress, and exits 0. A worker signalled on its own
 * (SIGINT/SIGTERM, e.g. Ctrl-C reaching the whole process group) drains the same way.
 */
import cluster, { type Worker } from 'node:cluster';
import os from 'node:os';
import { InvalidArgumentError } from '../contract/errors.js';
import type { Contract, Implementation } from '../contract/spec.js';
import type { Broker, Protocol, RunningServer, ServeOptions } from '../protocols/types.js';
import { DEFAULT_GRACE_MS, drainServer } from './drain.js';
import { STOP_SIGNALS } from './signals.js';

export interface ServeManyOptions extends ServeOptions {
  /** Worker processes (default 1: serve in this process); 'auto' is one per core. */
  workers?: number | 'auto';
  /** A worker's grace period when it is signalled itself (default 10 s). */
  graceMs?: number;
  /** Where the primary's and workers' log lines go (default: stderr). */
  log?: (line: string) => void;
}

export interface WorkerGroup extends RunningServer {
  /** The pids of the workers serving now. */
  readonly workerPids: readonly number[];
}

/** Marks a process forked by serve() (cluster also runs workers of other programs). */
const WORKER_ENV = 'RPCLAB_SERVE_WORKER';
/** A broker's backend endpoint, for workers behind one. */
const BACKEND_ENV = 'RPCLAB_SERVE_BACKEND';

/** Back-off before replacing a worker: doubles while workers die within MIN_LIFETIME_MS. */
const RESTART_BASE_MS = 100;
const RESTART_MAX_MS = 10_000;
const MIN_LIFETIME_MS = 10_000;
/** How long workers may take to start listening. */
const START_TIMEOUT_MS = 60_000;

type WorkerMessage =
  | { readonly rpclab: 'listening'; readonly port: number }
  | { readonly rpclab: 'drain'; readonly graceMs: number };

function isMessage(m: unknown): m is WorkerMessage {
  return typeof m === 'object' && m !== null && 'rpclab' in m;
}

/** The worker count an option asks for. */
export function workerCount(workers: number | 'auto' | undefined): number {
  if (workers === undefined) return 1;
  if (workers === 'auto') return os.availableParallelism();
  if (!Number.isSafeInteger(workers) || workers < 1)
    throw new InvalidArgumentError(`workers must be a whole number of at least 1 or 'auto', got ${workers}`);
  return workers;
}

/** True in a worker process started by serve(). */
export function isServeWorker(): boolean {
  return cluster.isWorker && process.env[WORKER_ENV] !== undefined;
}

/**
 * Serves `impl` over `protocol`: in this process, or (with `workers`) in that many worker
 * processes. In a worker it returns the worker's own server, which the worker drains and exits
 * with on the primary's word or its own stop signal; call it unconditionally at start-up.
 */
export async function serve<C extends Contract>(
  protocol: Protocol,
  contract: C,
  impl: Implementation<C>,
  options: ServeManyOptions = {},
): Promise<RunningServer> {
  const { workers, graceMs, log, ...serveOptions } = options;
  const n = workerCount(workers);
  const say = log ?? ((line: string) => console.error(line));
  if (isServeWorker()) return serveAsWorker(protocol, contract, impl, serveOptions, graceMs, say);
  if (n === 1) return protocol.serve(contract, impl, serveOptions);
  return startWorkers(protocol, n, serveOptions, say);
}

/** The implementation with a count of the calls it answered (per process, for the logs). */
function counting<C extends Contract>(
  impl: Implementation<C>,
  counter: { calls: number },
): Implementation<C> {
  const out: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(impl as Record<string, unknown>)) {
    if (typeof fn !== 'function') {
      out[name] = fn;
      continue;
    }
    out[name] = (...args: unknown[]) => {
      counter.calls++;
      return (fn as (...a: unknown[]) => unknown).apply(impl, args);
    };
  }
  return out as Implementation<C>;
}

async function serveAsWorker<C extends Contract>(
  protocol: Protocol,
  contract: C,
  impl: Implementation<C>,
  options: ServeOptions,
  graceMs: number | undefined,
  log: (line: string) => void,
): Promise<RunningServer> {
  const counter = { calls: 0 };
  const backend = process.env[BACKEND_ENV];
  const counted = counting(impl, counter);
  const server =
    backend !== undefined && protocol.broker !== undefined
      ? await protocol.broker.serveWorker(contract, counted, backend, options)
      : await protocol.serve(contract, counted, options);
  let draining = false;
  const drainAndExit = (ms: number) => {
    if (draining) return;
    draining = true;
    void drainServer(server, ms).then(() => {
      log(`rpclab: worker ${process.pid}: drained, ${counter.calls} calls answered`);
      process.exit(0);
    });
  };
  process.on('message', (m: unknown) => {
    if (isMessage(m) && m.rpclab === 'drain') drainAndExit(m.graceMs);
  });
  for (const signal of STOP_SIGNALS) process.on(signal, () => drainAndExit(graceMs ?? DEFAULT_GRACE_MS));
  process.send?.({ rpclab: 'listening', port: server.port } satisfies WorkerMessage);
  return server;
}

interface Slot {
  readonly index: number;
  worker?: Worker;
  startedAt: number;
  /** Workers of this slot that died young in a row (drives the back-off). */
  failures: number;
}

async function startWorkers(
  protocol: Protocol,
  n: number,
  options: ServeOptions,
  log: (line: string) => void,
): Promise<WorkerGroup> {
  let broker: Broker | undefined;
  const env: Record<string, string> = { [WORKER_ENV]: '1' };
  if (protocol.broker !== undefined) {
    broker = await protocol.broker.start(options);
    env[BACKEND_ENV] = broker.backend;
  }
  let stopping = false;
  let port = broker?.port;
  const slots: Slot[] = Array.from({ length: n }, (_, index) => ({ index, startedAt: 0, failures: 0 }));
  const exits = new Set<Promise<void>>();
  let started: (() => void) | undefined;
  let failedToStart: ((err: Error) => void) | undefined;
  let listening = 0;

  const fork = (slot: Slot) => {
    const worker = cluster.fork(env);
    slot.worker = worker;
    slot.startedAt = Date.now();
    const tag = () => `worker ${worker.process.pid} (${slot.index + 1} of ${n})`;
    let up = false;
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    exits.add(exited);
    void exited.then(() => exits.delete(exited));
    worker.on('message', (m: unknown) => {
      if (!isMessage(m) || m.rpclab !== 'listening') return;
      up = true;
      port ??= m.port;
      log(`rpclab: ${tag()} listening`);
      if (++listening === n) started?.();
    });
    worker.on('exit', (code, signal) => {
      if (slot.worker === worker) slot.worker = undefined;
      if (stopping) return;
      const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      if (!up && started !== undefined) {
        // Not even the first workers came up (a taken port, a bad option): give up.
        failedToStart?.(new Error(`rpclab: ${tag()} ${how} before listening`));
        return;
      }
      slot.failures = Date.now() - slot.startedAt < MIN_LIFETIME_MS ? slot.failures + 1 : 0;
      const delay = Math.min(RESTART_MAX_MS, RESTART_BASE_MS * 2 ** Math.max(0, slot.failures - 1));
      log(`rpclab: ${tag()} ${how}; starting a replacement in ${delay} ms`);
      setTimeout(() => {
        if (!stopping) fork(slot);
      }, delay).unref();
    });
  };

  const killAll = async (signal: NodeJS.Signals) => {
    for (const slot of slots) slot.worker?.process.kill(signal);
    await Promise.all([...exits]);
  };

  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`rpclab: workers did not start listening within ${START_TIMEOUT_MS} ms`)),
        START_TIMEOUT_MS,
      );
      started = () => {
        clearTimeout(timer);
        resolve();
      };
      failedToStart = (err) => {
        clearTimeout(timer);
        reject(err);
      };
      for (const slot of slots) fork(slot);
    });
  } catch (err) {
    stopping = true;
    await killAll('SIGKILL');
    await broker?.close();
    throw err;
  }
  started = undefined;
  failedToStart = undefined;

  const host = broker?.host ?? options.host ?? '127.0.0.1';
  const bracketed = host.includes(':') ? `[${host}]` : host;
  const scheme = protocol.traits.transport.startsWith('HTTP') ? 'http' : 'tcp';
  let done: Promise<void> | undefined;
  return {
    host,
    port: port!,
    address: broker?.address ?? `${scheme}://${bracketed}:${port}${scheme === 'http' ? '/' : ''}`,
    get workerPids() {
      return slots.flatMap((s) => (s.worker?.process.pid === undefined ? [] : [s.worker.process.pid]));
    },
    drain(graceMs: number) {
      stopping = true;
      done ??= (async () => {
        for (const slot of slots) {
          try {
            slot.worker?.send({ rpclab: 'drain', graceMs } satisfies WorkerMessage);
          } catch {
            // Its channel is gone: it is exiting anyway.
          }
        }
        // A worker that does not finish in its own grace period (plus a margin) is killed.
        const force = setTimeout(() => void killAll('SIGKILL'), graceMs + 2_000);
        await Promise.all([...exits]);
        clearTimeout(force);
        await broker?.close();
      })();
      return done;
    },
    close() {
      stopping = true;
      // Also cuts a drain short.
      const killed = killAll('SIGKILL');
      done ??= killed.then(() => broker?.close());
      return Promise.all([killed, done]).then(() => undefined);
    },
  };
}
