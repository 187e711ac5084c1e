/**
 * The RPyC server: serves a contract implementation as an rpyc service root, the way an
 * rpyc.Service subclass with `exposed_` methods is served by rpyc's ThreadedServer. A Python
 * client's `conn.root.add(2, 5)` reaches the contract's `add` through createDispatcher (so
 * arguments are validated like every other protocol's), and only the contract's methods (plus
 * any `extras` and rpyc's get_service_name/get_service_aliases) are reachable.
 */
import net from 'node:net';
import { createDispatcher } from '../../contract/dispatch.js';
import { InvalidArgumentError, TransportError } from '../../contract/errors.js';
import { type Contract, getMethod, type Implementation, type MethodSpec } from '../../contract/spec.js';
import { CountedConnections } from '../../serve/counted.js';
import { DEFAULT_HOST, DEFAULT_MAX_MESSAGE_BYTES, type RunningServer, type ServeOptions } from '../types.js';
import { asFloat } from './brine.js';
import { type ConnectionStats, RpycConnection } from './connection.js';
import { DEFAULT_PORT, SYNC_REQUEST_TIMEOUT_MS } from './consts.js';
import type { Compression } from './framing.js';
import { callUnvalidated, type ExposedMethod, ExposedObject, noKeywords } from './local-objects.js';
import { RemoteRef } from './netref.js';
import { asPythonException } from './vinegar.js';

/** A raw exposed method: receives unvalidated arguments (netrefs to Python objects included). */
export type ExtraMethod = (...args: never[]) => unknown;

export interface RpycServeOptions extends ServeOptions {
  /**
   * Methods exposed beyond the contract, e.g. `apply: (fn: RemoteRef, a, b) => fn.call(a, b)`
   * to call back a function the Python client passes in. Arguments are not validated.
   */
  extras?: Readonly<Record<string, ExtraMethod>>;
  /** The class name Python sees for the root ("rpclab.<serviceName>"); default `<Contract>Service`. */
  serviceName?: string;
  /** Timeout of requests the server sends to clients (callbacks); default 30 s, rpyc's sync_request_timeout. */
  timeoutMs?: number;
  /**
   * Compression of what we send (framing.ts Compression): `true` every payload over 3000 bytes
   * as rpyc does, `false` never, `'auto'` (default) only where a sample shows it pays.
   * Compressed frames from the peer are read either way.
   */
  compress?: Compression;
  /** Include JavaScript stacks in the tracebacks sent with exceptions (default false). */
  includeStack?: boolean;
  /**
   * Most calls into one client (callbacks) waiting at once; past it a callback fails at once with
   * TRANSPORT (a ConnectionError in Python). Default 10,000 (rpyc's own server waits on one at a
   * time per connection, as its serving thread blocks).
   */
  maxPendingCallbacks?: number;
}

/** Default of RpycServeOptions.maxPendingCallbacks: ~20 MB of waiting callbacks per connection. */
const MAX_PENDING_CALLBACKS = 10_000;

export interface RpycServerStats extends ConnectionStats {
  readonly connections: number;
}

export interface RpycServer extends RunningServer {
  /** Totals over open connections: the object table size is what the clients keep alive. */
  stats(): RpycServerStats;
}

function typeError(message: string): InvalidArgumentError {
  return asPythonException(new InvalidArgumentError(message), 'TypeError');
}

/** Python-style keyword arguments mapped onto the contract's parameter names. */
function withKeywords(
  name: string,
  spec: MethodSpec,
  args: readonly unknown[],
  kwargs: ReadonlyArray<readonly [string, unknown]>,
): unknown[] {
  if (kwargs.length === 0) return [...args];
  const out = [...args];
  for (const [key, value] of kwargs) {
    const i = spec.params.findIndex((p) => p.name === key);
    if (i < 0) throw typeError(`${name}() got an unexpected keyword argument '${key}'`);
    if (i < out.length && out[i] !== undefined)
      throw typeError(`${name}() got multiple values for argument '${key}'`);
    while (out.length < i) out.push(undefined);
    out[i] = value;
  }
  return out;
}

/**
 * A contract takes values; Python sends what brine cannot carry (a bytearray, a memoryview, a
 * list) by reference, which the contract's checks then refuse. Say so in the error.
 */
function explainReferences(err: unknown, args: readonly unknown[]): unknown {
  const ref = args.find((a) => a instanceof RemoteRef);
  if (!(err instanceof InvalidArgumentError) || ref === undefined) return err;
  return typeError(
    `${err.message} (a Python ${ref.typeName} arrives by reference, and this method takes values: ` +
      'pass bytes(...), tuple(...), int(...) instead)',
  );
}

/** The service root for a contract: contract methods, extras, and rpyc's service-name methods. */
export function buildServiceRoot<C extends Contract>(
  contract: C,
  impl: Implementation<C>,
  options: Pick<RpycServeOptions, 'extras' | 'serviceName'> = {},
): ExposedObject {
  const dispatch = createDispatcher(contract, impl);
  const methods = new Map<string, ExposedMethod>();
  const typeName = options.serviceName ?? `${contract.name}Service`;
  // rpyc.Service's alias: the class name upper-cased, less a trailing "SERVICE".
  const alias = typeName.toUpperCase().replace(/SERVICE$/, '');
  methods.set('get_service_name', {
    fn: () => alias,
    doc: 'returns the canonical name of the service',
    plain: true,
  });
  methods.set('get_service_aliases', {
    fn: () => [alias],
    doc: 'returns the aliases of this service',
    plain: true,
  });
  for (const [name, extra] of Object.entries(options.extras ?? {})) {
    const call = extra as (...args: unknown[]) => unknown;
    methods.set(name, {
      fn: (args, kwargs) => {
        if (kwargs.length > 0) throw noKeywords(name);
        return callUnvalidated(() => call(...args));
      },
    });
  }
  for (const name of Object.keys(contract.methods)) {
    const spec = getMethod(contract, name)!;
    methods.set(name, {
      fn: (args, kwargs) => {
        const all = withKeywords(name, spec, args, kwargs);
        return dispatch(name, all).then(
          // brine sends a whole JS number as an int: a double result must be a Python float.
          (result) => (spec.result === 'double' ? asFloat(result) : result),
          (err: unknown) => {
            throw explainReferences(err, all);
          },
        );
      },
      ...(spec.doc === undefined ? {} : { doc: spec.doc }),
    });
  }
  return new ExposedObject(typeName, methods);
}

export async function serveRpyc<C extends Contract>(
  contract: C,
  impl: Implementation<C>,
  options: RpycServeOptions = {},
): Promise<RpycServer> {
  const root = buildServiceRoot(contract, impl, options);
  const connections = new Set<RpycConnection>();
  const counted = new CountedConnections();
  const server = net.createServer((socket) => {
    const conn = new RpycConnection(socket, {
      root,
      // A Python service waits this long on a client's callback; so do we by default.
      timeoutMs: options.timeoutMs ?? SYNC_REQUEST_TIMEOUT_MS,
      maxMessageBytes: options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
      compress: options.compress ?? 'auto',
      includeStack: options.includeStack ?? false,
      maxPendingRequests: options.maxPendingCallbacks ?? MAX_PENDING_CALLBACKS,
      // rpyc 6 and rpyc 4.1–5 clients differ in the message envelope only: follow the client's.
      envelope: 'auto',
      onClose: (c) => connections.delete(c),
    });
    if (conn.closed) return;
    connections.add(conn);
    counted.track(socket, () => conn.servingCalls);
  });
  const host = options.host ?? DEFAULT_HOST;
  const wanted = options.port ?? DEFAULT_PORT;
  await new Promise<void>((resolve, reject) => {
    const fail = (err: Error) =>
      reject(new TransportError(`rpyc cannot listen on ${host}:${wanted}: ${err.message}`, { cause: err }));
    server.once('error', fail);
    server.listen(wanted, host, () => {
      server.off('error', fail);
      resolve();
    });
  });
  const port = (server.address() as net.AddressInfo).port;
  return {
    host,
    port,
    address: `tcp://${host}:${port}`,
    stats() {
      let localObjects = 0;
      let remoteRefs = 0;
      let pending = 0;
      let unsentReplyBytes = 0;
      for (const c of connections) {
        const s = c.stats();
        localObjects += s.localObjects;
        remoteRefs += s.remoteRefs;
        pending += s.pending;
        unsentReplyBytes += s.unsentReplyBytes;
      }
      return { connections: connections.size, localObjects, remoteRefs, pending, unsentReplyBytes };
    },
    drain: (graceMs: number) =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        void counted.drain(graceMs);
      }),
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of connections) c.destroy();
        connections.clear();
        // After drain() the server is closed already; its close callback would not come again.
        if (server.listening) server.close(() => resolve());
        else resolve();
      }),
  };
}
