/** JSON-RPC 2.0 over HTTP/1.1: the registry entry. */
import type { Client, Contract, Implementation } from '../../contract/spec.js';
import {
  type ConnectOptions,
  DEFAULT_HOST,
  DEFAULT_MAX_MESSAGE_BYTES,
  DEFAULT_TIMEOUT_MS,
  type Protocol,
  type RunningServer,
  type ServeOptions,
} from '../types.js';
import { resolveVariant } from '../variant.js';
import { connectJsonRpc } from './client.js';
import { serveJsonRpc } from './server.js';

/** The survey's port for jsonrpclib's SimpleJSONRPCServer. */
export const JSONRPC_DEFAULT_PORT = 4000;

export const jsonrpc: Protocol = {
  name: 'jsonrpc',
  title: 'JSON-RPC 2.0',
  defaultPort: JSONRPC_DEFAULT_PORT,
  traits: {
    schema: 'none',
    encoding: 'text',
    transport: 'HTTP/1.1',
    callbacks: false,
    // One call per HTTP exchange; concurrency comes from several keep-alive connections.
    pipelining: false,
  },
  variants: ['http'],

  serve<C extends Contract>(
    contract: C,
    impl: Implementation<C>,
    options: ServeOptions = {},
  ): Promise<RunningServer> {
    resolveVariant(jsonrpc, options.variant);
    return serveJsonRpc(contract, impl, {
      host: options.host ?? DEFAULT_HOST,
      port: options.port ?? JSONRPC_DEFAULT_PORT,
      maxMessageBytes: options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
    });
  },

  async connect<C extends Contract>(contract: C, options: ConnectOptions = {}): Promise<Client<C>> {
    resolveVariant(jsonrpc, options.variant);
    return connectJsonRpc(contract, {
      host: options.host ?? DEFAULT_HOST,
      port: options.port ?? JSONRPC_DEFAULT_PORT,
      timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      maxMessageBytes: options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
      path: options.path,
    });
  },
};
