/**
 * A TCP relay that counts the bytes crossing it in each direction. Clients connect to the
 * relay instead of the server, so bytes on the wire per call can be measured for any
 * TCP-based protocol without touching the protocol's code (the tour and the bench use it).
 */
import net from 'node:net';

export interface RelayCounts {
  /** Bytes from clients to the server. */
  readonly toServer: number;
  /** Bytes from the server to clients. */
  readonly toClient: number;
  readonly connections: number;
}

export interface CountingRelay {
  readonly port: number;
  counts(): RelayCounts;
  reset(): void;
  close(): Promise<void>;
}

export function startCountingRelay(
  target: { host: string; port: number },
  listenHost = '127.0.0.1',
): Promise<CountingRelay> {
  let toServer = 0;
  let toClient = 0;
  let connections = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    connections++;
    const upstream = net.connect({ host: target.host, port: target.port });
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    sockets.add(client);
    sockets.add(upstream);
    client.on('data', (chunk: Buffer) => {
      toServer += chunk.length;
      if (!upstream.write(chunk)) client.pause();
    });
    upstream.on('data', (chunk: Buffer) => {
      toClient += chunk.length;
      if (!client.write(chunk)) upstream.pause();
    });
    upstream.on('drain', () => client.resume());
    client.on('drain', () => upstream.resume());
    const closeBoth = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('close', closeBoth);
    upstream.on('close', closeBoth);
    client.on('error', closeBoth);
    upstream.on('error', closeBoth);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, listenHost, () => {
      const address = server.address() as net.AddressInfo;
      resolve({
        port: address.port,
        counts: () => ({ toServer, toClient, connections }),
        reset: () => {
          toServer = 0;
          toClient = 0;
          connections = 0;
        },
        close: () =>
          new Promise<void>((done) => {
            for (const s of sockets) s.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}
