/** RPyC (rpyc 6.x wire protocol, and rpyc 4.1–5.x's): transparent remote objects, served to and called from Python. */
import type { Client, Contract, Implementation } from '../../contract/spec.js';
import type { ConnectOptions, Protocol, RunningServer, ServeOptions } from '../types.js';
import { resolveVariant } from '../variant.js';
import { connectContract } from './client.js';
import { DEFAULT_PORT, VARIANT_RPYC5 } from './consts.js';
import { serveRpyc } from './server.js';

export const rpyc: Protocol = {
  name: 'rpyc',
  title: 'RPyC',
  defaultPort: DEFAULT_PORT,
  traits: { schema: 'none', encoding: 'binary', transport: 'TCP', callbacks: true, pipelining: true },
  // tcp-rpyc5: a client for rpyc 4.1–5.x servers (our server answers both kinds of client).
  variants: ['tcp', VARIANT_RPYC5],
  serve<C extends Contract>(
    contract: C,
    impl: Implementation<C>,
    options: ServeOptions = {},
  ): Promise<RunningServer> {
    resolveVariant(rpyc, options.variant);
    return serveRpyc(contract, impl, options);
  },
  connect<C extends Contract>(contract: C, options: ConnectOptions = {}): Promise<Client<C>> {
    resolveVariant(rpyc, options.variant);
    return connectContract(contract, options);
  },
};

export * from './brine.js';
export { connectRpyc, RpycClient, type RpycConnectOptions } from './client.js';
export { type ConnectionStats, RpycConnection } from './connection.js';
export { ExposedObject, expose } from './local-objects.js';
export { asMethods, RemoteRef } from './netref.js';
export {
  type ExtraMethod,
  type RpycServeOptions,
  type RpycServer,
  type RpycServerStats,
  serveRpyc,
} from './server.js';
export { type PythonExceptionInfo, pythonExceptionOf, RemotePythonError } from './vinegar.js';
