/**
 * The client: a TCP connection to a Cap'n Proto server as an RpcConnection, its bootstrap
 * capability (pipelined on the Bootstrap question: the first call does not wait for it), and
 * the typed contract client on top. `openCapnp` gives the capability API for what the
 * contract cannot say: capabilities returned and called (pipelined), and local objects passed
 * to the server (callbacks).
 */
import net from 'node:net';
import { type ClientTransport, createClient } from '../../contract/client.js';
import { InvalidArgumentError, TimeoutError, TransportError } from '../../contract/errors.js';
import { type Client, type Contract, getMethod } from '../../contract/spec.js';
import { MAX_TIMER_MS, timerDelay } from '../../net/deadline.js';
import {
  type ConnectOptions,
  DEFAULT_HOST,
  DEFAULT_MAX_MESSAGE_BYTES,
  DEFAULT_TIMEOUT_MS,
} from '../types.js';
import { Capability, type CapabilityHandlers, fromHooks, localCapability } from './capabilities-api.js';
import type { InterfaceLayout, SchemaRegistry } from './codec.js';
import { RpcConnection } from './connection.js';
import { methodFor, paramsFromArgs, resultFromValues } from './contract-binding.js';
import { loadSchema } from './schema-source.js';
import { CAPNP_DEFAULT_PORT } from './server.js';

export interface CapnpConnectOptions extends ConnectOptions {
  /** The interface of the server's bootstrap capability (default: the contract's name, or Calculator). */
  service?: string;
  maxSegments?: number;
  nestingLimit?: number;
}

/** An open connection with the capability API. */
export class CapnpSession {
  constructor(
    readonly connection: RpcConnection,
    readonly schema: SchemaRegistry,
    private readonly serviceName: string,
  ) {}

  /** The server's bootstrap capability as `service` (default: the session's service). */
  bootstrap(service: string = this.serviceName): Capability {
    return new Capability(this.connection.bootstrap(), this.interface(service), this.schema);
  }

  /** A local object the server can call (pass it as a capability field of a call's params). */
  serve(service: string, handlers: CapabilityHandlers): Capability {
    return localCapability(this.interface(service), this.schema, handlers);
  }

  interface(name: string): InterfaceLayout {
    const iface = this.schema.interfaces.get(name);
    if (iface === undefined) {
      throw new InvalidArgumentError(
        `the schema has no interface ${name} (it has: ${[...this.schema.interfaces.keys()].join(', ')})`,
      );
    }
    return iface;
  }

  close(): Promise<void> {
    this.connection.close();
    return Promise.resolve();
  }
}

/** Opens a connection (TRANSPORT if refused, TIMEOUT if not connected within timeoutMs). */
export function openCapnp(options: CapnpConnectOptions = {}): Promise<CapnpSession> {
  const host = options.host ?? DEFAULT_HOST;
  const port = options.port ?? CAPNP_DEFAULT_PORT;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const schema = loadSchema(options.schemaPath);
  const service = options.service ?? 'Calculator';
  return new Promise<CapnpSession>((resolve, reject) => {
    const socket = net.connect({ host, port });
    const delay = timerDelay(Math.min(timeoutMs, MAX_TIMER_MS));
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
      const connection = new RpcConnection(socket, {
        schema,
        maxMessageBytes: options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
        timeoutMs,
        ...(options.maxSegments === undefined ? {} : { maxSegments: options.maxSegments }),
        ...(options.nestingLimit === undefined ? {} : { nestingLimit: options.nestingLimit }),
      });
      resolve(new CapnpSession(connection, schema, service));
    });
  });
}

/** The typed contract client over a session's bootstrap capability; close() closes the session. */
export function capnpClient<C extends Contract>(
  contract: C,
  session: CapnpSession,
  service?: string,
): Client<C> {
  const root = session.bootstrap(
    service ?? (session.schema.interfaces.has(contract.name) ? contract.name : undefined),
  );
  const transport: ClientTransport = {
    call: async (name, args) => {
      const spec = getMethod(contract, name)!;
      const method = methodFor(root.iface, name, spec);
      const params = paramsFromArgs(method, spec, args);
      const answer = root.hook.call(method, params);
      // A capability in the results reaches the caller as a Capability (release it when done).
      return resultFromValues(method, fromHooks(await answer.promise, method.results, session.schema));
    },
    close: async () => {
      root.release();
      await session.close();
    },
  };
  return createClient(contract, transport);
}

export async function connectCapnp<C extends Contract>(
  contract: C,
  options: CapnpConnectOptions = {},
): Promise<Client<C>> {
  const session = await openCapnp(options);
  return capnpClient(contract, session, options.service);
}
