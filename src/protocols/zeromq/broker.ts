/**
 * Several server processes behind one address, with libzmq's own broker: zmq_proxy between a
 * ROUTER frontend (bound where a single server would bind: REQ and DEALER clients are
 * unchanged) and a DEALER backend that the workers' ROUTERs connect to. The DEALER spreads
 * requests over the connected workers round-robin; each reply carries the envelope back
 * through both sockets to its client. The proxy loop runs in zeromq.js's own thread.
 */
import { Dealer, Router, Proxy as ZmqProxy } from 'zeromq';
import { TransportError } from '../../contract/errors.js';
import { type Broker, DEFAULT_HOST, DEFAULT_MAX_MESSAGE_BYTES, type ServeOptions } from '../types.js';
import { endpointPort, HIGH_WATER_MARK, isIpv6, ZEROMQ_DEFAULT_PORT, zmqEndpoint } from './socket-options.js';

/** How long closing the broker may take to flush the last replies to clients. */
const CLOSE_LINGER_MS = 1_000;

export async function startZeromqBroker(options: ServeOptions = {}): Promise<Broker> {
  const host = options.host ?? DEFAULT_HOST;
  const wanted = options.port ?? ZEROMQ_DEFAULT_PORT;
  const common = {
    linger: CLOSE_LINGER_MS,
    maxMessageSize: options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
    sendHighWaterMark: HIGH_WATER_MARK,
    receiveHighWaterMark: HIGH_WATER_MARK,
  };
  const frontEnd = new Router({ ...common, ipv6: isIpv6(host) });
  const backEnd = new Dealer(common);
  try {
    await frontEnd.bind(zmqEndpoint(host, wanted));
    // Loopback only, on a free port: only this machine's workers connect.
    await backEnd.bind('tcp://127.0.0.1:*');
  } catch (err) {
    frontEnd.close();
    backEnd.close();
    const why = err instanceof Error ? err.message : String(err);
    throw new TransportError(`zeromq broker cannot bind ${zmqEndpoint(host, wanted)}: ${why}`, {
      cause: err,
    });
  }
  const port = endpointPort(frontEnd.lastEndpoint);
  const backend = backEnd.lastEndpoint!;
  const proxy = new ZmqProxy(frontEnd, backEnd);
  const running = proxy.run().catch((err: unknown) => console.error('zeromq broker: proxy failed:', err));
  let closing: Promise<void> | undefined;
  return {
    host,
    port,
    address: zmqEndpoint(host, port),
    backend,
    close() {
      closing ??= (async () => {
        proxy.terminate();
        await running;
      })();
      return closing;
    },
  };
}
