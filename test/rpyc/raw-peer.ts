/**
 * Hand-driven rpyc peers for tests: a raw client that sends hand-made frames to a server, and a
 * raw server that answers our client with whatever bytes a test wants.
 */
import net from 'node:net';
import { dump, load } from '../../src/protocols/rpyc/brine.js';
import { Handle, Label, Msg } from '../../src/protocols/rpyc/consts.js';
import { encodeFrame, FrameDecoder } from '../../src/protocols/rpyc/framing.js';

/** A raw rpyc client: sends hand-made frames and reads decoded replies. */
export class RawPeer {
  private readonly decoder = new FrameDecoder(1 << 24);
  private readonly replies: Buffer[] = [];
  private waiters: Array<() => void> = [];
  closed = false;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (c: Buffer) => {
      this.replies.push(...this.decoder.push(c));
      for (const w of this.waiters.splice(0)) w();
    });
    socket.on('close', () => {
      this.closed = true;
      for (const w of this.waiters.splice(0)) w();
    });
    socket.on('error', () => undefined);
  }

  static connect(port: number): Promise<RawPeer> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ port, host: '127.0.0.1' }, () => resolve(new RawPeer(s)));
      s.once('error', reject);
    });
  }

  request(seq: number, handler: number, boxedArgs: unknown): void {
    this.sendPayload(Buffer.concat([Buffer.of(Msg.REQUEST), dump([seq, [handler, boxedArgs as never]])]));
  }

  /** One (msg, seq, body) message, brine-dumped behind its type byte. */
  message(msg: number, seq: unknown, body: unknown): void {
    this.sendPayload(Buffer.concat([Buffer.of(msg), dump([seq as never, body as never])]));
  }

  sendPayload(payload: Buffer): void {
    for (const part of encodeFrame(payload)) this.socket.write(part);
  }

  async next(): Promise<{ msg: number; seq: unknown; body: unknown }> {
    while (this.replies.length === 0) {
      if (this.closed) throw new Error('closed');
      await new Promise<void>((r) => this.waiters.push(r));
    }
    const p = this.replies.shift()!;
    const [seq, body] = load(p.subarray(1)) as [unknown, unknown];
    return { msg: p[0]!, seq, body };
  }

  /** GETROOT, answered: the root's id pack. */
  async getRoot(seq = 0): Promise<readonly [string, number, number]> {
    this.request(seq, Handle.GETROOT, [Label.VALUE, []]);
    const reply = await this.next();
    return (reply.body as [number, [string, number, number]])[1];
  }

  async waitClosed(): Promise<void> {
    while (!this.closed) await new Promise<void>((r) => this.waiters.push(r));
  }
}

export interface RawRequest {
  readonly seq: number;
  readonly handler: number;
  readonly args: unknown;
}

export interface RawServer {
  readonly port: number;
  /** Requests received so far (GETROOT and DEL included). */
  readonly requests: RawRequest[];
  close(): Promise<void>;
}

/** A frame around a payload, as bytes. */
export const frame = (payload: Uint8Array, compress = false): Buffer =>
  Buffer.concat(encodeFrame(payload, compress));

/** A reply or exception payload: the type byte and brine `(seq, body)`. */
export const replyPayload = (msg: number, seq: number, body: unknown): Buffer =>
  Buffer.concat([Buffer.of(msg), dump([seq, body as never])]);

/**
 * A raw rpyc server for our client: GETROOT gets a root reference, DELs are ignored, and every
 * other request goes to `answer`, which writes whatever bytes it likes (or nothing).
 */
export function rawServer(answer: (req: RawRequest, socket: net.Socket) => void): Promise<RawServer> {
  const requests: RawRequest[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    const decoder = new FrameDecoder(1 << 24);
    socket.on('data', (chunk: Buffer) => {
      for (const payload of decoder.push(chunk)) {
        if (payload[0] !== Msg.REQUEST) continue;
        const [seq, [handler, args]] = load(payload.subarray(1)) as [number, [number, unknown]];
        const req = { seq, handler, args };
        requests.push(req);
        if (handler === Handle.GETROOT)
          socket.write(frame(replyPayload(Msg.REPLY, seq, [Label.REMOTE_REF, ['hostile.Root', 1, 1]])));
        else if (handler !== Handle.DEL) answer(req, socket);
      }
    });
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () =>
      resolve({
        port: (server.address() as net.AddressInfo).port,
        requests,
        close: () =>
          new Promise<void>((r) => {
            for (const s of sockets) s.destroy();
            server.close(() => r());
          }),
      }),
    );
  });
}
