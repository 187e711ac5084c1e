/**
 * Cap'n Proto: two-party level-1 RPC (capabilities both ways, promise pipelining, embargoes)
 * over TCP with the standard stream framing, served to and called from pycapnp (the C++
 * implementation). The connection is our own (connection.ts); capnp-es does serialization.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Client, Contract, Implementation } from '../../contract/spec.js';
import type { ConnectOptions, Protocol, RunningServer, ServeOptions } from '../types.js';
import { resolveVariant } from '../variant.js';
import { connectCapnp } from './client.js';
import { loadCapnpSchema } from './schema.js';
import { CAPNP_DEFAULT_PORT, serveCapnp } from './server.js';

/** The bundled calculator.capnp (beside this file under src/, or found from dist/). */
export function bundledSchemaPath(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const candidates = [
    path.join(here, 'calculator.capnp'),
    path.join(here, '..', '..', '..', '..', 'src', 'protocols', 'capnp', 'calculator.capnp'),
  ];
  return candidates.find((p) => existsSync(p)) ?? candidates[0]!;
}

export const capnp: Protocol = {
  name: 'capnp',
  title: "Cap'n Proto RPC",
  defaultPort: CAPNP_DEFAULT_PORT,
  traits: {
    schema: 'idl',
    encoding: 'binary',
    transport: 'TCP (stream framing)',
    callbacks: true,
    pipelining: true,
  },
  variants: ['tcp'],
  serve<C extends Contract>(
    contract: C,
    impl: Implementation<C>,
    options: ServeOptions = {},
  ): Promise<RunningServer> {
    resolveVariant(capnp, options.variant);
    return serveCapnp(contract, impl, options);
  },
  connect<C extends Contract>(contract: C, options: ConnectOptions = {}): Promise<Client<C>> {
    resolveVariant(capnp, options.variant);
    return connectCapnp(contract, options);
  },
  describe(options = {}) {
    return loadCapnpSchema(options.schemaPath ?? bundledSchemaPath()).description;
  },
};

export {
  Capability,
  type CapabilityHandlers,
  type CapValues,
  localCapability,
  type RemoteCall,
} from './capabilities-api.js';
export { type CapnpConnectOptions, CapnpSession, capnpClient, connectCapnp, openCapnp } from './client.js';
export { type ConnectionOptions, RpcConnection } from './connection.js';
export { BusyError } from './errors.js';
export { FramingError } from './framing.js';
export { loadCapnpSchema } from './schema.js';
export { CAPNP_DEFAULT_PORT, type CapnpServeOptions, type CapnpServer, serveCapnp } from './server.js';
