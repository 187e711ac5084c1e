/**
 * One RPyC connection (rpyc/core/protocol.py's Connection), symmetric as in rpyc: both ends
 * send requests and answer them, so a server can call a client's callback while the client
 * waits for the server's reply. Each payload is a message-type byte and a brine-dumped
 * `(seq, body)`: a request's body is `(handler, boxed args)`, a reply's the boxed result, an
 * exception's a vinegar tuple. Replies are matched to requests by seq, so any number of calls
 * can be in flight.
 */
import type net from 'node:net';
import {
  InvalidArgumentError,
  MessageTooLargeError,
  ProtocolError,
  type RpcError,
  TimeoutError,
  TransportError,
  toRpcError,
} from '../../contract/errors.js';
import { timerDelay } from '../../net/deadline.js';
import {
  BrineLimitError,
  type BrineValue,
  dumpFramedParts,
  Ellipsis,
  isDumpable,
  load,
  NotImplemented,
  PyComplex,
  PyFloat,
  PyFrozenSet,
  PySlice,
} from './brine.js';
import { Handle, handleNames, Label, Msg } from './consts.js';
import { type Compression, FrameDecoder, framePartsInPlace, type OversizedFrame } from './framing.js';
import {
  attributeError,
  BoundMethod,
  callUnvalidated,
  ExposedObject,
  type IdPack,
  idPackOf,
  isServable,
  LocalObjectTable,
  noKeywords,
  pythonTypeName,
  type Servable,
} from './local-objects.js';
import { type RefOwner, type RefState, RemoteRef } from './netref.js';
import { asPythonException, dumpException, loadException } from './vinegar.js';

export interface ConnectionOptions {
  /** What the peer gets for GETROOT (rpyc's local service). */
  root: ExposedObject;
  /** Per-request timeout for requests this side sends. */
  timeoutMs: number;
  /** Largest frame accepted (compressed or not); larger ones close the connection. */
  maxMessageBytes: number;
  /**
   * Most requests of ours waiting on the peer at once; past it a request fails at once with
   * TRANSPORT (default: no limit). A server sets it: each callback it waits on costs ~2 KB, and a
   * client that keeps making it call back without answering could otherwise hold gigabytes.
   */
  maxPendingRequests?: number;
  /** The sender's compression choice (framing.ts Compression; default 'auto': only where it pays). */
  compress?: Compression;
  /** Send JavaScript stacks inside exception tracebacks (default false). */
  includeStack?: boolean;
  /**
   * The message envelope: rpyc 6 (`6`, a message-type byte then brine `(seq, body)`), rpyc 4.1–5
   * (`5`, brine `(msg, seq, body)`), or `'auto'` (a server: follow the peer's first message).
   * Default 6.
   */
  envelope?: Envelope;
  onClose?: (conn: RpycConnection) => void;
}

export interface ConnectionStats {
  /** Objects of ours the peer holds references to (the root included once sent). */
  readonly localObjects: number;
  /** Netrefs to peer objects we hold and have not released. */
  readonly remoteRefs: number;
  /** Requests sent and not answered yet. */
  readonly pending: number;
  /**
   * Bytes of our replies (and of the DELs giving back references the peer sent) not yet taken by
   * the peer; reading pauses above 4 MiB.
   */
  readonly unsentReplyBytes: number;
}

/** Which rpyc message envelope a connection speaks (see ConnectionOptions.envelope). */
export type Envelope = 5 | 6 | 'auto';

/** brine's TUP3 tag: an rpyc 4.1–5 message starts with it, never an rpyc 6 one (types are 1–3). */
const LEGACY_ENVELOPE_TAG = 0x12;

interface Pending {
  resolve(value: unknown): void;
  reject(err: RpcError): void;
  timer: NodeJS.Timeout | undefined;
}

interface Held {
  readonly key: string;
  readonly weak: WeakRef<RemoteRef>;
  readonly state: RefState;
  readonly idPack: IdPack;
}

/**
 * Flow control: while more than this many bytes of our replies wait unsent (the peer sends
 * requests but does not read the answers), we stop reading its requests; reading resumes once
 * they are down to REPLY_BACKLOG_RESUME. Only replies count, and the DELs that give back the
 * peer's references (answers we do not wait for): requests we wait on must never stop us from
 * reading the peer's replies to them (that would deadlock two peers).
 */
const REPLY_BACKLOG_PAUSE = 4 * 1024 * 1024;
const REPLY_BACKLOG_RESUME = 1024 * 1024;

/**
 * How many arguments each handler takes, [fewest, most], as rpyc's _handle_* signatures say
 * (optional ones: CALL/CALLATTR's kwargs, CMP's op, DEL's count). rpyc calls its handler with the
 * unboxed arguments, so a wrong count is Python's TypeError, answered like any other failure.
 */
const ARITY: Readonly<Record<number, readonly [number, number]>> = {
  [Handle.PING]: [1, 1],
  [Handle.CLOSE]: [0, 0],
  [Handle.GETROOT]: [0, 0],
  [Handle.GETATTR]: [2, 2],
  [Handle.DELATTR]: [2, 2],
  [Handle.SETATTR]: [3, 3],
  [Handle.CALL]: [2, 3],
  [Handle.CALLATTR]: [3, 4],
  [Handle.REPR]: [1, 1],
  [Handle.STR]: [1, 1],
  [Handle.CMP]: [2, 3],
  [Handle.HASH]: [1, 1],
  [Handle.DIR]: [1, 1],
  [Handle.PICKLE]: [2, 2],
  [Handle.DEL]: [1, 2],
  [Handle.INSPECT]: [1, 1],
  [Handle.BUFFITER]: [2, 2],
  [Handle.OLDSLICING]: [6, 6],
  [Handle.CTXEXIT]: [2, 2],
  [Handle.INSTANCECHECK]: [2, 2],
};

/** object's rich comparisons: what type(obj).<op>(obj, other) answers for our objects. */
const RICH_COMPARISONS = new Set(['__eq__', '__ne__', '__lt__', '__le__', '__gt__', '__ge__']);

/**
 * rpyc 6's netref.builtin_classes_cache: the classes HANDLE_INSTANCECHECK knows by name (rpyc 5's
 * list lacks builtins.module).
 */
const BUILTIN_CLASSES: ReadonlySet<string> = new Set(
  [
    'BaseException',
    'Exception',
    'NoneType',
    'bool',
    'builtin_function_or_method',
    'bytearray',
    'bytes',
    'code',
    'complex',
    'dict',
    'float',
    'frame',
    'frozenset',
    'function',
    'generator',
    'int',
    'list',
    'list_iterator',
    'mappingproxy',
    'memoryview',
    'method',
    'method-wrapper',
    'module',
    'object',
    'range_iterator',
    'set',
    'set_iterator',
    'slice',
    'str',
    'traceback',
    'tuple',
    'tuple_iterator',
    'type',
    'wrapper_descriptor',
  ].map((n) => `builtins.${n}`),
);

const MAX_PEER_CLASSES = 4096;

/** Marker for a handler that must not be answered (CLOSE: rpyc closes instead of replying). */
const NO_REPLY = Symbol('no reply');

function typeError(message: string): InvalidArgumentError {
  return asPythonException(new InvalidArgumentError(message), 'TypeError');
}

function asString(name: unknown): string {
  if (typeof name === 'string') return name;
  if (name instanceof Uint8Array) return Buffer.from(name).toString('utf8');
  throw typeError('name must be a string');
}

function asKwargs(raw: unknown): Array<readonly [string, unknown]> {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) throw typeError('keyword arguments must be a tuple of pairs');
  return raw.map((pair) => {
    if (!Array.isArray(pair) || pair.length !== 2) throw typeError('keyword arguments must be pairs');
    return [asString(pair[0]), pair[1]] as const;
  });
}

function isIdPack(v: unknown): v is IdPack {
  return (
    Array.isArray(v) &&
    v.length === 3 &&
    typeof v[0] === 'string' &&
    (typeof v[1] === 'number' || typeof v[1] === 'bigint') &&
    (typeof v[2] === 'number' || typeof v[2] === 'bigint')
  );
}

export class RpycConnection implements RefOwner {
  readonly local = new LocalObjectTable();
  private readonly decoder: FrameDecoder;
  private readonly pending = new Map<number, Pending>();
  private readonly proxies = new Map<string, WeakRef<RemoteRef>>();
  /** Classes (name, class id) of the peer's objects we got references to: rpyc's netref class cache. */
  private readonly peerClasses = new Set<string>();
  private readonly finalizer = new FinalizationRegistry<Held>((held) => this.finalize(held));
  private nextSeq = 0;
  private closedFlag = false;
  private readonly closeListeners: Array<() => void> = [];
  private rootPromise: Promise<RemoteRef> | undefined;
  private envelope: Envelope;
  /** Served calls whose (async) results are not answered yet. */
  private serving = 0;
  /** Why the peer's stream stopped being read; the connection closes once `serving` is 0. */
  private failure: RpcError | undefined;
  /** The peer asked to close (HANDLE_CLOSE): end the socket rather than destroy it. */
  private failGraceful = false;
  /** Bytes of replies handed to the socket and not yet flushed to the kernel. */
  private replyBacklog = 0;
  private readonly replyFlushed = (n: number) => () => {
    this.replyBacklog -= n;
    if (this.replyBacklog <= REPLY_BACKLOG_RESUME && this.socket.isPaused() && !this.closedFlag)
      this.socket.resume();
  };

  constructor(
    readonly socket: net.Socket,
    private readonly options: ConnectionOptions,
  ) {
    this.decoder = new FrameDecoder(options.maxMessageBytes, (frame) => this.onOversized(frame));
    this.envelope = options.envelope ?? 6;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => this.teardown(new TransportError(err.message, { cause: err })));
    socket.on('close', () => this.teardown(new TransportError('rpyc connection closed')));
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  /** Calls the peer made that are still running (their replies not yet written). */
  get servingCalls(): number {
    return this.serving;
  }

  stats(): ConnectionStats {
    let remoteRefs = 0;
    for (const weak of this.proxies.values()) {
      const ref = weak.deref();
      if (ref !== undefined && !ref.state.released) remoteRefs++;
    }
    return {
      localObjects: this.local.size,
      remoteRefs,
      pending: this.pending.size,
      unsentReplyBytes: this.replyBacklog,
    };
  }

  /** The peer's root object (GETROOT once, then cached, like rpyc's conn.root). */
  root(): Promise<RemoteRef> {
    if (this.rootPromise === undefined) {
      this.rootPromise = this.request(Handle.GETROOT, []).then((root) => {
        if (!(root instanceof RemoteRef)) throw new ProtocolError('rpyc: GETROOT did not return a reference');
        return root;
      });
      // A failed attempt (e.g. a timeout) must not poison later calls.
      this.rootPromise.catch(() => {
        this.rootPromise = undefined;
      });
    }
    return this.rootPromise;
  }

  /** Sends a request and resolves with the unboxed reply (rejects with the peer's exception). */
  request(handler: number, args: readonly unknown[]): Promise<unknown> {
    if (this.closedFlag) return Promise.reject(new TransportError('rpyc connection is closed'));
    let boxed: BrineValue;
    try {
      boxed = this.box(args);
    } catch (err) {
      return Promise.reject(toRpcError(err));
    }
    return this.requestBoxed(handler, boxed, this.options.timeoutMs);
  }

  private requestBoxed(handler: number, boxed: BrineValue, timeoutMs: number): Promise<unknown> {
    // The peer's answers can no longer be read (see fail()).
    if (this.failure !== undefined) return Promise.reject(this.failure);
    const max = this.options.maxPendingRequests ?? Number.POSITIVE_INFINITY;
    if (this.pending.size >= max)
      return Promise.reject(
        new TransportError(`rpyc: ${max} requests already wait on the peer's answers (maxPendingCallbacks)`),
      );
    const seq = this.nextSeq++;
    return new Promise<unknown>((resolve, reject) => {
      const entry: Pending = { resolve, reject, timer: undefined };
      if (Number.isFinite(timeoutMs) && timeoutMs > 0) {
        entry.timer = setTimeout(() => {
          this.pending.delete(seq);
          reject(new TimeoutError(`rpyc ${handleNames[handler] ?? handler} timed out after ${timeoutMs} ms`));
        }, timerDelay(timeoutMs));
      }
      this.pending.set(seq, entry);
      try {
        this.send(Msg.REQUEST, seq, [handler, boxed]);
      } catch (err) {
        this.pending.delete(seq);
        clearTimeout(entry.timer);
        reject(toRpcError(err));
      }
    });
  }

  /** Sends HANDLE_DEL for every reference the peer gave us to this object. */
  async releaseRef(ref: RemoteRef): Promise<void> {
    if (ref.owner !== this || ref.state.released) return;
    ref.state.released = true;
    this.finalizer.unregister(ref);
    this.forget(ref.idPack, this.proxies.get(keyOf(ref.idPack)));
    if (this.closedFlag) return;
    await this.sendDel(ref.idPack, ref.state.count).catch(() => undefined);
  }

  private sendDel(idPack: IdPack, count: number): Promise<unknown> {
    return this.requestBoxed(Handle.DEL, delArgs(idPack, count), this.options.timeoutMs);
  }

  /**
   * HANDLE_DELs without waiting for their answers, as rpyc sends them (async requests): no
   * pending entry or timer, so a peer that hands us many references in one message (each given
   * back when the call ends) cannot make us hold one timer per reference. The answers are ignored
   * as replies to unknown seqs. They are written at once and count towards the backlog like
   * replies: they answer references the peer sent, so a peer that sends many and reads nothing
   * must be paused, not buffered for without bound (about 40 bytes of DEL per reference).
   */
  private sendDelsNoWait(dels: ReadonlyArray<readonly [IdPack, number]>): void {
    if (this.closedFlag || dels.length === 0) return;
    try {
      const parts: Buffer[] = [];
      for (const [idPack, count] of dels)
        parts.push(...this.frameOf(Msg.REQUEST, this.nextSeq++, [Handle.DEL, delArgs(idPack, count)]));
      this.write(parts.length === 1 ? parts : [Buffer.concat(parts)], true);
    } catch {
      // The connection is going away: the peer drops everything anyway.
    }
  }

  private finalize(held: Held): void {
    if (held.state.released) return;
    held.state.released = true;
    this.forget(held.idPack, held.weak);
    this.sendDelsNoWait([[held.idPack, held.state.count]]);
  }

  private forget(idPack: IdPack, weak: WeakRef<RemoteRef> | undefined): void {
    const key = keyOf(idPack);
    if (weak !== undefined && this.proxies.get(key) === weak) this.proxies.delete(key);
  }

  /** Graceful close: HANDLE_CLOSE (answered by the peer closing), then the socket. */
  async close(): Promise<void> {
    if (this.closedFlag) return;
    const closed = new Promise<void>((resolve) => this.closeListeners.push(resolve));
    const grace = Math.min(this.options.timeoutMs > 0 ? this.options.timeoutMs : 1000, 1000);
    this.requestBoxed(Handle.CLOSE, [Label.VALUE, []], grace).then(
      () => this.teardown(new TransportError('rpyc connection closed')),
      () => this.teardown(new TransportError('rpyc connection closed')),
    );
    await closed;
  }

  /** Closes at once (pending calls fail with TRANSPORT). */
  destroy(): void {
    this.teardown(new TransportError('rpyc connection closed'));
  }

  private teardown(err: RpcError, graceful = false): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.pending.clear();
    this.local.clear();
    for (const weak of this.proxies.values()) {
      const ref = weak.deref();
      if (ref !== undefined) {
        ref.state.released = true;
        this.finalizer.unregister(ref);
      }
    }
    this.proxies.clear();
    if (graceful) {
      this.socket.end();
      // Reading may have been paused (see fail()): the peer's end of the stream must be seen for
      // the socket to close (what it sends now is ignored).
      this.socket.resume();
      setTimeout(() => this.socket.destroy(), 2000).unref();
    } else this.socket.destroy();
    for (const listener of this.closeListeners.splice(0)) listener();
    this.options.onClose?.(this);
  }

  // -------------------------------------------------------------------------------------------
  // wire

  /**
   * Sends one message. `counted` marks what we send because of the peer's own messages (replies,
   * and the DELs giving back references it sent us): those count towards the flow-control backlog.
   */
  private send(msg: number, seq: BrineValue, body: BrineValue, counted = false): void {
    this.write(this.frameOf(msg, seq, body), counted);
  }

  private frameOf(msg: number, seq: BrineValue, body: BrineValue): Buffer[] {
    if (this.closedFlag) throw new TransportError('rpyc connection is closed');
    let parts: Buffer[];
    // Bulk bytes are written from their own memory, not copied (brine's dumpFramedParts). A
    // request's are sent before its reply can come, so a caller may reuse them once the call
    // settles; a reply's are what the implementation returned, which it must not change
    // afterwards (as with any Node stream write).
    if (this.envelope === 5) parts = dumpFramedParts([msg, seq, body], 5, 1);
    else {
      // Frame header (5 bytes) and message type (1 byte) before the brine, "\n" after it.
      parts = dumpFramedParts([seq, body], 6, 1);
      parts[0]![5] = msg;
    }
    return framePartsInPlace(parts, this.options.compress ?? 'auto');
  }

  private write(parts: readonly Buffer[], counted: boolean): void {
    let done: (() => void) | undefined;
    if (counted) {
      let n = 0;
      for (const part of parts) n += part.length;
      this.replyBacklog += n;
      done = this.replyFlushed(n);
    }
    if (parts.length === 1) this.socket.write(parts[0]!, done);
    else {
      this.socket.cork();
      for (let i = 0; i < parts.length; i++)
        this.socket.write(parts[i]!, i === parts.length - 1 ? done : undefined);
      this.socket.uncork();
    }
    if (this.replyBacklog > REPLY_BACKLOG_PAUSE) this.socket.pause();
  }

  /**
   * The peer's stream can no longer be read (bad framing or brine), or the peer sent HANDLE_CLOSE
   * (`graceful`). rpyc answers each request before it reads the next frame, so every request
   * ahead of that point gets its answer: we stop reading, fail our own requests (their answers
   * cannot be read any more, so served calls waiting on a callback end too), let the calls we
   * serve finish (bounded by timeoutMs), then close right after their replies are written.
   */
  private fail(err: RpcError, graceful = false): void {
    if (this.closedFlag || this.failure !== undefined) return;
    this.failure = err;
    this.failGraceful = graceful;
    this.socket.pause();
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.pending.clear();
    if (this.serving === 0) {
      this.teardown(err, graceful);
      return;
    }
    const grace = this.options.timeoutMs > 0 ? this.options.timeoutMs : 30_000;
    setTimeout(() => this.teardown(err, graceful), timerDelay(grace)).unref();
  }

  /** One served call settled: the connection may be waiting for it to close (see fail()). */
  private served(): void {
    this.serving--;
    if (this.serving === 0 && this.failure !== undefined) this.teardown(this.failure, this.failGraceful);
  }

  private onData(chunk: Buffer): void {
    if (this.closedFlag || this.failure !== undefined) return;
    this.decoder.append(chunk);
    // Frame by frame, as rpyc reads: what came before a bad frame is handled before it closes us,
    // and nothing after it (or after a HANDLE_CLOSE).
    while (!this.closedFlag && this.failure === undefined) {
      let frame: Buffer | undefined;
      try {
        frame = this.decoder.next();
      } catch (err) {
        // Oversized or corrupt framing: nothing after it can be trusted, so the connection goes.
        this.fail(err instanceof MessageTooLargeError ? err : toRpcError(err));
        return;
      }
      if (frame === undefined) return;
      try {
        this.onFrame(frame);
      } catch (err) {
        this.fail(toRpcError(err));
        return;
      }
    }
  }

  /**
   * A message over maxMessageBytes was read past without buffering it. When its start says which
   * message it was, only that one fails (a request gets a MESSAGE_TOO_LARGE exception, a reply
   * fails its call) and the connection stays; otherwise the connection closes.
   */
  private onOversized(frame: OversizedFrame): void {
    if (this.closedFlag) return;
    const err = new MessageTooLargeError(frame.size, this.options.maxMessageBytes);
    const id = messageIdOf(frame.head, this.envelope);
    if (id === undefined) {
      this.fail(err);
      return;
    }
    if (this.envelope === 'auto') this.envelope = id.envelope;
    if (id.msg === Msg.REQUEST) this.reply(id.seq, err, true);
    else this.takePending(id.seq)?.reject(err);
  }

  private onFrame(payload: Buffer): void {
    if (payload.length < 2) throw new ProtocolError('rpyc: empty message');
    if (this.envelope === 'auto') this.envelope = payload[0] === LEGACY_ENVELOPE_TAG ? 5 : 6;
    try {
      this.onMessage(payload);
    } catch (err) {
      // A message refused for its size fails alone when its start says which one it was.
      const id =
        err instanceof BrineLimitError ? messageIdOf(payload.subarray(0, 64), this.envelope) : undefined;
      if (id === undefined) throw err;
      if (id.msg === Msg.REQUEST) this.reply(id.seq, err, true);
      else this.takePending(id.seq)?.reject(err as BrineLimitError);
    }
  }

  private onMessage(payload: Buffer): void {
    let msg: unknown;
    let seq: BrineValue;
    let args: BrineValue;
    if (this.envelope === 5) {
      // An rpyc 5 message is a brine 3-tuple; a type byte 1-3 instead is rpyc 6's envelope.
      if (payload[0] !== LEGACY_ENVELOPE_TAG && payload[0]! >= Msg.REQUEST && payload[0]! <= Msg.EXCEPTION)
        throw new ProtocolError(
          'rpyc: the peer speaks the rpyc 6 message envelope (connect without rpycVersion: 5, variant tcp)',
        );
      const body = load(payload);
      if (!Array.isArray(body) || body.length !== 3)
        throw new ProtocolError('rpyc: message is not a (msg, seq, args) triple (rpyc 4.1-5 envelope)');
      [msg, seq, args] = body as [unknown, BrineValue, BrineValue];
    } else {
      msg = payload[0];
      if (msg === LEGACY_ENVELOPE_TAG)
        throw new ProtocolError(
          'rpyc: the peer speaks the rpyc 4.1-5 message envelope (connect with rpycVersion: 5, variant tcp-rpyc5)',
        );
      const body = load(payload.subarray(1));
      if (!Array.isArray(body) || body.length !== 2)
        throw new ProtocolError('rpyc: message is not a (seq, args) pair');
      [seq, args] = body as [BrineValue, BrineValue];
    }
    // rpyc never does arithmetic on a peer's seq: a request's is echoed whatever it is (an int
    // past 2**53, a str), and a reply's that is not one of our ints matches no call.
    switch (msg) {
      case Msg.REQUEST:
        this.onRequest(seq, args);
        return;
      case Msg.REPLY: {
        const p = this.takePending(seq);
        let value: unknown;
        try {
          value = this.unbox(args);
        } catch (err) {
          p?.reject(toRpcError(err));
          return;
        }
        p?.resolve(value); // a late reply's netrefs are released by the finalizer
        return;
      }
      case Msg.EXCEPTION: {
        const p = this.takePending(seq);
        if (p === undefined) return;
        let err: RpcError;
        try {
          err = loadException(args);
        } catch (e) {
          // A well-framed message with a bad vinegar tuple: only this call is affected.
          err = toRpcError(e);
        }
        p.reject(err);
        return;
      }
      default:
        throw new ProtocolError(`rpyc: invalid message type ${String(msg)}`);
    }
  }

  private takePending(seq: BrineValue): Pending | undefined {
    if (typeof seq !== 'number') return undefined;
    const p = this.pending.get(seq);
    if (p === undefined) return undefined;
    this.pending.delete(seq);
    clearTimeout(p.timer);
    return p;
  }

  private onRequest(seq: BrineValue, raw: BrineValue): void {
    let result: unknown;
    const borrowed = new Map<RemoteRef, number>();
    try {
      if (!Array.isArray(raw) || raw.length !== 2 || typeof raw[0] !== 'number')
        throw typeError('request is not a (handler, args) pair');
      const args = this.unbox(raw[1], 0, borrowed);
      if (!Array.isArray(args)) throw typeError('request arguments are not a tuple');
      result = this.handle(raw[0] as number, args);
    } catch (err) {
      this.reply(seq, err, true);
      this.giveBack(borrowed);
      return;
    }
    if (result === NO_REPLY) return;
    if (result instanceof Promise) {
      this.serving++;
      result.then(
        (value) => {
          this.reply(seq, value, false);
          this.giveBack(borrowed);
          this.served();
        },
        (err: unknown) => {
          this.reply(seq, err, true);
          this.giveBack(borrowed);
          this.served();
        },
      );
    } else {
      this.reply(seq, result, false);
      this.giveBack(borrowed);
    }
  }

  /** Returns the references a served call borrowed (see RemoteRef.keep). */
  private giveBack(borrowed: Map<RemoteRef, number>): void {
    const dels: Array<readonly [IdPack, number]> = [];
    for (const [ref, n] of borrowed) {
      const state = ref.state;
      if (state.released || state.kept || this.closedFlag) continue;
      state.count -= n;
      if (state.count <= 0) {
        state.released = true;
        this.finalizer.unregister(ref);
        this.forget(ref.idPack, this.proxies.get(keyOf(ref.idPack)));
      }
      dels.push([ref.idPack, n]);
    }
    this.sendDelsNoWait(dels);
  }

  private reply(seq: BrineValue, value: unknown, failed: boolean): void {
    if (this.closedFlag) return;
    let body: BrineValue;
    let msg: number = failed ? Msg.EXCEPTION : Msg.REPLY;
    try {
      body = failed ? dumpException(value, this.exceptionOptions()) : this.box(value);
    } catch (err) {
      msg = Msg.EXCEPTION;
      body = dumpException(err, this.exceptionOptions());
    }
    try {
      this.send(msg, seq, body, true);
    } catch (err) {
      // Either the socket went away (nothing left to answer), or the value could not be written
      // (an int Python would refuse, a frame too big to build): the caller must still get an answer.
      if (this.closedFlag || msg === Msg.EXCEPTION) return;
      try {
        this.send(Msg.EXCEPTION, seq, dumpException(err, this.exceptionOptions()), true);
      } catch {
        // Nothing more we can do for this call.
      }
    }
  }

  private exceptionOptions() {
    return { includeStack: this.options.includeStack ?? false };
  }

  // -------------------------------------------------------------------------------------------
  // request handlers (what the peer may do with our objects)

  private handle(handler: number, args: unknown[]): unknown {
    const arity = ARITY[handler];
    if (arity === undefined) {
      const err = new ProtocolError(`unknown rpyc handler ${String(handler)}`);
      throw asPythonException(err, 'KeyError');
    }
    if (args.length < arity[0] || args.length > arity[1]) {
      const takes = arity[0] === arity[1] ? `${arity[0]}` : `${arity[0]} to ${arity[1]}`;
      throw typeError(`${handleNames[handler]} takes ${takes} argument(s), got ${args.length}`);
    }
    const [obj, a1, a2, a3] = args;
    switch (handler) {
      case Handle.PING:
        return obj; // the data, echoed
      case Handle.CLOSE:
        // rpyc closes once it has answered what came before; so do we (see fail()).
        this.fail(new TransportError('rpyc connection closed by the peer'), true);
        return NO_REPLY;
      case Handle.GETROOT:
        return this.options.root;
      case Handle.GETATTR:
        return this.getattr(this.servable(obj), asString(a1));
      case Handle.SETATTR:
      case Handle.DELATTR:
        this.servable(obj);
        throw attributeError('access denied');
      case Handle.CALL:
        return this.call(this.servable(obj), a1, a2);
      case Handle.CALLATTR:
        return this.call(this.getattr(this.servable(obj), asString(a1)), a2, a3);
      case Handle.REPR:
      case Handle.STR:
        return this.describe(this.servable(obj));
      case Handle.HASH:
        return idPackOf(this.servable(obj))[2];
      case Handle.CMP: {
        // rpyc runs type(obj).<op>(obj, other) after the usual attribute check (op defaults to
        // py2's '__cmp__', which Python 3 types lack): object's __eq__/__ne__ decide only for
        // the same object and are NotImplemented otherwise, like the other comparisons.
        this.servable(obj);
        const op = a2 === undefined ? '__cmp__' : asString(a2);
        if (!RICH_COMPARISONS.has(op)) throw attributeError(`cannot access '${op}'`);
        if (obj !== a1) return NotImplemented;
        if (op === '__eq__') return true;
        if (op === '__ne__') return false;
        return NotImplemented;
      }
      case Handle.DIR: {
        const o = this.servable(obj);
        return o instanceof ExposedObject ? o.dir() : [];
      }
      case Handle.INSPECT: {
        const o = this.local.get(obj as BrineValue);
        return o instanceof ExposedObject ? o.inspect() : [['__call__', null]];
      }
      case Handle.DEL: {
        const count = a1 === undefined ? 1 : a1;
        // 0 changes nothing, as in rpyc's decref; a negative count (which would raise rpyc's) is refused.
        if (typeof count !== 'number' || !Number.isInteger(count) || count < 0)
          throw typeError('DEL count must be a non-negative int');
        if (count === 0) {
          this.servable(obj);
          return null;
        }
        this.local.decref(idPackOf(this.servable(obj)), count);
        return null;
      }
      case Handle.PICKLE:
        throw asPythonException(new InvalidArgumentError('pickling is disabled'), 'ValueError');
      case Handle.INSTANCECHECK:
        return this.instanceCheck(a1);
      case Handle.BUFFITER:
        // itertools.islice(obj, n): none of our objects is iterable.
        throw typeError(`'${pythonTypeName(this.servable(obj))}' object is not iterable`);
      case Handle.OLDSLICING:
        // rpyc fetches obj.<attempt>, then obj.<fallback>: attributes we never expose.
        this.servable(obj);
        throw attributeError(`cannot access '${asString(a2)}'`);
      case Handle.CTXEXIT:
        // rpyc calls obj.__exit__, which the attribute check refuses on a service.
        this.servable(obj);
        throw attributeError("cannot access '__exit__'");
      default:
        throw new ProtocolError(`rpyc handler ${String(handler)} has no case`);
    }
  }

  /**
   * rpyc's _handle_instancecheck(obj, other_id_pack): a class rpyc knows by that id pack (a
   * builtin, or the class of an object the peer has sent us) is checked with isinstance(other,
   * obj), and obj, one of our objects, is never a class, so Python raises TypeError; any other
   * pack answers False. A pack too short to index is Python's IndexError or TypeError.
   */
  private instanceCheck(pack: unknown): boolean {
    const indexable = Array.isArray(pack) || typeof pack === 'string' || pack instanceof Uint8Array;
    if (!indexable) throw typeError(`'${valueTypeName(pack)}' object is not subscriptable`);
    if (pack.length < 2) {
      const what = Array.isArray(pack) ? 'tuple ' : typeof pack === 'string' ? 'string ' : '';
      throw asPythonException(new InvalidArgumentError(`${what}index out of range`), 'IndexError');
    }
    if (!Array.isArray(pack)) return false; // a 1-character name and class id match nothing
    const [name, classId] = pack as unknown[];
    if (
      typeof name === 'string' &&
      (BUILTIN_CLASSES.has(name) || this.peerClasses.has(classKeyOf(name, classId)))
    )
      throw typeError('isinstance() arg 2 must be a type, a tuple of types, or a union');
    return false;
  }

  private servable(obj: unknown): Servable {
    if (!isServable(obj)) throw typeError('the target is not an object served by this peer');
    return obj;
  }

  private getattr(obj: Servable, name: string): unknown {
    // Python calls __format__ for f"{netref}" on netrefs whose class it knows (our methods and
    // functions): the empty spec formats as str(), as object.__format__ does.
    if (name === '__format__')
      return (spec: unknown) => {
        if (spec === '' || spec === undefined) return this.describe(obj);
        throw typeError(`unsupported format string passed to ${pythonTypeName(obj)}.__format__`);
      };
    if (obj instanceof ExposedObject) {
      if (name === '__doc__') return null;
      return obj.getattr(name);
    }
    if (name === '__doc__') return obj instanceof BoundMethod ? (obj.method.doc ?? null) : null;
    throw attributeError(`cannot access '${name}'`);
  }

  private call(target: unknown, rawArgs: unknown, rawKwargs: unknown): unknown {
    const args = rawArgs === undefined ? [] : rawArgs;
    if (!Array.isArray(args)) throw typeError('call arguments must be a tuple');
    const kwargs = asKwargs(rawKwargs);
    if (target instanceof BoundMethod) return target.method.fn(args, kwargs);
    if (typeof target === 'function') {
      if (kwargs.length > 0) throw noKeywords(target.name || 'function');
      return callUnvalidated(() => (target as (...a: unknown[]) => unknown)(...args));
    }
    if (target instanceof ExposedObject)
      throw typeError(`'${pythonTypeName(target)}' object is not callable`);
    throw typeError('object is not callable');
  }

  private describe(obj: Servable): string {
    if (obj instanceof BoundMethod) return `<bound method ${obj.owner.typeName}.${obj.name}>`;
    if (obj instanceof ExposedObject) return `<${pythonTypeName(obj)} object>`;
    return `<function ${obj.name || '<anonymous>'}>`;
  }

  // -------------------------------------------------------------------------------------------
  // boxing (Connection._box / _unbox)

  /** A value as it travels: by value when brine can dump it, else a tuple of boxes or a reference. */
  box(value: unknown, depth = 0): BrineValue {
    if (depth > 256) throw new ProtocolError('rpyc: value nested too deeply');
    if (value instanceof RemoteRef) {
      if (value.owner !== this) throw typeError('a netref can only be sent back on its own connection');
      if (value.state.released) throw typeError(`${value} was released`);
      return [Label.LOCAL_REF, value.idPack];
    }
    if (isServable(value)) return [Label.REMOTE_REF, this.local.add(value)];
    if (Array.isArray(value)) {
      const items: readonly unknown[] = value;
      if (isDumpable(items)) return [Label.VALUE, items];
      return [Label.TUPLE, value.map((item: unknown) => this.box(item, depth + 1))];
    }
    if (isDumpable(value)) return [Label.VALUE, value];
    const what = value === null ? 'null' : typeof value === 'object' ? value.constructor?.name : typeof value;
    throw typeError(`rpyc cannot send a ${what} (brine values, arrays, functions or exposed objects only)`);
  }

  unbox(boxed: BrineValue, depth = 0, borrowed?: Map<RemoteRef, number>): unknown {
    if (depth > 256) throw new ProtocolError('rpyc: value nested too deeply');
    if (!Array.isArray(boxed) || boxed.length !== 2) throw new ProtocolError('rpyc: malformed boxed value');
    const [label, value] = boxed as [BrineValue, BrineValue];
    switch (label) {
      case Label.VALUE:
        return value;
      case Label.TUPLE:
        if (!Array.isArray(value)) throw new ProtocolError('rpyc: boxed tuple is not a tuple');
        return (value as readonly BrineValue[]).map((item) => this.unbox(item, depth + 1, borrowed));
      case Label.LOCAL_REF:
        return this.local.get(value);
      case Label.REMOTE_REF:
        if (!isIdPack(value)) throw new ProtocolError('rpyc: malformed id pack');
        {
          const ref = this.netref(value);
          borrowed?.set(ref, (borrowed.get(ref) ?? 0) + 1);
          return ref;
        }
      default:
        throw new ProtocolError(`rpyc: invalid box label ${String(label)}`);
    }
  }

  private netref(idPack: IdPack): RemoteRef {
    const key = keyOf(idPack);
    const cached = this.proxies.get(key)?.deref();
    if (cached !== undefined && !cached.state.released) {
      // The peer counted one more reference; our eventual DEL must return it too.
      cached.state.count++;
      return cached;
    }
    const ref = new RemoteRef(this, [idPack[0], idPack[1], idPack[2]]);
    // Bounded: a peer inventing class ids must not grow it forever (only INSTANCECHECK reads it).
    if (this.peerClasses.size < MAX_PEER_CLASSES) this.peerClasses.add(classKeyOf(idPack[0], idPack[1]));
    const weak = new WeakRef(ref);
    this.proxies.set(key, weak);
    this.finalizer.register(ref, { key, weak, state: ref.state, idPack: ref.idPack }, ref);
    return ref;
  }
}

/** Reads a brine int starting at `at` (one-byte or INT_L1 forms): [value, next offset]. */
function peekInt(head: Buffer, at: number): [number | bigint, number] | undefined {
  const tag = head[at];
  if (tag === undefined) return undefined;
  if (tag >= 0x20 && tag <= 0xef) return [tag - 0x50, at + 1];
  if (tag !== 0x16) return undefined; // INT_L1: length, then decimal digits
  const n = head[at + 1];
  if (n === undefined || n > 20 || head.length < at + 2 + n) return undefined;
  const text = head.toString('latin1', at + 2, at + 2 + n);
  if (!/^-?\d+$/.test(text)) return undefined;
  const big = BigInt(text);
  return [Number.isSafeInteger(Number(big)) ? Number(big) : big, at + 2 + n];
}

/** The type and seq of a message from its first bytes, without decoding the rest. */
function messageIdOf(
  head: Buffer,
  envelope: Envelope,
): { msg: number; seq: number | bigint; envelope: 5 | 6 } | undefined {
  if (head[0] === LEGACY_ENVELOPE_TAG && envelope !== 6) {
    const msg = peekInt(head, 1);
    const seq = msg && peekInt(head, msg[1]);
    return msg && seq && typeof msg[0] === 'number' ? { msg: msg[0], seq: seq[0], envelope: 5 } : undefined;
  }
  const msg = head[0];
  if (envelope === 5 || msg === undefined || msg < Msg.REQUEST || msg > Msg.EXCEPTION || head[1] !== 0x11)
    return undefined;
  const seq = peekInt(head, 2);
  return seq ? { msg, seq: seq[0], envelope: 6 } : undefined;
}

/** DEL's arguments, boxed by hand: the netref is already marked released, which box() refuses. */
function delArgs(idPack: IdPack, count: number): BrineValue {
  return [
    Label.TUPLE,
    [
      [Label.LOCAL_REF, idPack],
      [Label.VALUE, count],
    ],
  ];
}

function classKeyOf(name: unknown, classId: unknown): string {
  return `${String(name)}\u0000${String(classId)}`;
}

/** The Python type of a value as brine loads it (for Python's own error messages). */
function valueTypeName(v: unknown): string {
  if (v === null || v === undefined) return 'NoneType';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'bigint' || (typeof v === 'number' && Number.isInteger(v))) return 'int';
  if (typeof v === 'number' || v instanceof PyFloat) return 'float';
  if (v instanceof PyFrozenSet) return 'frozenset';
  if (v instanceof PyComplex) return 'complex';
  if (v instanceof PySlice) return 'slice';
  if (v === Ellipsis) return 'ellipsis';
  if (v === NotImplemented) return 'NotImplementedType';
  if (isServable(v)) return pythonTypeName(v).replace(/^.*\./, '');
  if (v instanceof RemoteRef) return v.typeName.replace(/^.*\./, '');
  return 'object';
}

function keyOf(idPack: IdPack): string {
  return `${idPack[0]}\u0000${idPack[1]}\u0000${idPack[2]}`;
}
