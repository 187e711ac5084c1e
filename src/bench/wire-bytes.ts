/**
 * Bytes on the wire per call, in a pass of its own so timing runs are undisturbed: a fresh client
 * talks to the row's server through a counting TCP relay, makes one uncounted call (connection
 * set-up, handshakes, first-call caches), then a fixed number of sequential calls that are counted.
 * Arguments, payloads and call counts are fixed, so the figures are the same in every run, but for
 * one: gRPC's set-up bytes move by a byte with the clock, since its first reply's Date header is
 * Huffman-coded (5- or 6-bit digits).
 */
import { calculatorContract } from '../contract/calculator.js';
import { startCountingRelay } from '../net/counting-relay.js';
import { callOnce } from './load.js';
import type { BenchRow } from './rows.js';
import { type CallKind, type ChainMode, wireCalls } from './scenarios.js';

export interface WireKind {
  /** "add", "echo-16B", ... */
  readonly id: string;
  readonly method: CallKind;
  readonly payloadBytes: number;
  /** For chained calls ("chain-awaited", "chain-pipelined"): counted by chain.ts instead. */
  readonly chain?: ChainMode;
}

export interface WireFigures {
  readonly kind: string;
  readonly calls: number;
  /** Client to server, per call. */
  readonly requestBytes: number;
  /** Server to client, per call. */
  readonly responseBytes: number;
  /** Bytes of connecting plus the first call beyond one steady-state call (handshakes, greetings). */
  readonly setupBytes: number;
  /** Chained calls only: round trips per call, counted from the RPC messages (chain.ts). */
  readonly roundTrips?: number;
  /** Chained calls only: RPC messages per call by sender and kind ("client CALL": 2, ...). */
  readonly messagesPerCall?: Record<string, number>;
}

/** Lets late frames (window updates, acks) cross the relay before it is read or reset. */
const SETTLE_MS = 30;
const settle = () => new Promise((r) => setTimeout(r, SETTLE_MS));

/** Waits until just after the next wall-clock second starts. */
function nextSecond(): Promise<void> {
  return new Promise((r) => setTimeout(r, 1_000 - (Date.now() % 1_000) + 5));
}

/**
 * One attempt: connect through a fresh relay, one uncounted call, then the counted ones. Returns
 * undefined when the attempt straddled a wall-clock second: servers that send a Date header over
 * HTTP/2 (gRPC) re-send it in full when the second changes (HPACK indexes the previous value),
 * so such an attempt would count a few bytes more than one inside a single second.
 */
async function attempt(
  row: BenchRow,
  serverPort: number,
  kind: WireKind,
  timeoutMs: number,
): Promise<WireFigures | undefined> {
  const relay = await startCountingRelay({ host: '127.0.0.1', port: serverPort });
  try {
    const client = await row.protocol.connect(calculatorContract, {
      port: relay.port,
      variant: row.variant,
      timeoutMs,
    });
    try {
      const second = Math.floor(Date.now() / 1_000);
      await callOnce(client, kind);
      await settle();
      const first = relay.counts();
      relay.reset();
      const calls = wireCalls(kind.method, kind.payloadBytes);
      for (let i = 0; i < calls; i++) await callOnce(client, kind);
      await settle();
      const counted = relay.counts();
      if (Math.floor(Date.now() / 1_000) !== second) return undefined;
      const requestBytes = counted.toServer / calls;
      const responseBytes = counted.toClient / calls;
      return {
        kind: kind.id,
        calls,
        requestBytes,
        responseBytes,
        setupBytes: Math.max(0, first.toServer + first.toClient - requestBytes - responseBytes),
      };
    } finally {
      await client.close();
    }
  } finally {
    await relay.close();
  }
}

export async function measureWireBytes(
  row: BenchRow,
  serverPort: number,
  kind: WireKind,
  timeoutMs: number,
): Promise<WireFigures> {
  // An attempt normally takes milliseconds; a busy hour on the shared machine can stretch one
  // past a second boundary, and then the next, so a few more tries than one would think.
  for (let tries = 0; tries < 6; tries++) {
    const figures = await attempt(row, serverPort, kind, timeoutMs);
    if (figures !== undefined) return figures;
    await nextSecond();
  }
  throw new Error(`${kind.id}: the counted calls never fitted inside one wall-clock second`);
}
