/** A raw TCP peer for msgpack-rpc tests: writes bytes, reads decoded messages, sees the close. */
import net from 'node:net';
import { decodeMessage } from '../../src/protocols/msgpackrpc/codec.js';
import { MessageReader } from '../../src/protocols/msgpackrpc/framing.js';

export class RawPeer {
  readonly messages: unknown[] = [];
  private waiters: (() => void)[] = [];
  private closedAt: number | undefined;
  private readonly reader = new MessageReader({ maxMessageBytes: 64 * 1024 * 1024 });

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.reader.push(chunk, (m) => this.messages.push(decodeMessage(m)));
      this.wake();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.closedAt = Date.now();
      this.wake();
    });
  }

  static wrap(socket: net.Socket): RawPeer {
    return new RawPeer(socket);
  }

  static connect(port: number, host = '127.0.0.1'): Promise<RawPeer> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ port, host });
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(new RawPeer(socket));
      });
    });
  }

  get closed(): boolean {
    return this.closedAt !== undefined;
  }

  write(bytes: Uint8Array | readonly number[]): void {
    this.socket.write(bytes instanceof Uint8Array ? bytes : Uint8Array.from(bytes));
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Waits until `done()` holds (checked on every event), failing after `ms`. */
  async until(done: () => boolean, ms: number, what: string): Promise<void> {
    const deadline = Date.now() + ms;
    while (!done()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Waits for the n-th message (1-based) and returns it. */
  async message(n: number, ms = 10_000): Promise<unknown> {
    await this.until(() => this.messages.length >= n || this.closed, ms, `message ${n}`);
    if (this.messages.length < n) throw new Error(`the connection closed before message ${n}`);
    return this.messages[n - 1];
  }

  waitClosed(ms = 10_000): Promise<void> {
    return this.until(() => this.closed, ms, 'the connection to close');
  }

  destroy(): void {
    this.socket.destroy();
  }
}

export interface RawServer {
  readonly port: number;
  close(): Promise<void>;
}

/** A TCP server whose connections are RawPeers, handed to `onPeer` (scripted peers for client tests). */
export function startRawServer(onPeer: (peer: RawPeer) => void): Promise<RawServer> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    onPeer(RawPeer.wrap(socket));
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      resolve({
        port: (server.address() as net.AddressInfo).port,
        close: () =>
          new Promise<void>((done) => {
            for (const s of sockets) s.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}
