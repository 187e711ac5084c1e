/**
 * rpclab's public API: the contract toolkit (define a method table, serve it, call it, typed
 * errors), the protocol registry, and each protocol. Protocol-specific extras (RPyC references
 * and callbacks, ZeroMQ socket options, Thrift IDL loading, Cap'n Proto capabilities) come from
 * `rpclab/<protocol>`.
 */
export * from './contract/index.js';
export { connectReconnecting, type ReconnectingOptions } from './net/reconnecting.js';
export { capnp } from './protocols/capnp/index.js';
export { findProtocol, protocols } from './protocols/index.js';
export { jsonrpc } from './protocols/jsonrpc/index.js';
export { msgpackrpc } from './protocols/msgpackrpc/index.js';
export { rpyc } from './protocols/rpyc/index.js';
export { soap } from './protocols/soap/index.js';
export { thrift } from './protocols/thrift/index.js';
export type { ConnectOptions, Protocol, RunningServer, ServeOptions, Traits } from './protocols/types.js';
export { DEFAULT_HOST, DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_TIMEOUT_MS } from './protocols/types.js';
export { zeromq } from './protocols/zeromq/index.js';
export { DEFAULT_GRACE_MS, drainServer } from './serve/drain.js';
export { HEALTH_PATH } from './serve/http.js';
export { isServeWorker, type ServeManyOptions, serve, type WorkerGroup } from './serve/serve.js';
