/**
 * The server: every accepted TCP connection is a MsgpackRpcConnection whose requests go to the
 * contract through createDispatcher (so arguments are validated as in every other row). The
 * connection stays symmetric: `extras` methods get the calling connection and may call back
 * into the client (a client serves methods with its `handlers` option), `onConnection` sees
 * each one, and notifications from clients reach `onNotification`.
 */
import net from 'node:net';
import { createSyncDispatcher } from '../../contract/dispatch.js';
import { InvalidArgumentError, NoSuchMethodError, TransportError } from '../../contract/errors.js';
import { type Contract, getMethod, type Implementation, type MethodSpec } from '../../contract/spec.js';
import { CountedConnections } from '../../serve/counted.js';
import {
  DEFAULT_HOST,
  DEFAULT_MAX_MESSAGE_BYTES,
  DEFAULT_TIMEOUT_MS,
  type RunningServer,
  type ServeOptions,
} from '../types.js';
import { type HandlerResult, MsgpackRpcConnection, type NotificationHandler } from './connection.js';

export const MSGPACKRPC_DEFAULT_PORT = 7001;

/** A method beyond the contract: gets the calling connection first, then the params as sent (unvalidated). */
// biome-ignore lint/suspicious/noExplicitAny: params are whatever the peer sent
export type PeerMethod = (peer: MsgpackRpcConnection, ...params: any[]) => unknown;

export interface MsgpackRpcServeOptions extends ServeOptions {
  /** Methods served beyond the contract, e.g. one that calls back into the client. */
  extras?: Readonly<Record<string, PeerMethod>>;
  /** Notifications from clients ([2, method, params]); errors it throws are dropped. */
  onNotification?: NotificationHandler;
  /** Each accepted connection, e.g. to call or notify the client later. */
  onConnection?: (peer: MsgpackRpcConnection) => void;
  /**
   * Requests in progress at once per connection (default 1,000); past it a request is not run
   * and is answered at once with a TRANSPORT "busy" error.
   */
  maxConnectionRequests?: number;
  /** Timeout of calls the server makes to clients (default 10 s). */
  timeoutMs?: number;
}

export interface MsgpackRpcServer extends RunningServer {
  /** The open connections. */
  connections(): ReadonlySet<MsgpackRpcConnection>;
}

/**
 * An old-spec peer (msgpack-rpc-python 0.4.1) sends Python bytes as raw str; framing.ts makes
 * those that are not UTF-8 bin, and here a str that reached a `binary` parameter becomes its
 * UTF-8 bytes again (exactly the bytes sent: it was valid UTF-8 to be decoded as text).
 */
export function binaryFromText(spec: MethodSpec, params: unknown[]): unknown[] {
  for (let i = 0; i < spec.params.length && i < params.length; i++) {
    if (spec.params[i]!.type === 'binary' && typeof params[i] === 'string') {
      params[i] = new Uint8Array(Buffer.from(params[i] as string, 'utf8'));
    }
  }
  return params;
}

export async function serveMsgpackRpc<C extends Contract>(
  contract: C,
  impl: Implementation<C>,
  options: MsgpackRpcServeOptions = {},
): Promise<MsgpackRpcServer> {
  const dispatch = createSyncDispatcher(contract, impl);
  const specs = new Map<string, { spec: MethodSpec; binary: boolean }>();
  for (const name of Object.keys(contract.methods)) {
    const spec = getMethod(contract, name)!;
    specs.set(name, { spec, binary: spec.params.some((p) => p.type === 'binary') });
  }
  const extras = new Map(Object.entries(options.extras ?? {}));
  for (const name of extras.keys()) {
    if (specs.has(name)) throw new InvalidArgumentError(`extra method ${name} is already a contract method`);
  }
  const maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (options.maxConnectionRequests !== undefined && !(options.maxConnectionRequests >= 1)) {
    throw new InvalidArgumentError(
      `maxConnectionRequests must be at least 1, got ${options.maxConnectionRequests}`,
    );
  }

  const onRequest = (
    method: string,
    params: unknown[],
    peer: MsgpackRpcConnection,
  ): HandlerResult | Promise<HandlerResult> => {
    const entry = specs.get(method);
    if (entry !== undefined) {
      const type = entry.spec.result;
      // A synchronous implementation is answered in the turn its request arrived, without a
      // promise per call; an asynchronous one through its promise.
      const result = dispatch(method, entry.binary ? binaryFromText(entry.spec, params) : params);
      return result instanceof Promise
        ? result.then((value: unknown) => ({ value, type }))
        : { value: result, type };
    }
    const extra = extras.get(method);
    if (extra === undefined) throw new NoSuchMethodError(method);
    return Promise.resolve(extra(peer, ...params)).then((value) => ({ value }));
  };

  const connections = new Set<MsgpackRpcConnection>();
  const counted = new CountedConnections();
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    const conn = new MsgpackRpcConnection(socket, {
      maxMessageBytes,
      timeoutMs,
      onRequest,
      ...(options.onNotification === undefined ? {} : { onNotification: options.onNotification }),
      ...(options.maxConnectionRequests === undefined
        ? {}
        : { maxIncomingRequests: options.maxConnectionRequests }),
      onClose: (c) => connections.delete(c),
    });
    if (conn.closed) return;
    connections.add(conn);
    counted.track(socket, () => conn.incomingCalls);
    try {
      options.onConnection?.(conn);
    } catch (err) {
      console.error('msgpackrpc server: onConnection threw:', err);
    }
  });
  server.on('error', (err) => console.error('msgpackrpc server:', err));
  const host = options.host ?? DEFAULT_HOST;
  const wanted = options.port ?? MSGPACKRPC_DEFAULT_PORT;
  await new Promise<void>((resolve, reject) => {
    const fail = (err: Error) =>
      reject(
        new TransportError(`msgpackrpc cannot listen on ${host}:${wanted}: ${err.message}`, { cause: err }),
      );
    server.once('error', fail);
    server.listen(wanted, host, () => {
      server.off('error', fail);
      resolve();
    });
  });
  const port = (server.address() as net.AddressInfo).port;
  const bracketed = host.includes(':') ? `[${host}]` : host;
  return {
    host,
    port,
    address: `tcp://${bracketed}:${port}`,
    connections: () => connections,
    drain: (graceMs: number) =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        void counted.drain(graceMs);
      }),
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of [...connections]) void c.close();
        connections.clear();
        // After drain() the server is closed already; its close callback would not come again.
        if (server.listening) server.close(() => resolve());
        else resolve();
      }),
  };
}
