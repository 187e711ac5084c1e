/** Apache Thrift over TCP: the registry entry. */
import type { Client, Contract, Implementation } from '../../contract/spec.js';
import type { ConnectOptions, Protocol, RunningServer, ServeOptions } from '../types.js';
import { resolveVariant } from '../variant.js';
import { connectThrift } from './client.js';
import { describeIdl } from './describe.js';
import { parseVariant, VARIANTS, type VariantName } from './framing.js';
import { serveThrift } from './server.js';

/** The survey's port (thriftpy2's make_server/make_client default, too). */
export const THRIFT_DEFAULT_PORT = 9090;

export const thrift: Protocol = {
  name: 'thrift',
  title: 'Apache Thrift',
  defaultPort: THRIFT_DEFAULT_PORT,
  traits: {
    schema: 'idl',
    encoding: 'binary',
    transport: 'TCP (buffered or framed)',
    callbacks: false,
    // Sequence ids let many calls share one connection.
    pipelining: true,
  },
  // binary-buffered first: thriftpy2's make_server/make_client defaults, so the survey's code talks to us unchanged.
  variants: VARIANTS,

  serve<C extends Contract>(
    contract: C,
    impl: Implementation<C>,
    options: ServeOptions = {},
  ): Promise<RunningServer> {
    const variant = parseVariant(resolveVariant(thrift, options.variant) as VariantName);
    return serveThrift(contract, impl, {
      host: options.host,
      port: options.port ?? THRIFT_DEFAULT_PORT,
      variant,
      maxMessageBytes: options.maxMessageBytes,
      schemaPath: options.schemaPath,
    });
  },

  async connect<C extends Contract>(contract: C, options: ConnectOptions = {}): Promise<Client<C>> {
    const variant = parseVariant(resolveVariant(thrift, options.variant) as VariantName);
    return connectThrift(contract, {
      host: options.host,
      port: options.port ?? THRIFT_DEFAULT_PORT,
      variant,
      timeoutMs: options.timeoutMs,
      maxMessageBytes: options.maxMessageBytes,
      schemaPath: options.schemaPath,
    });
  },

  describe(options = {}) {
    return describeIdl(options.schemaPath);
  },
};

export { bundledIdlPath, loadIdl } from './idl.js';
