/**
 * msgpack-rpc: the whole spec (requests, responses, notifications, both directions on one
 * connection) over TCP, served to and called from msgpack-rpc-python and Neovim.
 */
import type { Client, Contract, Implementation } from '../../contract/spec.js';
import type { ConnectOptions, Protocol, RunningServer, ServeOptions } from '../types.js';
import { resolveVariant } from '../variant.js';
import { connectMsgpackRpc } from './client.js';
import { MSGPACKRPC_DEFAULT_PORT, serveMsgpackRpc } from './server.js';

export const msgpackrpc: Protocol = {
  name: 'msgpackrpc',
  title: 'msgpack-rpc',
  defaultPort: MSGPACKRPC_DEFAULT_PORT,
  traits: { schema: 'none', encoding: 'binary', transport: 'TCP', callbacks: true, pipelining: true },
  variants: ['tcp'],
  serve<C extends Contract>(
    contract: C,
    impl: Implementation<C>,
    options: ServeOptions = {},
  ): Promise<RunningServer> {
    resolveVariant(msgpackrpc, options.variant);
    return serveMsgpackRpc(contract, impl, options);
  },
  connect<C extends Contract>(contract: C, options: ConnectOptions = {}): Promise<Client<C>> {
    resolveVariant(msgpackrpc, options.variant);
    return connectMsgpackRpc(contract, options);
  },
};

export {
  type ClientMethod,
  connectMsgpackRpc,
  type MsgpackRpcConnectOptions,
  msgpackRpcClient,
  openMsgpackRpc,
} from './client.js';
export {
  type CallOptions,
  type ConnectionOptions,
  type HandlerResult,
  MAX_INCOMING_REQUESTS,
  MsgpackRpcConnection,
  type NotificationHandler,
  type RequestHandler,
} from './connection.js';
export { errorElement, errorFromElement } from './errors.js';
export { FramingError, MAX_CONTAINERS, MAX_DEPTH, MessageReader } from './framing.js';
export {
  binaryFromText,
  MSGPACKRPC_DEFAULT_PORT,
  type MsgpackRpcServeOptions,
  type MsgpackRpcServer,
  type PeerMethod,
  serveMsgpackRpc,
} from './server.js';
