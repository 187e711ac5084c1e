/**
 * A ROUTER socket's server side over node:net (wire in zmtp.ts): each TCP connection is one
 * peer with its own routing id; its messages are handed to `onMessage` with that id as frame
 * 0, as libzmq's ROUTER gives them, and replies go back to the peer whose id leads them.
 *
 * What libzmq's ROUTER does that we keep: a frame over the size limit drops the connection
 * (ZMQ_MAXMSGSIZE); a handshake must finish within 30 s (ZMQ_HANDSHAKE_IVL); a reply to a
 * peer that does not read is dropped once its queue is full rather than blocking the others;
 * PING is answered with PONG (ZMTP 3.1 heartbeats). What we add: replies ready in one loop
 * turn leave in one write, and reading pauses while the server is at its cap of calls.
 */
import net from 'node:net';
import {
  ByteQueue,
  commandBody,
  FLAG_COMMAND,
  FLAG_MORE,
  FrameBatch,
  frameHeader,
  GreetingExchange,
  HANDSHAKE_TIMEOUT_MS,
  parseCommand,
  parseReady,
  READY_FRAME,
} from './zmtp.js';

/** Frames in one message; a REQ sends 2 (3 with ZMQ_REQ_CORRELATE). More drops the connection. */
export const MAX_FRAMES_PER_MESSAGE = 256;
/**
 * Reply bytes queued for a peer that does not read, past which its replies are dropped, as a
 * ROUTER drops messages past its high-water mark, so one stalled peer holds bounded memory.
 */
export const MAX_QUEUED_REPLY_BYTES = 64 * 1024 * 1024;

export interface ZmtpPeer {
  /** Routing id, unique per connection (5 bytes, as libzmq makes them). */
  readonly id: Buffer;
  /** Queues `frames[from..]` as one message to this peer (dropped if it is gone or not reading). */
  send(frames: readonly Buffer[], from: number): void;
}

export interface ZmtpRouterOptions {
  readonly host: string;
  readonly port: number;
  readonly maxMessageBytes: number;
  /** A whole message: frame 0 is the peer's routing id, then the message's frames. */
  onMessage(peer: ZmtpPeer, frames: Buffer[]): void;
  /**
   * Asked before each message is handed over: 'run' hands it over; 'wait' holds it and the
   * rest of the connection's input until resume(); 'yield' holds them until the next loop
   * turn, so that calls answered by promises meanwhile can give their slots back.
   */
  admit(peer: ZmtpPeer): Admission;
}

export interface ZmtpRouter {
  readonly port: number;
  /** Hands over the messages held back by a 'wait' admission. */
  resume(): void;
  /** Stops accepting connections; those open stay. */
  stopAccepting(): void;
  /** Flushes what is queued to each peer (within `lingerMs`) and closes everything. */
  close(lingerMs?: number): Promise<void>;
}

export type Admission = 'run' | 'wait' | 'yield';

type Phase = 'greeting' | 'ready' | 'traffic';

let nextRoutingId = Math.floor(Math.random() * 2 ** 31);

class Connection implements ZmtpPeer {
  readonly id: Buffer;
  private readonly input = new ByteQueue();
  private phase: Phase = 'greeting';
  private readonly greeting: GreetingExchange;
  private frames: Buffer[] = [];
  private messageBytes = 0;
  private handshakeTimer: NodeJS.Timeout | undefined;
  /** Frames waiting to be written. */
  private readonly out = new FrameBatch();
  private flushScheduled = false;
  /** True while a chunk's messages are handed over: their replies are flushed after it. */
  private delivering = false;
  stalled = false;

  constructor(
    readonly socket: net.Socket,
    private readonly router: RouterState,
  ) {
    const id = Buffer.allocUnsafe(5);
    id[0] = 0; // libzmq's generated ids start with a zero byte (user-set ones may not)
    id.writeUInt32BE(nextRoutingId >>> 0, 1);
    nextRoutingId = (nextRoutingId + 1) % 2 ** 32;
    this.id = id;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.input.push(chunk);
      this.process();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(this.handshakeTimer);
      router.connections.delete(this);
    });
    this.handshakeTimer = setTimeout(() => this.drop(), HANDSHAKE_TIMEOUT_MS);
    this.handshakeTimer.unref();
    this.greeting = new GreetingExchange((bytes) => socket.write(bytes));
  }

  private drop(): void {
    this.socket.destroy();
  }

  /** Parses what has arrived; stops at a message not admitted (see ZmtpRouterOptions.admit). */
  process(): void {
    const q = this.input;
    const limit = this.router.options.maxMessageBytes;
    this.delivering = true;
    try {
      while (!this.socket.destroyed) {
        if (this.phase === 'greeting') {
          const step = this.greeting.advance(q);
          if (step === 'more') break;
          if (step !== 'done') {
            this.drop();
            return;
          }
          this.socket.write(READY_FRAME);
          this.phase = 'ready';
          continue;
        }
        const header = frameHeader(q);
        if (header === undefined) break;
        const { flags, head, size } = header;
        if (size > limit || this.messageBytes + size > limit) {
          this.drop(); // as libzmq's ZMQ_MAXMSGSIZE: the frame is not read, the peer is cut
          return;
        }
        if (q.length < head + size) break;
        const isCommand = (flags & FLAG_COMMAND) !== 0;
        if (!isCommand && this.phase === 'traffic' && (flags & FLAG_MORE) === 0) {
          // The message this frame ends would be handed over: first ask whether it may be.
          const admission = this.router.options.admit(this);
          if (admission !== 'run') {
            this.stall();
            if (admission === 'yield') setImmediate(() => this.unstall());
            break;
          }
        }
        q.take(head);
        const body = q.take(size);
        if (isCommand) {
          if (!this.command(body, flags)) return;
          continue;
        }
        if (this.phase !== 'traffic') {
          this.drop(); // a message before READY
          return;
        }
        this.frames.push(body);
        this.messageBytes += size;
        if ((flags & FLAG_MORE) !== 0) {
          if (this.frames.length >= MAX_FRAMES_PER_MESSAGE) {
            this.drop();
            return;
          }
          continue;
        }
        const frames = this.frames;
        frames.unshift(this.id);
        this.frames = [];
        this.messageBytes = 0;
        this.router.options.onMessage(this, frames);
      }
    } finally {
      this.delivering = false;
      this.flush();
    }
  }

  /** Handles a command frame; false if the peer was dropped. */
  private command(body: Buffer, flags: number): boolean {
    const cmd = (flags & FLAG_MORE) === 0 ? parseCommand(body) : undefined;
    if (cmd === undefined) {
      this.drop();
      return false;
    }
    if (this.phase === 'ready') {
      if (cmd.name !== 'READY') {
        this.drop();
        return false;
      }
      try {
        parseReady(cmd.data);
      } catch {
        this.drop();
        return false;
      }
      clearTimeout(this.handshakeTimer);
      this.handshakeTimer = undefined;
      this.phase = 'traffic';
      return true;
    }
    if (cmd.name === 'PING' && cmd.data.length >= 2) {
      // PONG carries the PING's context (up to 16 bytes after its 2-byte TTL).
      this.queue(commandBody('PONG', cmd.data.subarray(2, 18)), FLAG_COMMAND);
    } else if (cmd.name === 'ERROR' || cmd.name === 'READY') {
      this.drop();
      return false;
    }
    // Anything else (SUBSCRIBE, CANCEL, PONG, unknown names) means nothing to a ROUTER.
    return true;
  }

  private stall(): void {
    if (this.stalled) return;
    this.stalled = true;
    this.socket.pause();
    this.router.stalled.add(this);
  }

  /** Called by the router once a slot is free again. */
  unstall(): void {
    if (!this.stalled) return;
    this.stalled = false;
    this.router.stalled.delete(this);
    if (!this.socket.destroyed) this.socket.resume();
    this.process();
  }

  send(frames: readonly Buffer[], from: number): void {
    if (this.socket.destroyed || this.socket.writableLength >= MAX_QUEUED_REPLY_BYTES) return;
    const last = frames.length - 1;
    for (let i = from; i <= last; i++) this.queue(frames[i]!, i < last ? FLAG_MORE : 0);
    if (!this.delivering) this.flushLater();
  }

  /**
   * Writes what is queued once this loop turn's reads are all handled (the check phase, right
   * after them): a peer's requests often arrive as one TCP segment each, and their replies
   * then leave in one write instead of one each; answers from promises join them too.
   */
  private flushLater(): void {
    if (this.flushScheduled || this.out.size === 0) return;
    this.flushScheduled = true;
    setImmediate(this.flushBound);
  }

  private readonly flushBound = () => this.flush();

  private queue(body: Buffer, flags: number): void {
    this.out.add(body, flags);
  }

  flush(): void {
    this.flushScheduled = false;
    this.out.writeTo(this.socket);
  }
}

interface RouterState {
  readonly options: ZmtpRouterOptions;
  readonly connections: Set<Connection>;
  readonly stalled: Set<Connection>;
}

export async function startZmtpRouter(options: ZmtpRouterOptions): Promise<ZmtpRouter> {
  const state: RouterState = { options, connections: new Set(), stalled: new Set() };
  const server = net.createServer((socket) => {
    state.connections.add(new Connection(socket, state));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as net.AddressInfo).port;
  let closing: Promise<void> | undefined;
  return {
    port,
    resume() {
      for (const c of [...state.stalled]) c.unstall();
    },
    stopAccepting() {
      server.close();
    },
    close(lingerMs = 0) {
      closing ??= (async () => {
        server.close();
        const open = [...state.connections];
        if (lingerMs > 0) {
          // Give queued replies a moment to leave, as libzmq's ZMQ_LINGER does.
          for (const c of open) c.flush();
          const deadline = Date.now() + lingerMs;
          while (
            Date.now() < deadline &&
            open.some((c) => !c.socket.destroyed && c.socket.writableLength > 0)
          )
            await new Promise((r) => setTimeout(r, 5));
        }
        for (const c of open) c.socket.destroy();
      })();
      return closing;
    },
  };
}
