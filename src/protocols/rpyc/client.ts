/**
 * The RPyC client: a connection whose peer root is a Python rpyc service. The typed client
 * (Protocol.connect) calls `root.<method>(*args)` with one HANDLE_CALLATTR per call; rpyc's
 * server resolves `add` to `exposed_add`. connectRpyc gives the richer API: the root as a
 * RemoteRef, attribute access and calls on whatever Python returns by reference, and
 * TypeScript functions passed as arguments, which Python can call back.
 */
import net from 'node:net';
import { createClient } from '../../contract/client.js';
import { TimeoutError, TransportError } from '../../contract/errors.js';
import { type Client, type Contract, getMethod } from '../../contract/spec.js';
import { timerDelay, withTimeout } from '../../net/deadline.js';
import {
  type ConnectOptions,
  DEFAULT_HOST,
  DEFAULT_MAX_MESSAGE_BYTES,
  DEFAULT_TIMEOUT_MS,
} from '../types.js';
import { asFloat } from './brine.js';
import { type ConnectionStats, RpycConnection } from './connection.js';
import { DEFAULT_PORT, Handle, VARIANT_RPYC5 } from './consts.js';
import type { Compression } from './framing.js';
import { type ExposedObject, expose } from './local-objects.js';
import { RemoteRef } from './netref.js';

export interface RpycConnectOptions extends ConnectOptions {
  /** What the server gets if it asks for our root (rpyc's client-side service); default: void. */
  service?: ExposedObject;
  /**
   * Compression of what we send (framing.ts Compression): `true` every payload over 3000 bytes
   * as rpyc does, `false` never, `'auto'` (default) only where a sample shows it pays.
   * Compressed frames from the peer are read either way.
   */
  compress?: Compression;
  /**
   * The server's rpyc major version: 6 (default) or 5 for rpyc 4.1–5.x servers, whose messages
   * use the older envelope (the `tcp-rpyc5` variant). Nothing on the wire tells them apart
   * before the first reply, and each version drops the other's first message.
   */
  rpycVersion?: 5 | 6;
}

export class RpycClient {
  constructor(
    /** The underlying connection (symmetric: it also answers the server's requests). */
    readonly connection: RpycConnection,
    private readonly timeoutMs: number,
  ) {}

  /** The server's root (its service), fetched once. */
  root(): Promise<RemoteRef> {
    return this.connection.root();
  }

  /** `conn.root.<name>(*args)`: one CALLATTR round trip. */
  async call(name: string, ...args: unknown[]): Promise<unknown> {
    return withTimeout(
      (async () => {
        const root = await this.root();
        return this.connection.request(Handle.CALLATTR, [root, name, args, []]);
      })(),
      this.timeoutMs,
      `rpyc call ${name}`,
    );
  }

  /** Round trip with HANDLE_PING; resolves with the echoed data. */
  ping(data: unknown = 'ping'): Promise<unknown> {
    return this.connection.request(Handle.PING, [data]);
  }

  stats(): ConnectionStats {
    return this.connection.stats();
  }

  close(): Promise<void> {
    return this.connection.close();
  }
}

function openSocket(host: string, port: number, timeoutMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    const timer =
      timeoutMs > 0
        ? setTimeout(() => {
            socket.destroy();
            reject(new TimeoutError(`rpyc connect to ${host}:${port} timed out after ${timeoutMs} ms`));
          }, timerDelay(timeoutMs))
        : undefined;
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(new TransportError(`rpyc connect to ${host}:${port} failed: ${err.message}`, { cause: err }));
    });
  });
}

export async function connectRpyc(options: RpycConnectOptions = {}): Promise<RpycClient> {
  const host = options.host ?? DEFAULT_HOST;
  const port = options.port ?? DEFAULT_PORT;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const socket = await openSocket(host, port, timeoutMs);
  const connection = new RpycConnection(socket, {
    root: options.service ?? expose('VoidService', { get_service_name: () => 'VOID' }),
    timeoutMs,
    maxMessageBytes: options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
    compress: options.compress ?? 'auto',
    envelope: options.rpycVersion ?? (options.variant === VARIANT_RPYC5 ? 5 : 6),
  });
  return new RpycClient(connection, timeoutMs);
}

/** The typed client for a contract, on rpyc (what Protocol.connect returns). */
export async function connectContract<C extends Contract>(
  contract: C,
  options: RpycConnectOptions = {},
): Promise<Client<C>> {
  const client = await connectRpyc(options);
  return createClient(contract, {
    call: async (method, args) => {
      // brine sends a whole JS number as an int: the contract's doubles must reach Python as floats.
      const params = getMethod(contract, method)?.params ?? [];
      const wire = args.map((a, i) => (params[i]?.type === 'double' ? asFloat(a) : a));
      const result = await client.call(method, ...wire);
      if (!(result instanceof RemoteRef)) return result;
      // A contract carries values only: a reference is described by its repr and given back at
      // once (an ad-hoc `dynamic` result shows what Python returned; a typed one fails validation).
      const repr = await result.repr().catch(() => undefined);
      await result.release();
      return { netref: result.typeName, repr };
    },
    close: () => client.close(),
  });
}
