/**
 * The server: every accepted TCP connection is an RpcConnection whose bootstrap capability
 * serves the contract (through createDispatcher, so arguments are validated as in every other
 * row) as the schema's interface of the contract's name. Methods of the interface beyond the
 * contract are served by `extras`; for the bundled Calculator schema, `adder` (a capability
 * the caller then calls, pipelined) and `apply` (calls the caller's Function back) are built in.
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
import { Capability, type CapabilityHandlers, localCapability } from './capabilities-api.js';
import { LocalHook } from './capability.js';
import {
  type InterfaceLayout,
  type MethodLayout,
  type SchemaRegistry,
  servedInterfaceIds,
  type Values,
} from './codec.js';
import { RpcConnection } from './connection.js';
import { argFieldNames, argsFromParams, methodFor, valuesFromResult } from './contract-binding.js';
import { loadSchema } from './schema-source.js';

export const CAPNP_DEFAULT_PORT = 7000;

export interface CapnpServeOptions extends ServeOptions {
  /** The interface the bootstrap capability serves (default: the contract's name). */
  service?: string;
  /** Methods of that interface beyond the contract (params and results as structs). */
  extras?: CapabilityHandlers;
  /** Timeout of calls the server makes on capabilities its clients passed (default 10 s). */
  timeoutMs?: number;
  /** Segments a frame may declare (default 512, as the C++ implementation). */
  maxSegments?: number;
  /** Pointer nesting depth a message may reach (default 64). */
  nestingLimit?: number;
  /**
   * Calls one connection may have open at once, running or awaiting their Finish (default
   * 1,000); beyond it a call fails at once with an `overloaded` exception (BusyError).
   */
  maxOpenCalls?: number;
  /** Each accepted connection (e.g. to read its table sizes). */
  onConnection?: (conn: RpcConnection) => void;
}

export interface CapnpServer extends RunningServer {
  connections(): ReadonlySet<RpcConnection>;
}

/** The built-in capability methods of the bundled Calculator interface, over the contract's add. */
function calculatorCapabilities(
  iface: InterfaceLayout,
  schema: SchemaRegistry,
  add: ((a: unknown, b: unknown) => Promise<unknown>) | undefined,
): CapabilityHandlers {
  const adderIface = schema.interfaces.get('Adder');
  const fnIface = schema.interfaces.get('Function');
  const out: Record<string, CapabilityHandlers[string]> = {};
  if (iface.name !== 'Calculator') return out;
  if (iface.methods.has('adder') && adderIface !== undefined && add !== undefined) {
    out.adder = ({ base }) => ({
      adder: localCapability(adderIface, schema, {
        add: async ({ x }) => ({ result: await add(base, x) }),
      }),
    });
  }
  const call = fnIface?.methods.get('call');
  if (iface.methods.has('apply') && call !== undefined) {
    out.apply = async ({ fn, a, b }) => {
      if (fn === null || fn === undefined) throw new InvalidArgumentError('apply: fn is null');
      if (!(fn instanceof Capability)) throw new InvalidArgumentError('apply: fn is not a capability');
      const { result } = await fn.call('call', { a, b }).result;
      return { result };
    };
  }
  return out;
}

interface ContractMethod {
  readonly spec: MethodSpec;
  /** The params field of each contract argument, in order. */
  readonly argNames: readonly (string | undefined)[];
}

export async function serveCapnp<C extends Contract>(
  contract: C,
  impl: Implementation<C>,
  options: CapnpServeOptions = {},
): Promise<CapnpServer> {
  const schema = loadSchema(options.schemaPath);
  const serviceName = options.service ?? contract.name;
  const iface = schema.interfaces.get(serviceName);
  if (iface === undefined) {
    throw new InvalidArgumentError(
      `the schema has no interface ${serviceName} (it has: ${[...schema.interfaces.keys()].join(', ')})`,
    );
  }
  // A synchronous implementation answers in the turn its Call arrived (fastpath.ts); an
  // asynchronous one through a promise.
  const direct = createSyncDispatcher(contract, impl);
  // Contract methods the schema lacks are served under the IDs the client derives for them.
  const layouts: { method: MethodLayout; spec: MethodSpec }[] = [];
  for (const name of Object.keys(contract.methods)) {
    const spec = getMethod(contract, name)!;
    const method = methodFor(iface, name, spec);
    layouts.push({ method, spec });
    if (!iface.methods.has(name)) {
      const methods = new Map(iface.methods);
      methods.set(name, method);
      schema.add({ ...iface, methods });
    }
  }
  // Each contract method under the layout a Call resolves to (by interface and method ID: an
  // inherited method shares its ordinal with one of ours), with where its arguments come from:
  // worked out here once, not per call.
  const contractMethods = new Map<MethodLayout, ContractMethod>();
  for (const { method, spec } of layouts) {
    const layout = schema.method(method.interfaceId, method.methodId);
    if (layout !== undefined && layout.name === method.name) {
      contractMethods.set(layout, { spec, argNames: argFieldNames(layout, spec) });
    }
  }
  const contractMethod = (method: MethodLayout): ContractMethod | undefined => {
    const found = contractMethods.get(method);
    if (found !== undefined) return found;
    // A layout object from elsewhere (another schema's copy of the same method): by its IDs.
    const layout = schema.method(method.interfaceId, method.methodId);
    return layout !== undefined && layout.name === method.name ? contractMethods.get(layout) : undefined;
  };
  const served = schema.interfaces.get(serviceName)!;
  const add = Object.hasOwn(contract.methods, 'add')
    ? async (a: unknown, b: unknown) => direct('add', [a, b])
    : undefined;
  const extras: CapabilityHandlers = {
    ...calculatorCapabilities(served, schema, add),
    ...(options.extras ?? {}),
  };

  const root = new LocalHook(servedInterfaceIds(served), (method, params): Values | Promise<Values> => {
    const entry = contractMethod(method);
    if (entry !== undefined) {
      const result = direct(method.name, argsFromParams(entry.argNames, params));
      return isPromise(result)
        ? result.then((value) => valuesFromResult(method, value))
        : valuesFromResult(method, result);
    }
    const extra = Object.hasOwn(extras, method.name) ? extras[method.name] : undefined;
    if (extra === undefined) throw new NoSuchMethodError(`${served.name}.${method.name}`);
    // The handler sees Capability objects; what it returns is turned back into hooks.
    return runExtra(served, schema, method, params, extra);
  });

  const maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const connections = new Set<RpcConnection>();
  const counted = new CountedConnections();
  const server = net.createServer((socket) => {
    const conn = new RpcConnection(socket, {
      bootstrap: root,
      schema,
      maxMessageBytes,
      timeoutMs,
      ...(options.maxSegments === undefined ? {} : { maxSegments: options.maxSegments }),
      ...(options.nestingLimit === undefined ? {} : { nestingLimit: options.nestingLimit }),
      ...(options.maxOpenCalls === undefined ? {} : { maxOpenCalls: options.maxOpenCalls }),
      // A client that calls without reading the replies is not read until it does.
      writeHighWater: Math.max(maxMessageBytes, 1 << 20),
      onClose: (c) => connections.delete(c),
    });
    if (conn.isClosed) return;
    connections.add(conn);
    counted.track(socket, () => conn.callsInProgress);
    try {
      options.onConnection?.(conn);
    } catch (err) {
      console.error('capnp server: onConnection threw:', err);
    }
  });
  server.on('error', (err) => console.error('capnp server:', err));
  const host = options.host ?? DEFAULT_HOST;
  const wanted = options.port ?? CAPNP_DEFAULT_PORT;
  await new Promise<void>((resolve, reject) => {
    const fail = (err: Error) =>
      reject(new TransportError(`capnp cannot listen on ${host}:${wanted}: ${err.message}`, { cause: err }));
    server.once('error', fail);
    server.listen(wanted, host, () => {
      server.off('error', fail);
      resolve();
    });
  });
  const port = (server.address() as net.AddressInfo).port;
  const bracketed = host.includes(':') ? `[${host}]` : host;
  let closed = false;
  const release = () => {
    if (closed) return;
    closed = true;
    root.release();
  };
  return {
    host,
    port,
    address: `tcp://${bracketed}:${port}`,
    connections: () => connections,
    drain: (graceMs: number) =>
      new Promise<void>((resolve) => {
        server.close(() => {
          release();
          resolve();
        });
        void counted.drain(graceMs);
      }),
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of [...connections]) c.close();
        connections.clear();
        const done = () => {
          release();
          resolve();
        };
        if (server.listening) server.close(done);
        else done();
      }),
  };
}

async function runExtra(
  iface: InterfaceLayout,
  schema: SchemaRegistry,
  method: MethodLayout,
  params: Values,
  handler: CapabilityHandlers[string],
): Promise<Values> {
  // Serve it through a one-off local capability so params and results are converted the same way.
  const cap = localCapability(iface, schema, { [method.name]: handler });
  try {
    const answer = cap.hook.call(method, params);
    return await answer.promise;
  } finally {
    cap.release();
  }
}

function isPromise(value: unknown): value is Promise<unknown> {
  return value instanceof Promise;
}
