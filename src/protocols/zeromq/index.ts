/**
 * ZeroMQ + msgpack: the survey's REQ/REP message contract, served by a ROUTER socket and
 * called through a REQ socket (lock-step, "req") or a DEALER socket (pipelined, "dealer").
 */
import type { Client, Contract, Implementation } from '../../contract/spec.js';
import type { ConnectOptions, Protocol, RunningServer, ServeOptions } from '../types.js';
import { resolveVariant } from '../variant.js';
import { startZeromqBroker } from './broker.js';
import { ZEROMQ_VARIANTS } from './client.js';
import { connectZeromq, type ZeromqConnectOptions } from './connect.js';
import { serveZeromq } from './server.js';
import { ZEROMQ_DEFAULT_PORT } from './socket-options.js';

export const zeromq: Protocol = {
  name: 'zeromq',
  title: 'ZeroMQ + msgpack',
  defaultPort: ZEROMQ_DEFAULT_PORT,
  traits: {
    schema: 'none',
    encoding: 'binary',
    transport: 'ZMTP over TCP',
    callbacks: false,
    pipelining: true,
    pipelinedVariant: 'dealer', // the default "req" is the survey's lock-step REQ/REP
  },
  variants: ZEROMQ_VARIANTS,
  serve<C extends Contract>(
    contract: C,
    impl: Implementation<C>,
    options: ServeOptions = {},
  ): Promise<RunningServer> {
    // One ROUTER server serves both client variants; the variant is only checked.
    resolveVariant(zeromq, options.variant);
    return serveZeromq(contract, impl, options);
  },
  connect<C extends Contract>(contract: C, options: ConnectOptions = {}): Promise<Client<C>> {
    return connectZeromq(contract, options as ZeromqConnectOptions);
  },
  // libzmq binds its own sockets, so node:cluster cannot share the port: workers serve behind
  // libzmq's ROUTER/DEALER proxy instead.
  broker: {
    start: (options) => startZeromqBroker(options),
    serveWorker: (contract, impl, backend, options = {}) =>
      serveZeromq(contract, impl, { ...options, connectTo: backend }),
  },
};

export { startZeromqBroker } from './broker.js';
export { ZEROMQ_VARIANTS, type ZeromqVariant } from './client.js';
export { connectZeromq, type ZeromqConnectOptions } from './connect.js';
export {
  MAX_CONCURRENT_REQUESTS,
  MAX_PEER_REQUESTS,
  serveZeromq,
  type ZeromqServeOptions,
} from './server.js';
export { ZEROMQ_DEFAULT_PORT } from './socket-options.js';
