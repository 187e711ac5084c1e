/**
 * The client: a TCP connection to a msgpack-rpc server, as a MsgpackRpcConnection (so it
 * answers the server's requests with `handlers` and receives its notifications), and the typed
 * contract client on top of it.
 */
import net from 'node:net';
import { type ClientTransport, createClient } from '../../contract/client.js';
import { NoSuchMethodError, TimeoutError, TransportError } from '../../contract/errors.js';
import { type Client, type Contract, getMethod, type ValueType } from '../../contract/spec.js';
import { MAX_TIMER_MS, timerDelay } from '../../net/deadline.js';
import {
  type ConnectOptions,
  DEFAULT_HOST,
  DEFAULT_MAX_MESSAGE_BYTES,
  DEFAULT_TIMEOUT_MS,
} from '../types.js';
import { MsgpackRpcConnection, type NotificationHandler } from './connection.js';
import { MSGPACKRPC_DEFAULT_PORT } from './server.js';

/** A method the client serves to the server; `this` is the connection. */
// biome-ignore lint/suspicious/noExplicitAny: params are whatever the peer sent
export type ClientMethod = (this: MsgpackRpcConnection, ...params: any[]) => unknown;

export interface MsgpackRpcConnectOptions extends ConnectOptions {
  /** Methods the server may call on this connection (unvalidated params, as sent). */
  handlers?: Readonly<Record<string, ClientMethod>>;
  /** Notifications from the server. */
  onNotification?: NotificationHandler;
  /** The server's requests in progress at once (default 1,000; past it: a TRANSPORT "busy" error). */
  maxIncomingRequests?: number;
  /** msgid of the first call (default 0). */
  firstMsgid?: number;
}

/** Opens a connection (TRANSPORT if refused, TIMEOUT if not connected within timeoutMs). */
export function openMsgpackRpc(options: MsgpackRpcConnectOptions = {}): Promise<MsgpackRpcConnection> {
  const host = options.host ?? DEFAULT_HOST;
  const port = options.port ?? MSGPACKRPC_DEFAULT_PORT;
  const timeoutMs = Math.min(options.timeoutMs ?? DEFAULT_TIMEOUT_MS, MAX_TIMER_MS);
  const handlers = new Map(Object.entries(options.handlers ?? {}));
  return new Promise<MsgpackRpcConnection>((resolve, reject) => {
    const socket = net.connect({ host, port, allowHalfOpen: true });
    const delay = timerDelay(timeoutMs);
    const timer =
      delay === undefined
        ? undefined
        : setTimeout(() => {
            socket.destroy();
            reject(new TimeoutError(`connecting to ${host}:${port} timed out after ${timeoutMs} ms`));
          }, delay);
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(new TransportError(`cannot connect to ${host}:${port}: ${err.message}`, { cause: err }));
    });
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      const conn = new MsgpackRpcConnection(socket, {
        maxMessageBytes: options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
        timeoutMs,
        onRequest: (method, params, connection) => {
          const handler = handlers.get(method);
          if (handler === undefined) throw new NoSuchMethodError(method);
          return Promise.resolve(handler.apply(connection, params)).then((value) => ({ value }));
        },
        ...(options.onNotification === undefined ? {} : { onNotification: options.onNotification }),
        ...(options.maxIncomingRequests === undefined
          ? {}
          : { maxIncomingRequests: options.maxIncomingRequests }),
        ...(options.firstMsgid === undefined ? {} : { firstMsgid: options.firstMsgid }),
      });
      resolve(conn);
    });
  });
}

/** The typed contract client over an open connection; close() closes the connection. */
export function msgpackRpcClient<C extends Contract>(
  contract: C,
  connection: MsgpackRpcConnection,
): Client<C> {
  const types = new Map<string, { params: ValueType[]; result: ValueType }>();
  for (const name of Object.keys(contract.methods)) {
    const spec = getMethod(contract, name)!;
    types.set(name, { params: spec.params.map((p) => p.type), result: spec.result });
  }
  const transport: ClientTransport = {
    call: async (method, args) => {
      const t = types.get(method);
      const value = await connection.call(method, args, t === undefined ? {} : { types: t.params });
      // An old-spec server sends bytes as raw str: text that reached a `binary` result is its bytes.
      if (t?.result === 'binary' && typeof value === 'string')
        return new Uint8Array(Buffer.from(value, 'utf8'));
      return value;
    },
    close: () => connection.close(),
  };
  return createClient(contract, transport);
}

export async function connectMsgpackRpc<C extends Contract>(
  contract: C,
  options: MsgpackRpcConnectOptions = {},
): Promise<Client<C>> {
  return msgpackRpcClient(contract, await openMsgpackRpc(options));
}
