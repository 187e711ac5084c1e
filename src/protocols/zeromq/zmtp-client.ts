/**
 * A REQ or DEALER socket's connecting side over node:net (wire in zmtp.ts), for the client's
 * call engine (client.ts): one TCP connection to one endpoint, reconnected when it drops, as
 * libzmq's connecting sockets are.
 *
 * What libzmq does that we keep: connecting never fails (a refused or dropped connection is
 * retried every RECONNECT_MS); messages sent while no connection is up wait for one; a frame
 * over the size limit drops the connection (ZMQ_MAXMSGSIZE); a handshake must finish within
 * 30 s (ZMQ_HANDSHAKE_IVL); a peer of a type we do not talk to is dropped; PING gets PONG. A
 * REQ socket's delimiter is the caller's: it sends and receives whole messages, frames as
 * they are on the wire. What we add: messages sent in one loop turn leave in one write, and a
 * waiting message can be cancelled (its call gave up), so a peer that is away for long holds
 * only the messages of calls still waiting.
 *
 * Through zeromq.js, each call cost the bench's client about 34 µs of CPU against 12 µs for
 * the msgpack-rpc client over node:net (add-16, 16 clients, 2026-12-07): the load generator,
 * not the server, set the ZeroMQ row's calls/s.
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
  readyFrame,
} from './zmtp.js';

/** libzmq's ZMQ_RECONNECT_IVL default. */
export const RECONNECT_MS = 100;
/** Frames in one message; past it the peer is dropped (a reply is 1 or 2 frames). */
const MAX_FRAMES_PER_MESSAGE = 256;
/**
 * Bytes written but not yet taken by the kernel past which sends wait in the queue (where they
 * can still be cancelled) instead of piling up in the socket: a peer that does not read holds
 * bounded memory, as libzmq's high-water mark bounds it.
 */
export const MAX_UNWRITTEN_BYTES = 64 * 1024 * 1024;

/**
 * Queued frames (2 per request) that leave at once rather than at the end of the loop turn:
 * with 64 calls in flight on one socket, the peer then works on the first requests while the
 * rest are still being made, instead of the two processes taking turns. Scratch runs (one
 * DEALER, 64 in flight, 2026-12-07): 22-33% more calls/s than one write per loop turn.
 */
const FLUSH_AT_FRAMES = 16;

/** One message: its frames, in order. */
export type ZmtpMessage = readonly Buffer[];

export interface ZmtpClientOptions {
  readonly host: string;
  readonly port: number;
  readonly socketType: 'REQ' | 'DEALER';
  readonly maxMessageBytes: number;
  /** A whole message from the peer, its frames as sent. */
  onMessage(frames: Buffer[]): void;
  /** A connection that had finished its handshake is gone (what it had not answered is lost). */
  onDisconnect(): void;
}

interface Waiting {
  /** Undefined once cancelled or written. */
  frames: ZmtpMessage | undefined;
}

const nothing = (): void => undefined;
/** Cancelled entries tolerated in the queue before it is compacted (then at most half of it). */
const COMPACT_AFTER = 1024;

type Phase = 'connecting' | 'greeting' | 'ready' | 'traffic';

export class ZmtpClient {
  private socket: net.Socket | undefined;
  private phase: Phase = 'connecting';
  private input = new ByteQueue();
  private greeting: GreetingExchange | undefined;
  private frames: Buffer[] = [];
  private messageBytes = 0;
  private readonly out = new FrameBatch();
  private flushScheduled = false;
  /** True while a chunk's messages are handed over: what they send is flushed after it. */
  private delivering = false;
  /** Messages waiting for a connection (or for the socket to drain), in order. */
  private waiting: Waiting[] = [];
  private cancelled = 0;
  private handshakeTimer: NodeJS.Timeout | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private isClosed = false;
  private readonly ready: Buffer;

  constructor(private readonly options: ZmtpClientOptions) {
    this.ready = readyFrame(options.socketType);
    this.connect();
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** True while a connection is up and past its handshake. */
  get connected(): boolean {
    return this.phase === 'traffic';
  }

  /** Messages waiting for their turn (not counting cancelled ones). */
  get backlog(): number {
    return this.waiting.length - this.cancelled;
  }

  /**
   * Sends one message: at once (in this loop turn's write) when connected and writable,
   * otherwise once it is. The function returned drops it if it is still waiting.
   */
  send(frames: ZmtpMessage): () => void {
    if (this.isClosed) return nothing;
    if (this.writable() && this.waiting.length === this.cancelled) {
      this.queueFrames(frames);
      if (this.out.size >= FLUSH_AT_FRAMES) this.flush();
      else if (!this.delivering) this.flushLater();
      return nothing;
    }
    const entry: Waiting = { frames };
    this.waiting.push(entry);
    return () => this.cancel(entry);
  }

  /** Drops the connection and what waits; no reconnection after this. */
  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    clearTimeout(this.reconnectTimer);
    clearTimeout(this.handshakeTimer);
    this.waiting = [];
    this.cancelled = 0;
    this.socket?.destroy();
  }

  private writable(): boolean {
    const s = this.socket;
    return this.phase === 'traffic' && s !== undefined && s.writableLength < MAX_UNWRITTEN_BYTES;
  }

  private cancel(entry: Waiting): void {
    if (entry.frames === undefined) return;
    entry.frames = undefined;
    this.cancelled++;
    if (this.cancelled > COMPACT_AFTER && this.cancelled * 2 > this.waiting.length) {
      this.waiting = this.waiting.filter((e) => e.frames !== undefined);
      this.cancelled = 0;
    }
  }

  private connect(): void {
    this.reconnectTimer = undefined;
    if (this.isClosed) return;
    const socket = net.connect({ host: this.options.host, port: this.options.port });
    this.socket = socket;
    this.phase = 'connecting';
    this.input = new ByteQueue();
    this.frames = [];
    this.messageBytes = 0;
    socket.setNoDelay(true);
    socket.on('connect', () => {
      this.phase = 'greeting';
      this.greeting = new GreetingExchange((bytes) => socket.write(bytes));
      this.handshakeTimer = setTimeout(() => socket.destroy(), HANDSHAKE_TIMEOUT_MS);
    });
    socket.on('data', (chunk: Buffer) => {
      if (socket !== this.socket) return;
      this.input.push(chunk);
      this.process(socket);
    });
    socket.on('drain', () => {
      if (socket === this.socket) this.sendWaiting();
    });
    socket.on('error', () => undefined); // 'close' follows; refused connects are retried
    socket.on('close', () => {
      if (socket !== this.socket) return;
      clearTimeout(this.handshakeTimer);
      const wasUp = this.phase === 'traffic';
      this.socket = undefined;
      this.out.clear();
      this.phase = 'connecting';
      this.greeting = undefined;
      if (this.isClosed) return;
      this.reconnectTimer = setTimeout(() => this.connect(), RECONNECT_MS);
      if (wasUp) this.options.onDisconnect();
    });
  }

  private process(socket: net.Socket): void {
    const q = this.input;
    const limit = this.options.maxMessageBytes;
    this.delivering = true;
    try {
      while (!socket.destroyed) {
        if (this.phase === 'greeting') {
          const step = this.greeting!.advance(q);
          if (step === 'more') break;
          if (step !== 'done') return void socket.destroy();
          socket.write(this.ready);
          this.phase = 'ready';
          continue;
        }
        const header = frameHeader(q);
        if (header === undefined) break;
        const { flags, head, size } = header;
        if (size > limit || this.messageBytes + size > limit) return void socket.destroy();
        if (q.length < head + size) break;
        q.take(head);
        const body = q.take(size);
        if ((flags & FLAG_COMMAND) !== 0) {
          if (!this.command(socket, body, flags)) return;
          continue;
        }
        if (this.phase !== 'traffic') return void socket.destroy(); // a message before READY
        this.frames.push(body);
        this.messageBytes += size;
        if ((flags & FLAG_MORE) !== 0) {
          if (this.frames.length >= MAX_FRAMES_PER_MESSAGE) return void socket.destroy();
          continue;
        }
        const frames = this.frames;
        this.frames = [];
        this.messageBytes = 0;
        this.options.onMessage(frames);
        if (this.isClosed) return; // closed by the message's handler
      }
    } finally {
      this.delivering = false;
      if (socket === this.socket) this.flush();
    }
  }

  /** Handles a command frame; false if the connection was dropped. */
  private command(socket: net.Socket, body: Buffer, flags: number): boolean {
    const cmd = (flags & FLAG_MORE) === 0 ? parseCommand(body) : undefined;
    if (cmd === undefined) {
      socket.destroy();
      return false;
    }
    if (this.phase === 'ready') {
      try {
        if (cmd.name !== 'READY') throw new Error(`${cmd.name} before READY`);
        parseReady(cmd.data, this.options.socketType);
      } catch {
        socket.destroy();
        return false;
      }
      clearTimeout(this.handshakeTimer);
      this.handshakeTimer = undefined;
      this.phase = 'traffic';
      this.sendWaiting();
      return true;
    }
    if (cmd.name === 'PING' && cmd.data.length >= 2) {
      this.out.add(commandBody('PONG', cmd.data.subarray(2, 18)), FLAG_COMMAND);
      this.flushLater();
    } else if (cmd.name === 'ERROR' || cmd.name === 'READY') {
      socket.destroy();
      return false;
    }
    return true; // PONG, SUBSCRIBE and unknown commands mean nothing here
  }

  /** Moves waiting messages to the connection while it takes them. */
  private sendWaiting(): void {
    let i = 0;
    for (; i < this.waiting.length && this.writable(); i++) {
      const entry = this.waiting[i]!;
      if (entry.frames === undefined) {
        this.cancelled--;
        continue;
      }
      this.queueFrames(entry.frames);
      entry.frames = undefined;
      if (this.out.size >= 1024) this.flush(); // keeps writableLength current for writable()
    }
    this.waiting.splice(0, i);
    this.flush();
  }

  private queueFrames(frames: ZmtpMessage): void {
    const last = frames.length - 1;
    for (let i = 0; i <= last; i++) this.out.add(frames[i]!, i < last ? FLAG_MORE : 0);
  }

  /**
   * Writes what is queued once this loop turn's reads are handled: calls made as replies come
   * in (a closed-loop caller) leave together in one write instead of one each.
   */
  private flushLater(): void {
    if (this.flushScheduled || this.out.size === 0) return;
    this.flushScheduled = true;
    setImmediate(this.flushBound);
  }

  private readonly flushBound = () => this.flush();

  private flush(): void {
    this.flushScheduled = false;
    // Without a connection, what was queued for the last one is lost with it, as what libzmq
    // had handed to a dropped connection is.
    if (this.socket === undefined) this.out.clear();
    else this.out.writeTo(this.socket);
  }
}
