/**
 * The chained-call scenarios: what promise pipelining buys. A chained call asks the Calculator
 * for a capability (`adder(20)`, which returns an Adder) and calls it (`add(22)`, 42):
 *
 * - awaited: the client waits for adder() to return, then calls the capability it got;
 * - pipelined: the client calls add() on the promised capability at once, before adder()
 *   has returned, so both calls travel together.
 *
 * Only Cap'n Proto rows run them (the only protocol here with capabilities as values). Round
 * trips are not inferred from timing: a relay decodes the RPC messages crossing it and counts
 * how often the client sent calls (Call, Bootstrap) after a Return had come back, i.e. how many
 * times the client had to wait for the server before it could go on.
 */
import * as rpc from 'capnp-es/capnp/rpc';
import { type HeldStats, type RelayDirection, startDelayRelay } from '../net/delay-relay.js';
import { FrameReader, messageFromFrame } from '../protocols/capnp/framing.js';
import { Capability, openCapnp } from '../protocols/capnp/index.js';
import { DEFAULT_MAX_MESSAGE_BYTES } from '../protocols/types.js';
import { measureCalls, type WindowResult } from './load.js';
import type { BenchRow } from './rows.js';
import type { ChainMode, RunSettings, Scenario } from './scenarios.js';
import type { WireFigures } from './wire-bytes.js';

/** adder(CHAIN_BASE).add(CHAIN_X): fixed, so bytes on the wire are the same in every run. */
export const CHAIN_BASE = 20;
export const CHAIN_X = 22;

/** Chained calls counted in the round-trip pass (sequential, after one uncounted call). */
export const CHAIN_COUNTED_CALLS = 10;

/** Why a row sits the chained-call scenarios out, if it does. */
export function chainSkipReason(row: BenchRow): string | undefined {
  return row.protocol.name === 'capnp'
    ? undefined
    : "no method returns a capability to call: a Cap'n Proto scenario";
}

/** One chained call on `calc` (the Calculator bootstrap capability); checks the sum. */
export async function chainOnce(calc: Capability, mode: ChainMode): Promise<void> {
  let sum: unknown;
  if (mode === 'awaited') {
    const got = await calc.call('adder', { base: CHAIN_BASE }).result;
    const adder = got.adder;
    if (!(adder instanceof Capability)) throw new Error('adder() returned no capability');
    try {
      sum = (await adder.call('add', { x: CHAIN_X }).result).result;
    } finally {
      adder.release();
    }
  } else {
    const pending = calc.call('adder', { base: CHAIN_BASE });
    const promised = pending.cap('adder');
    // The results own a reference of their own to the same Adder: give it back when it comes.
    const returned = pending.result.then((got) => {
      if (got.adder instanceof Capability) got.adder.release();
    });
    try {
      const [reply] = await Promise.all([promised.call('add', { x: CHAIN_X }).result, returned]);
      sum = reply.result;
    } finally {
      promised.release();
    }
  }
  if (sum !== CHAIN_BASE + CHAIN_X) throw new Error(`the chained call returned ${String(sum)}`);
}

const MESSAGE_NAMES = new Map(Object.entries(rpc.Message_Which).map(([name, n]) => [n as number, name]));

/**
 * Decodes the RPC messages crossing a relay (both directions, every connection) and counts the
 * client's round trips: a round trip starts when the client sends a question (Call or Bootstrap)
 * while none of its questions is in flight unanswered-since-the-last-Return, that is, at the
 * start or after a Return came back. Finish, Release and the like ask for nothing and are not
 * counted. Sequential chained calls: awaited gives 2 per call, pipelined 1.
 */
export class RoundTripCounter {
  private readonly readers = new Map<string, FrameReader>();
  /** Per connection: the next question sent starts a new round trip. */
  private readonly ready = new Map<number, boolean>();
  private trips = 0;
  private counts = new Map<string, number>();

  observe = (connection: number, direction: RelayDirection, chunk: Buffer): void => {
    const key = `${connection}:${direction}`;
    let reader = this.readers.get(key);
    if (reader === undefined) {
      reader = new FrameReader({ maxMessageBytes: DEFAULT_MAX_MESSAGE_BYTES });
      this.readers.set(key, reader);
    }
    for (const frame of reader.push(chunk)) {
      const which = messageFromFrame(frame, DEFAULT_MAX_MESSAGE_BYTES).getRoot(rpc.Message).which();
      this.record(connection, direction, which);
    }
  };

  /** Counts one decoded message (exposed for tests that feed message kinds directly). */
  record(connection: number, direction: RelayDirection, which: number): void {
    const name = `${direction === 'toServer' ? 'client' : 'server'} ${MESSAGE_NAMES.get(which) ?? which}`;
    this.counts.set(name, (this.counts.get(name) ?? 0) + 1);
    if (direction === 'toServer' && (which === rpc.Message.CALL || which === rpc.Message.BOOTSTRAP)) {
      if (this.ready.get(connection) ?? true) this.trips++;
      this.ready.set(connection, false);
    } else if (direction === 'toClient' && which === rpc.Message.RETURN) {
      this.ready.set(connection, true);
    }
  }

  roundTrips(): number {
    return this.trips;
  }

  /** Messages seen since the last reset, by sender and kind ("client CALL": 2, ...). */
  messages(): Record<string, number> {
    return Object.fromEntries(this.counts);
  }

  /** Starts counting afresh (partial frames already buffered stay with their readers). */
  reset(): void {
    this.trips = 0;
    this.counts = new Map();
    for (const key of this.ready.keys()) this.ready.set(key, true);
  }
}

interface ChainSession {
  readonly calc: Capability;
  /** The relay's held-time figures, when there is a relay. */
  held(): HeldStats | undefined;
  close(): Promise<void>;
}

/** A connection to the row's server (through a delay relay when delayMs > 0) and its bootstrap. */
async function openChain(
  port: number,
  delayMs: number,
  timeoutMs: number,
  observe?: RoundTripCounter['observe'],
): Promise<ChainSession> {
  const relay =
    delayMs > 0 || observe !== undefined
      ? await startDelayRelay({
          target: { host: '127.0.0.1', port },
          delayMs,
          ...(observe ? { observe } : {}),
        })
      : undefined;
  try {
    const session = await openCapnp({ port: relay?.port ?? port, timeoutMs });
    const calc = session.bootstrap();
    return {
      calc,
      held: () => relay?.held(),
      close: async () => {
        calc.release();
        await session.close();
        await relay?.close();
      },
    };
  } catch (err) {
    await relay?.close();
    throw err;
  }
}

/** One measuring window of a chained-call scenario, on one connection (calls in flight share it). */
export async function measureChainWindow(
  port: number,
  scenario: Scenario,
  serverPid: number,
  settings: RunSettings,
): Promise<WindowResult & { readonly relayHeldMs?: number }> {
  const chain = scenario.chain;
  if (chain === undefined) throw new Error(`${scenario.id} is not a chained-call scenario`);
  const session = await openChain(port, chain.delayMs, settings.callTimeoutMs);
  try {
    const w = await measureCalls(
      () => chainOnce(session.calc, chain.mode),
      scenario.inFlight,
      serverPid,
      settings,
    );
    // Warm-up included: the relay cannot tell the window's chunks from the warm-up's.
    const held = session.held();
    return held === undefined || held.chunks === 0 ? w : { ...w, relayHeldMs: held.meanMs };
  } finally {
    await session.close();
  }
}

export interface ChainWireFigures extends WireFigures {
  readonly roundTrips: number;
  /** The RPC messages of the counted calls, per call, by sender and kind. */
  readonly messagesPerCall: Record<string, number>;
}

/** Lets late messages (Finish, Release) cross the relay before it is read. */
const SETTLE_MS = 30;
const settle = () => new Promise((r) => setTimeout(r, SETTLE_MS));

/**
 * Round trips and bytes per chained call: one uncounted chained call (the bootstrap, first-call
 * set-up), then CHAIN_COUNTED_CALLS sequential ones, through a relay with no added delay that
 * counts bytes and decodes messages.
 */
export async function measureChainWire(
  port: number,
  kind: { readonly id: string; readonly mode: ChainMode },
  timeoutMs: number,
): Promise<ChainWireFigures> {
  const counter = new RoundTripCounter();
  let toServer = 0;
  let toClient = 0;
  const observe = (connection: number, direction: RelayDirection, chunk: Buffer) => {
    if (direction === 'toServer') toServer += chunk.length;
    else toClient += chunk.length;
    counter.observe(connection, direction, chunk);
  };
  const session = await openChain(port, 0, timeoutMs, observe);
  try {
    await chainOnce(session.calc, kind.mode);
    await settle();
    const setup = toServer + toClient;
    toServer = 0;
    toClient = 0;
    counter.reset();
    const calls = CHAIN_COUNTED_CALLS;
    for (let i = 0; i < calls; i++) await chainOnce(session.calc, kind.mode);
    await settle();
    const messagesPerCall = Object.fromEntries(
      Object.entries(counter.messages()).map(([k, v]) => [k, v / calls]),
    );
    return {
      kind: kind.id,
      calls,
      requestBytes: toServer / calls,
      responseBytes: toClient / calls,
      setupBytes: Math.max(0, setup - (toServer + toClient) / calls),
      roundTrips: counter.roundTrips() / calls,
      messagesPerCall,
    };
  } finally {
    await session.close();
  }
}
