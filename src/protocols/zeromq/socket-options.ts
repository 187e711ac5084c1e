/** Settings shared by the server and client sockets. */

/** The survey's port: `sock.bind("tcp://*:5555")`. */
export const ZEROMQ_DEFAULT_PORT = 5555;

/**
 * Messages queued per peer before libzmq blocks (DEALER/REQ) or drops (ROUTER). The default
 * of 1000 is raised so a client with a thousand calls in flight never has replies dropped.
 */
export const HIGH_WATER_MARK = 10_000;

/** libzmq refuses IPv6 addresses (ENODEV) unless the socket has ZMQ_IPV6 set. */
export function isIpv6(host: string): boolean {
  return host.includes(':');
}

export function zmqEndpoint(host: string, port: number): string {
  return `tcp://${isIpv6(host) ? `[${host}]` : host}:${port}`;
}

/** The port of a bound endpoint such as "tcp://127.0.0.1:41234". */
export function endpointPort(endpoint: string | null): number {
  const match = /:(\d+)$/.exec(endpoint ?? '');
  if (match === null) throw new Error(`cannot read the port of endpoint ${String(endpoint)}`);
  return Number(match[1]);
}
