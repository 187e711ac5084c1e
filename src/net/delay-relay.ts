/**
 * A TCP relay that adds a fixed one-way latency: every chunk read from one side is written to
 * the other `delayMs` later, in order. Loopback round trips are tens of microseconds, so on one
 * machine a protocol feature that saves round trips (promise pipelining) hides behind CPU cost;
 * through this relay each round trip costs at least 2 × delayMs and the saving shows.
 *
 * It is a measuring tool, not a network emulator: loopback only (both the address it listens on
 * and the target), a bounded delay, a bounded number of connections, and a bounded amount of
 * data held per direction (past it the sending side is paused, as TCP would be by a full window).
 * An observer sees each chunk as it reaches the relay, before the delay, so what it sees is in
 * causal order.
 */
import net from 'node:net';

/** Longest one-way delay accepted: longer would only make call timeouts the thing measured. */
export const MAX_DELAY_MS = 1_000;
const DEFAULT_MAX_CONNECTIONS = 256;
/** Bytes held back per direction and connection before the sender is paused. */
const DEFAULT_MAX_QUEUED_BYTES = 4 * 1024 * 1024;

export type RelayDirection = 'toServer' | 'toClient';

export interface DelayRelayOptions {
  readonly target: { readonly host: string; readonly port: number };
  /** One-way latency added to each direction, in milliseconds (0 to MAX_DELAY_MS). */
  readonly delayMs: number;
  readonly listenHost?: string;
  readonly maxConnections?: number;
  readonly maxQueuedBytes?: number;
  /** Sees every chunk on arrival; `connection` numbers the relay's connections from 1. */
  readonly observe?: (connection: number, direction: RelayDirection, chunk: Buffer) => void;
}

/** How long chunks were actually held: timers fire late by up to about a millisecond. */
export interface HeldStats {
  readonly chunks: number;
  readonly meanMs: number;
  readonly maxMs: number;
}

export interface DelayRelay {
  readonly port: number;
  readonly delayMs: number;
  /** Connections accepted so far. */
  connections(): number;
  /** The delay chunks really got, both directions, since the relay started. */
  held(): HeldStats;
  close(): Promise<void>;
}

export function isLoopback(host: string): boolean {
  if (host === 'localhost' || host === '::1') return true;
  return net.isIPv4(host) && host.startsWith('127.');
}

interface Pending {
  readonly arrived: number;
  readonly due: number;
  /** undefined: the sender ended its side; end ours once what came before is written. */
  readonly chunk: Buffer | undefined;
}

/** One direction of one connection: reads `from`, writes `to` delayMs later. */
function pipeDelayed(
  from: net.Socket,
  to: net.Socket,
  delayMs: number,
  maxQueued: number,
  onChunk: (chunk: Buffer) => void,
  onHeld: (ms: number) => void,
): () => void {
  const queue: Pending[] = [];
  let queued = 0;
  let timer: NodeJS.Timeout | undefined;
  let waitingDrain = false;
  const updateFlow = () => {
    if (queued > maxQueued || waitingDrain) from.pause();
    else from.resume();
  };
  const flush = () => {
    timer = undefined;
    const now = performance.now();
    while (queue.length > 0 && queue[0]!.due <= now) {
      const { chunk, arrived } = queue.shift()!;
      if (chunk === undefined) {
        to.end();
        continue;
      }
      onHeld(now - arrived);
      queued -= chunk.length;
      if (!to.write(chunk)) waitingDrain = true;
    }
    if (queue.length > 0) timer = setTimeout(flush, Math.max(0, queue[0]!.due - performance.now()));
    updateFlow();
  };
  const enqueue = (chunk: Buffer | undefined) => {
    const now = performance.now();
    queue.push({ arrived: now, due: now + delayMs, chunk });
    if (chunk !== undefined) queued += chunk.length;
    if (timer === undefined) timer = setTimeout(flush, delayMs);
    updateFlow();
  };
  from.on('data', (chunk: Buffer) => {
    onChunk(chunk);
    enqueue(chunk);
  });
  from.on('end', () => enqueue(undefined));
  to.on('drain', () => {
    waitingDrain = false;
    updateFlow();
  });
  return () => {
    clearTimeout(timer);
    queue.length = 0;
  };
}

export function startDelayRelay(options: DelayRelayOptions): Promise<DelayRelay> {
  const { target, delayMs } = options;
  const listenHost = options.listenHost ?? '127.0.0.1';
  if (!isLoopback(target.host) || !isLoopback(listenHost)) {
    return Promise.reject(new Error('the delay relay works on loopback only'));
  }
  if (!Number.isInteger(delayMs) || delayMs < 0 || delayMs > MAX_DELAY_MS) {
    return Promise.reject(new Error(`delayMs must be an integer from 0 to ${MAX_DELAY_MS}`));
  }
  const maxConnections = options.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
  const maxQueued = options.maxQueuedBytes ?? DEFAULT_MAX_QUEUED_BYTES;
  const sockets = new Set<net.Socket>();
  let accepted = 0;
  let heldChunks = 0;
  let heldSum = 0;
  let heldMax = 0;
  const onHeld = (ms: number) => {
    heldChunks++;
    heldSum += ms;
    heldMax = Math.max(heldMax, ms);
  };
  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    if (sockets.size / 2 >= maxConnections) {
      client.destroy();
      return;
    }
    const id = ++accepted;
    const upstream = net.connect({ host: target.host, port: target.port, allowHalfOpen: true });
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    sockets.add(client);
    sockets.add(upstream);
    const observe = options.observe;
    const stopUp = pipeDelayed(
      client,
      upstream,
      delayMs,
      maxQueued,
      (c) => observe?.(id, 'toServer', c),
      onHeld,
    );
    const stopDown = pipeDelayed(
      upstream,
      client,
      delayMs,
      maxQueued,
      (c) => observe?.(id, 'toClient', c),
      onHeld,
    );
    let open = 2;
    const closeBoth = () => {
      stopUp();
      stopDown();
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    // Both sides ended cleanly (each end already relayed after the delay): done.
    const onClose = () => {
      if (--open === 0) closeBoth();
    };
    client.on('close', onClose);
    upstream.on('close', onClose);
    client.on('error', closeBoth);
    upstream.on('error', closeBoth);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, listenHost, () => {
      const address = server.address() as net.AddressInfo;
      resolve({
        port: address.port,
        delayMs,
        connections: () => accepted,
        held: () => ({
          chunks: heldChunks,
          meanMs: heldChunks === 0 ? 0 : heldSum / heldChunks,
          maxMs: heldMax,
        }),
        close: () =>
          new Promise<void>((done) => {
            for (const s of sockets) s.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}
