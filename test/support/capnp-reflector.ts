/**
 * The embargo scenario of peers/python/capnp/reflector.capnp, shared by the Cap'n Proto tests:
 * our Reflector (serveCapnp with extras that hand back the Counter they are given) and our
 * side of the client (a local Counter passed to the Reflector, calls pipelined on the promised
 * result, then calls on the same promised capability once it has resolved to the Counter).
 */
import type { Contract } from '../../src/contract/spec.js';
import { PromiseHook } from '../../src/protocols/capnp/capability.js';
import {
  Capability,
  type CapnpServeOptions,
  type CapnpServer,
  type CapnpSession,
  loadCapnpSchema,
  serveCapnp,
} from '../../src/protocols/capnp/index.js';
import { peerScript } from './peers.js';

export const reflectorSchemaPath = peerScript('capnp', 'reflector.capnp');

/** Counter.next as the counting relay writes a Call's method (`0x<interface id>@<ordinal>`). */
export function counterNext(): string {
  const iface = loadCapnpSchema(reflectorSchemaPath).registry.interfaces.get('Counter');
  if (iface === undefined) throw new Error('reflector.capnp has no Counter');
  return `0x${iface.id.toString(16)}@0`;
}

/** No contract methods: everything the Reflector serves is a capability method (extras). */
const reflectorContract = {
  name: 'Reflector',
  namespace: 'rpclab.reflector',
  methods: {},
} as const satisfies Contract;

/**
 * Our Reflector: reflect returns the Counter at once, hold once release is called, later at
 * once a promise of it that release resolves. `onRelease` runs as each release() arrives (what
 * the connection has processed by then is settled).
 */
export function serveReflector(
  options: CapnpServeOptions = {},
  onRelease?: (held: number) => void,
): Promise<CapnpServer> {
  let waiting: (() => void)[] = [];
  const schema = loadCapnpSchema(reflectorSchemaPath).registry;
  const keep = (cap: unknown): Capability => {
    if (!(cap instanceof Capability)) throw new Error('cap is not a capability');
    // The params' capability is lent for the call: the results need a reference of their own.
    return cap.dup();
  };
  return serveCapnp(
    reflectorContract,
    {},
    {
      port: 0,
      ...options,
      schemaPath: reflectorSchemaPath,
      service: 'Reflector',
      extras: {
        reflect: ({ cap }) => ({ cap: keep(cap) }),
        hold: async ({ cap }) => {
          const kept = keep(cap);
          await new Promise<void>((resolve) => waiting.push(resolve));
          return { cap: kept };
        },
        later: ({ cap }) => {
          const kept = keep(cap);
          // A capability not settled yet: exported as senderPromise, settled by a Resolve.
          const promise = new PromiseHook();
          waiting.push(() => promise.resolve(kept.hook));
          return { cap: new Capability(promise, kept.iface, schema) };
        },
        release: () => {
          const released = waiting;
          waiting = [];
          for (const r of released) r();
          onRelease?.(released.length);
          return { held: released.length };
        },
      },
    },
  );
}

export type ReflectorMethod = 'reflect' | 'hold' | 'later';

export interface ReflectorRun {
  /** The seqs in the order our Counter received them. */
  readonly seen: number[];
  /** What each next() returned, in the order the calls were made. */
  readonly replies: number[];
  /**
   * Embargoes open on our connection just before the late calls were made (1: they wait): after
   * the result came in (reflect, hold) or after release() returned (later).
   */
  readonly embargoesBeforeLateCalls: number;
  /** release()'s count of held calls (hold only). */
  readonly held: number | undefined;
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);

/**
 * Passes a local Counter to the session's Reflector with `method`, pipelines next(0..before-1)
 * on the promised result, and once the result is in calls next(before..total-1) on the same
 * promised capability. Every capability it made is released before it returns.
 */
export async function runReflector(
  session: CapnpSession,
  method: ReflectorMethod,
  before: number,
  total: number,
): Promise<ReflectorRun> {
  const seen: number[] = [];
  const counter = session.serve('Counter', {
    next: ({ seq }) => {
      seen.push(seq as number);
      return { seq };
    },
  });
  const reflector = session.bootstrap('Reflector');
  try {
    const pending = reflector.call(method, { cap: counter });
    const promised = pending.cap('cap');
    // Sent on the promised answer, before the Reflector has returned.
    const early = range(0, before).map((seq) => promised.call('next', { seq }).result);
    let held: number | undefined;
    if (method === 'hold') held = (await reflector.call('release').result).held as number;
    const result = await pending.result;
    // reflect, hold: the Disembargo has gone out but cannot have come back yet (it needs a
    // round trip). later: the result is a promise, our Counter only once release() resolves it.
    if (method === 'later') held = (await reflector.call('release').result).held as number;
    const embargoesBeforeLateCalls = session.connection.tableSizes().embargoes;
    const late = range(before, total).map((seq) => promised.call('next', { seq }).result);
    const replies = (await Promise.all([...early, ...late])).map((r) => r.seq as number);
    (result.cap as Capability).release();
    promised.release();
    return { seen, replies, embargoesBeforeLateCalls, held };
  } finally {
    counter.release();
    reflector.release();
  }
}

export { range };
