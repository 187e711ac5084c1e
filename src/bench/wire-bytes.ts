/**
 * Bytes on the wire per call, in a pass of its own so timing runs are undisturbed: a fresh client
 * talks to the row's server through a counting TCP relay, makes one uncounted call (connection
 * set-up, handshakes, first-call caches), then a fixed number of sequential calls that are counted.
 * Arguments, payloads and call counts are fixed, so the figures are the same in every run.
 */
import { calculatorContract } from '../contract/calculator.js';
import { startCountingRelay } from '../net/counting-relay.js';
import { callOnce } from './load.js';
import type { BenchRow } from './rows.js';
import { type CallKind, wireCalls } from './scenarios.js';

export interface WireKind {
  /** "add", "echo-16B", ... */
  readonly id: string;
  readonly method: CallKind;
  readonly payloadBytes: number;
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
}

/** Lets late frames (window updates, acks) cross the relay before it is read or reset. */
const SETTLE_MS = 30;
const settle = () => new Promise((r) => setTimeout(r, SETTLE_MS));

export async function measureWireBytes(
  row: BenchRow,
  serverPort: number,
  kind: WireKind,
  timeoutMs: number,
): Promise<WireFigures> {
  const relay = await startCountingRelay({ host: '127.0.0.1', port: serverPort });
  try {
    const client = await row.protocol.connect(calculatorContract, {
      port: relay.port,
      variant: row.variant,
      timeoutMs,
    });
    try {
      await callOnce(client, kind);
      await settle();
      const first = relay.counts();
      relay.reset();
      const calls = wireCalls(kind.method, kind.payloadBytes);
      for (let i = 0; i < calls; i++) await callOnce(client, kind);
      await settle();
      const counted = relay.counts();
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
