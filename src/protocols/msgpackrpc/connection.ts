/**
 * One msgpack-rpc connection, the same on both ends: the spec is symmetric, and its best-known
 * peers (Neovim, msgpack-rpc-python's server) call back on the connection they are called on.
 * Each side can send requests (many in flight, replies matched by msgid in whatever order they
 * come), answer the other side's requests (each as soon as its handler finishes, not in arrival
 * order), and send or receive notifications.
 *
 * Anything the peer sends that breaks the protocol (a message that is not a 3- or 4-element
 * array, an unknown message type, a response to a msgid never sent, a request whose msgid is
 * not a uint32) fails the connection: every call on it rejects with PROTOCOL and the socket is
 * closed. The process never throws for a peer's bytes. A request with a valid msgid but a bad
 * method or params is answered with a PROTOCOL error instead, as it can be.
 */
import type net from 'node:net';
import {
  NoSuchMethodError,
  ProtocolError,
  type RpcError,
  TimeoutError,
  TransportError,
  toRpcError,
} from '../../contract/errors.js';
import type { ValueType } from '../../contract/spec.js';
import { timerDelay } from '../../net/deadline.js';
import {
  decodeMessage,
  encodeErrorResponse,
  encodeNotification,
  encodeRequest,
  encodeResultParts,
  isMsgid,
  MAX_MSGID,
  NOTIFICATION,
  REQUEST,
  RESPONSE,
} from './codec.js';
import { errorElement, errorFromElement } from './errors.js';
import { FramingError, MessageReader } from './framing.js';

/** What a request handler returns: the result, and its contract type when it is a `double`. */
export interface HandlerResult {
  readonly value: unknown;
  readonly type?: ValueType;
}

/**
 * Answers one request from the peer. Throw NoSuchMethodError for methods it does not serve;
 * any other throw is sent back as the error (typed errors keep their code).
 */
export type RequestHandler = (
  method: string,
  params: unknown[],
  connection: MsgpackRpcConnection,
) => HandlerResult | Promise<HandlerResult>;

export type NotificationHandler = (
  method: string,
  params: unknown[],
  connection: MsgpackRpcConnection,
) => void;

/** Default of ConnectionOptions.maxIncomingRequests, as ZeroMQ's maxPeerRequests. */
export const MAX_INCOMING_REQUESTS = 1_000;
/** Late responses (to calls that timed out) remembered per connection, so they are not "unknown". */
const MAX_LATE_MSGIDS = 10_000;

export interface ConnectionOptions {
  readonly maxMessageBytes: number;
  /** Default timeout of calls this side makes (call() may override it). */
  readonly timeoutMs: number;
  readonly onRequest?: RequestHandler;
  readonly onNotification?: NotificationHandler;
  /**
   * The peer's requests in progress at once on this connection (default 1,000). One past it is
   * not run: it is answered at once with a TRANSPORT "busy" error, so a flooding peer cannot
   * take more than its share, and a peer waiting on our callback can still be read.
   */
  readonly maxIncomingRequests?: number;
  /** The msgid of the first call (tests start near 2^32 to see the wrap). */
  readonly firstMsgid?: number;
  readonly onClose?: (connection: MsgpackRpcConnection, error: RpcError | undefined) => void;
}

export interface CallOptions {
  readonly timeoutMs?: number;
  /** The parameters' contract types: `double` ones are sent as msgpack floats. */
  readonly types?: readonly (ValueType | undefined)[];
}

interface Pending {
  readonly method: string;
  readonly resolve: (value: unknown) => void;
  readonly reject: (err: RpcError) => void;
  readonly timer: NodeJS.Timeout | undefined;
}

/** Messages queued in one turn up to this many bytes are copied into one buffer for one write. */
const SMALL_WRITE_BYTES = 16 * 1024;

const flushQueue = (connection: MsgpackRpcConnection): void => connection.flushQueued();

export class MsgpackRpcConnection {
  private readonly socket: net.Socket;
  private readonly reader: MessageReader;
  private readonly timeoutMs: number;
  private readonly maxMessageBytes: number;
  private readonly maxIncoming: number;
  private readonly onRequest: RequestHandler | undefined;
  private readonly onNotification: NotificationHandler | undefined;
  private readonly onClose: ConnectionOptions['onClose'];
  private readonly pending = new Map<number, Pending>();
  /** msgids of calls that timed out, oldest first: their replies may still come. */
  private readonly late = new Set<number>();
  private nextMsgid: number;
  private incoming = 0;
  private closeError: RpcError | undefined;
  private isClosed = false;
  /** Reading is paused while the socket holds more unsent bytes than this. */
  private readonly writeHighWater: number;
  private pausedForWrites = false;
  private queued: Uint8Array[] = [];
  private queuedBytes = 0;
  private flushScheduled = false;
  /** A chunk is being read: replies wait for the rest of it (see onData). */
  private reading = false;
  /** The peer shut down its side: it sends nothing more, so our own calls cannot be answered. */
  private peerEnded = false;

  constructor(socket: net.Socket, options: ConnectionOptions) {
    this.socket = socket;
    this.timeoutMs = options.timeoutMs;
    this.maxMessageBytes = options.maxMessageBytes;
    this.maxIncoming = Math.max(1, Math.floor(options.maxIncomingRequests ?? MAX_INCOMING_REQUESTS));
    this.onRequest = options.onRequest;
    this.onNotification = options.onNotification;
    this.onClose = options.onClose;
    this.nextMsgid = (options.firstMsgid ?? 0) >>> 0;
    this.writeHighWater = Math.max(options.maxMessageBytes, 1 << 20);
    this.reader = new MessageReader({ maxMessageBytes: options.maxMessageBytes });
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => {
      if (this.pausedForWrites) {
        this.pausedForWrites = false;
        if (!this.isClosed) socket.resume();
      }
    });
    socket.on('error', (err) =>
      this.finish(new TransportError(`connection lost: ${err.message}`, { cause: err })),
    );
    // A peer that half-closes (sends its requests, then shuts down its side, as a pipe into nc
    // does) still gets the replies to the requests it sent; the sockets are half-open for that.
    socket.on('end', () => this.onPeerEnd());
    socket.on('close', () => this.finish(new TransportError('the connection closed')));
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** The peer's requests still being handled (their replies not yet written). */
  get incomingCalls(): number {
    return this.incoming;
  }

  /** Why the connection closed (undefined while open, or after a plain close()). */
  get error(): RpcError | undefined {
    return this.closeError;
  }

  get remoteAddress(): string | undefined {
    return this.socket.remoteAddress;
  }

  /** Calls in flight from this side, and the peer's requests being handled. */
  stats(): { readonly outgoing: number; readonly incoming: number; readonly lateMsgids: number } {
    return { outgoing: this.pending.size, incoming: this.incoming, lateMsgids: this.late.size };
  }

  /** Sends a request and resolves with the result, or rejects with the peer's error as an RpcError. */
  call(method: string, params: readonly unknown[], options: CallOptions = {}): Promise<unknown> {
    if (this.isClosed) {
      return Promise.reject(this.closeError ?? new TransportError('the connection is closed'));
    }
    if (this.peerEnded) {
      return Promise.reject(new TransportError(`${method}: the peer closed its side of the connection`));
    }
    const msgid = this.allocateMsgid();
    let bytes: Uint8Array;
    try {
      bytes = encodeRequest(msgid, method, params, options.types);
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      return Promise.reject(new ProtocolError(`cannot encode ${method} request: ${why}`, { cause: err }));
    }
    if (bytes.length > this.maxMessageBytes) {
      return Promise.reject(
        new TransportError(
          `${method} request of ${bytes.length} bytes exceeds the limit of ${this.maxMessageBytes}`,
        ),
      );
    }
    return new Promise<unknown>((resolve, reject) => {
      const ms = options.timeoutMs ?? this.timeoutMs;
      const delay = timerDelay(ms);
      const timer =
        delay === undefined ? undefined : setTimeout(() => this.onTimeout(msgid, method, ms), delay);
      this.pending.set(msgid, { method, resolve, reject, timer });
      this.write(bytes, this.pending.size > 1);
    });
  }

  /** Sends a notification (no reply). Fails only if the connection is closed or the value cannot be encoded. */
  notify(method: string, params: readonly unknown[], types?: readonly (ValueType | undefined)[]): void {
    if (this.isClosed) throw this.closeError ?? new TransportError('the connection is closed');
    this.write(encodeNotification(method, params, types));
  }

  /** Closes the connection: calls in flight fail with TRANSPORT. */
  close(): Promise<void> {
    if (this.socket.destroyed) {
      this.finish(undefined);
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      this.socket.once('close', () => resolve());
      this.finish(undefined);
    });
  }

  /** Fails the connection with `error` (every pending call rejects with it) and closes the socket. */
  fail(error: RpcError): void {
    this.finish(error);
  }

  private allocateMsgid(): number {
    // Wraps at 2^32; an id still awaiting its reply (a very long call) is skipped, not reused.
    for (;;) {
      const id = this.nextMsgid;
      this.nextMsgid = id === MAX_MSGID ? 0 : id + 1;
      if (!this.pending.has(id)) {
        this.late.delete(id); // a reply to its previous use can no longer be told apart
        return id;
      }
    }
  }

  private onTimeout(msgid: number, method: string, ms: number): void {
    const call = this.pending.get(msgid);
    if (call === undefined) return;
    this.pending.delete(msgid);
    this.late.add(msgid);
    if (this.late.size > MAX_LATE_MSGIDS) this.late.delete(this.late.values().next().value!);
    call.reject(new TimeoutError(`${method} timed out after ${ms} ms`));
  }

  /**
   * Writes one message. When `more` says others may follow (other requests still being
   * handled, other calls in flight), it is queued and the queue leaves in one write in this loop
   * turn's check phase, after the other replies and calls that became ready meanwhile: small
   * messages copied into one buffer (a writev of many tiny parts costs more than the copy),
   * large ones in one writev, so a 1 MiB echo is not copied. A lone message goes out at once.
   */
  private write(bytes: Uint8Array, more = true): void {
    if (this.isClosed) return;
    if (!more && this.queued.length === 0) {
      this.socket.write(bytes);
    } else {
      this.queued.push(bytes);
      this.queuedBytes += bytes.length;
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(flushQueue, this);
      }
    }
    this.checkWriteBacklog();
  }

  /** Writes what write() queued (see there); called by the scheduled flush. @internal */
  flushQueued(): void {
    this.flushScheduled = false;
    const chunks = this.queued;
    const bytes = this.queuedBytes;
    if (chunks.length === 0) return;
    this.queued = [];
    this.queuedBytes = 0;
    const socket = this.socket;
    if (socket.destroyed) return;
    if (chunks.length === 1 || bytes <= SMALL_WRITE_BYTES) {
      socket.write(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, bytes));
    } else {
      socket.cork();
      for (const c of chunks) socket.write(c);
      socket.uncork();
    }
    this.checkWriteBacklog();
  }

  private checkWriteBacklog(): void {
    if (this.socket.writableLength + this.queuedBytes > this.writeHighWater && !this.pausedForWrites) {
      // The peer is not reading its replies: stop reading its requests until it does.
      this.pausedForWrites = true;
      this.socket.pause();
    }
  }

  private onData(chunk: Buffer): void {
    if (this.isClosed) return;
    try {
      // Replies made while a chunk is read (synchronous handlers) are queued and leave together
      // once it is read: one write for all the requests a chunk held, not one per request.
      this.reading = true;
      this.reader.push(chunk, (message) => {
        if (!this.isClosed) this.onMessage(message);
      });
      this.reading = false;
      if (this.queued.length > 0 && this.incoming === 0) this.flushQueued();
    } catch (err) {
      this.reading = false;
      if (err instanceof FramingError)
        this.finish(new ProtocolError(`bad message from the peer: ${err.message}`));
      else this.finish(new ProtocolError(`cannot handle the peer's message: ${String(err)}`, { cause: err }));
    }
  }

  private onMessage(bytes: Buffer): void {
    let message: unknown;
    try {
      message = decodeMessage(bytes);
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      this.finish(new ProtocolError(`the peer sent msgpack that cannot be decoded: ${why}`));
      return;
    }
    if (!Array.isArray(message)) {
      this.finish(new ProtocolError('the peer sent a message that is not an array'));
      return;
    }
    const type = message[0];
    if (type === RESPONSE && message.length === 4) this.onResponse(message[1], message[2], message[3]);
    else if (type === REQUEST && message.length === 4) this.onPeerRequest(message[1], message[2], message[3]);
    else if (type === NOTIFICATION && message.length === 3) this.onPeerNotification(message[1], message[2]);
    else {
      const what =
        type === REQUEST || type === RESPONSE || type === NOTIFICATION
          ? `a type ${type} message of ${message.length} elements`
          : `a message of unknown type ${describeType(type)}`;
      this.finish(new ProtocolError(`the peer sent ${what}`));
    }
  }

  private onResponse(msgid: unknown, error: unknown, result: unknown): void {
    const call = isMsgid(msgid) ? this.pending.get(msgid) : undefined;
    if (call === undefined) {
      if (isMsgid(msgid) && this.late.delete(msgid)) return; // the reply to a call that timed out
      this.finish(new ProtocolError(`the peer answered msgid ${describeType(msgid)}, which awaits no reply`));
      return;
    }
    this.pending.delete(msgid as number);
    clearTimeout(call.timer);
    if (error === null || error === undefined) call.resolve(result);
    else call.reject(errorFromElement(error, call.method));
  }

  private onPeerRequest(msgid: unknown, method: unknown, params: unknown): void {
    if (!isMsgid(msgid)) {
      this.finish(
        new ProtocolError(`the peer sent a request with msgid ${describeType(msgid)}, not a uint32`),
      );
      return;
    }
    if (typeof method !== 'string' || !Array.isArray(params)) {
      const what = typeof method !== 'string' ? 'its method is not a str' : 'its params are not an array';
      this.reply(msgid, undefined, new ProtocolError(`bad request: ${what}`));
      return;
    }
    if (this.onRequest === undefined) {
      this.reply(msgid, undefined, new NoSuchMethodError(method));
      return;
    }
    if (this.incoming >= this.maxIncoming) {
      // Not run, so the caller may retry; an error now rather than a silent wait.
      const err = new TransportError(
        `busy: this connection already has ${this.maxIncoming} requests in progress; ${method} was not run`,
      );
      this.reply(msgid, undefined, err);
      return;
    }
    this.incoming++;
    let outcome: HandlerResult | Promise<HandlerResult>;
    try {
      outcome = this.onRequest(method, params, this);
    } catch (err) {
      this.incoming--;
      this.reply(msgid, undefined, toRpcError(err));
      return;
    }
    if (!(outcome instanceof Promise)) {
      this.incoming--;
      this.reply(msgid, outcome, undefined);
      return;
    }
    outcome.then(
      (result) => {
        this.incoming--;
        this.reply(msgid, result, undefined);
      },
      (err: unknown) => {
        this.incoming--;
        this.reply(msgid, undefined, toRpcError(err));
      },
    );
  }

  private reply(msgid: number, result: HandlerResult | undefined, error: RpcError | undefined): void {
    if (this.isClosed) return;
    let parts: Uint8Array[];
    if (error === undefined) {
      try {
        parts = encodeResultParts(msgid, result!.value, result!.type);
      } catch (err) {
        const why = err instanceof Error ? err.message : String(err);
        parts = [
          encodeErrorResponse(msgid, errorElement(new ProtocolError(`cannot encode the result: ${why}`))),
        ];
      }
    } else {
      parts = [encodeErrorResponse(msgid, errorElement(error))];
    }
    let size = 0;
    for (const p of parts) size += p.length;
    if (size > this.maxMessageBytes) {
      const err = new TransportError(
        `the reply of ${size} bytes exceeds the limit of ${this.maxMessageBytes}`,
      );
      parts = [encodeErrorResponse(msgid, errorElement(err))];
    }
    const more = this.reading || this.incoming > 0;
    if (parts.length === 1) this.write(parts[0]!, more);
    else for (const p of parts) this.write(p, true); // the parts of one message leave together
    if (this.peerEnded && this.incoming === 0) this.endGracefully();
  }

  private onPeerEnd(): void {
    if (this.isClosed) return;
    this.peerEnded = true;
    const reason = new TransportError('the peer closed its side of the connection');
    for (const call of this.pending.values()) {
      clearTimeout(call.timer);
      call.reject(reason);
    }
    this.pending.clear();
    if (this.incoming === 0) this.endGracefully();
  }

  /** After the peer's half-close and our last reply: flush, then close (bounded, if it never reads). */
  private endGracefully(): void {
    if (this.isClosed) return;
    this.flushQueued(); // replies still queued for this turn go out before the end
    this.isClosed = true;
    this.late.clear();
    const socket = this.socket;
    const force = setTimeout(() => socket.destroy(), 10_000);
    force.unref();
    socket.end(() => {
      clearTimeout(force);
      socket.destroy();
    });
    this.onClose?.(this, undefined);
  }

  private onPeerNotification(method: unknown, params: unknown): void {
    if (typeof method !== 'string' || !Array.isArray(params)) {
      this.finish(
        new ProtocolError('the peer sent a notification whose method is not a str or params not an array'),
      );
      return;
    }
    if (this.onNotification === undefined) return;
    try {
      this.onNotification(method, params, this);
    } catch {
      // A notification has no reply to carry the error; the handler's fault is not the peer's.
    }
  }

  private finish(error: RpcError | undefined): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.closeError = error;
    const reason = error ?? new TransportError('the connection was closed');
    for (const call of this.pending.values()) {
      clearTimeout(call.timer);
      call.reject(reason);
    }
    this.pending.clear();
    this.late.clear();
    // At once, not after a graceful end: a peer that broke the protocol, or never reads,
    // must not keep the socket (or its unsent replies) alive.
    if (!this.socket.destroyed) this.socket.destroy();
    this.onClose?.(this, error);
  }
}

function describeType(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === 'bigint') return `${value}`;
  if (value instanceof Uint8Array) return `bytes(${value.byteLength})`;
  if (Array.isArray(value)) return 'array';
  if (value === null) return 'nil';
  return typeof value === 'object' ? 'map' : String(value);
}
