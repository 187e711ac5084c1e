/**
 * The client, in two variants sharing one call engine:
 *
 * - "req": a REQ socket, the survey's lock-step pattern. One call on the wire at a time, the
 *   rest wait in a client-side queue; requests are exactly the survey's {"method", "params"}.
 * - "dealer": a DEALER socket with many calls in flight. Each request is sent as
 *   [empty delimiter, body] — the framing a REQ socket uses — so REP and ROUTER peers accept
 *   it, and carries an added "id" that our server echoes. A peer that ignores the id (the
 *   survey's REP server) still works: REP answers one request at a time, in arrival order,
 *   over one FIFO connection, so an id-less reply belongs to the oldest call in flight.
 *
 * Reliability, after the "lazy pirate" pattern of the ZeroMQ guide: every call has a
 * deadline (TIMEOUT). A REQ socket whose reply was lost is stuck (it refuses to send again),
 * so it is closed and reopened. An idempotent call (MethodSpec.idempotent) is resent up to
 * `retries` times within its deadline, each attempt getting a share of it; other calls fail
 * with TIMEOUT. A DEALER socket is never stuck and reconnects by itself; when the peer echoes
 * ids a late reply is matched (or dropped) by id, otherwise a lost reply would shift the
 * order, so the socket is reset as with REQ.
 */
import {
  MessageTooLargeError,
  ProtocolError,
  type RpcError,
  TimeoutError,
  TransportError,
} from '../../contract/errors.js';
import { type Contract, getMethod, type ValueType } from '../../contract/spec.js';
import { MAX_TIMER_MS } from '../../net/deadline.js';
import { DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_TIMEOUT_MS } from '../types.js';
import { encodeRequest, errorFromWire, NO_ID, parseReply, type ReplyOutcome } from './wire.js';
import { ZmtpClient } from './zmtp-client.js';

/** The first is the default (the survey's pattern). */
export const ZEROMQ_VARIANTS = ['req', 'dealer'] as const;

export type ZeromqVariant = (typeof ZEROMQ_VARIANTS)[number];

export const DEFAULT_RETRIES = 2;

export interface CallEngineOptions {
  readonly variant: ZeromqVariant;
  readonly endpoint: string;
  readonly contract: Contract;
  readonly timeoutMs?: number;
  readonly maxMessageBytes?: number;
  /** Resends of an idempotent call after a lost reply (default 2, so 3 attempts). */
  readonly retries?: number;
}

interface Call {
  readonly method: string;
  readonly params: readonly unknown[];
  readonly types: readonly ValueType[];
  readonly idempotent: boolean;
  readonly deadline: number;
  readonly resolve: (value: unknown) => void;
  readonly reject: (err: RpcError) => void;
  readonly deadlineTimer: NodeJS.Timeout;
  /** Ids of this call's attempts still awaiting a reply (any of them may answer). */
  readonly ids: number[];
  /** Cancels this call's sends still waiting in the send queue (dropped once it settles). */
  readonly unsent: (() => void)[];
  retryTimer: NodeJS.Timeout | undefined;
  attempts: number;
  settled: boolean;
}

const EMPTY = Buffer.alloc(0);

/**
 * "tcp://host:port" or "tcp://[v6]:port", checked as libzmq checks it when connecting: a
 * malformed endpoint is refused at once rather than retried for ever.
 */
export function parseTcpEndpoint(endpoint: string): { host: string; port: number } {
  const match = /^tcp:\/\/(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9_.-]+)):(\d{1,5})$/.exec(endpoint);
  const port = match === null ? Number.NaN : Number(match[3]);
  if (match === null || port < 1 || port > 65_535) {
    throw new Error('invalid endpoint (expected tcp://host:port with a port of 1 to 65535)');
  }
  return { host: match[1] ?? match[2]!, port };
}

/**
 * Our ids are uint32, but a peer may echo one in any integer form: encoders that write a
 * field's declared width (Go, Rust, C++ uint64/int64) send 0xcf/0xd3, which decode as bigint.
 */
function ourId(value: unknown): number | undefined {
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint' && value >= 0n && value <= 0xffff_ffffn) return Number(value);
  return undefined;
}

export class CallEngine {
  private readonly variant: ZeromqVariant;
  private readonly host: string;
  private readonly port: number;
  private readonly contract: Contract;
  private readonly timeoutMs: number;
  private readonly maxMessageBytes: number;
  private readonly retries: number;
  private readonly maxInFlight: number;

  private socket!: ZmtpClient;
  private generation = 0;
  /** Attempts on the wire, by id, in send order (Map keeps insertion order). */
  private readonly inFlight = new Map<number, Call>();
  private readonly queue: Call[] = [];
  private nextId = 1;
  /** Set once a reply carried our id back: late replies can then be told apart. */
  private peerEchoesIds = false;
  private closed = false;

  constructor(options: CallEngineOptions) {
    this.variant = options.variant;
    ({ host: this.host, port: this.port } = parseTcpEndpoint(options.endpoint));
    this.contract = options.contract;
    // Node runs a timer longer than 2**31 - 1 ms (Infinity, say: "no timeout") after 1 ms, so
    // every call timed out at once; ~24.8 days is as long as a timer can wait.
    this.timeoutMs = Math.min(options.timeoutMs ?? DEFAULT_TIMEOUT_MS, MAX_TIMER_MS);
    this.maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    this.retries = Math.max(0, Math.floor(options.retries ?? DEFAULT_RETRIES));
    this.maxInFlight = this.variant === 'req' ? 1 : Number.POSITIVE_INFINITY;
    this.openSocket();
  }

  call(method: string, params: readonly unknown[]): Promise<unknown> {
    if (this.closed) return Promise.reject(new TransportError('the client is closed'));
    const spec = getMethod(this.contract, method);
    return new Promise<unknown>((resolve, reject) => {
      const call: Call = {
        method,
        params,
        types: spec?.params.map((p) => p.type) ?? [],
        idempotent: spec?.idempotent === true,
        deadline: Date.now() + this.timeoutMs,
        resolve,
        reject,
        deadlineTimer: setTimeout(() => this.onDeadline(call), this.timeoutMs),
        ids: [],
        unsent: [],
        retryTimer: undefined,
        attempts: 0,
        settled: false,
      };
      this.queue.push(call);
      this.pump();
    });
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    const pending = [...new Set([...this.queue, ...this.inFlight.values()])];
    this.queue.length = 0;
    for (const call of pending) this.settle(call, { error: new TransportError('the client was closed') });
    this.generation++;
    this.socket.close(); // unsent messages are dropped, as with ZMQ_LINGER 0
    return Promise.resolve();
  }

  private openSocket(): void {
    const generation = ++this.generation;
    // Never fails, even on a refused port: the socket keeps reconnecting in the background,
    // as libzmq's does, and calls meanwhile end in TIMEOUT.
    this.socket = new ZmtpClient({
      host: this.host,
      port: this.port,
      socketType: this.variant === 'req' ? 'REQ' : 'DEALER',
      maxMessageBytes: this.maxMessageBytes,
      onMessage: (frames) => {
        if (generation === this.generation) this.onReply(frames);
      },
      // A dropped connection loses what the peer had not answered. Matched by id, the calls
      // simply wait (and are resent if idempotent); matched by order, a reply from the
      // restarted peer would be given to a call the old one lost (the dealer gave add(2, 5)'s
      // 7 to an earlier call), and a REQ socket would wait for a reply that cannot come.
      onDisconnect: () => {
        if (generation !== this.generation || this.closed || this.inFlight.size === 0 || !this.mustReset())
          return;
        this.resetSocket(true);
        this.pump();
      },
    });
  }

  /** Sends queued calls while the variant allows more on the wire. */
  private pump(): void {
    while (!this.closed && this.queue.length > 0 && this.inFlight.size < this.maxInFlight) {
      const call = this.queue.shift()!;
      if (!call.settled) this.send(call);
    }
  }

  private send(call: Call): void {
    call.attempts++;
    const id = this.nextId;
    this.nextId = (this.nextId % 0xffff_ffff) + 1;
    let body: Buffer;
    try {
      body = encodeRequest(
        call.method,
        call.params,
        call.types,
        this.variant === 'dealer' ? { present: true, value: id } : NO_ID,
      );
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      this.settle(call, { error: new ProtocolError(`cannot encode ${call.method} request: ${why}`) });
      return;
    }
    if (body.length > this.maxMessageBytes) {
      // The peer's ZMQ_MAXMSGSIZE would drop it and the call would only time out: fail now.
      this.settle(call, { error: new MessageTooLargeError(body.length, this.maxMessageBytes) });
      return;
    }
    call.ids.push(id);
    this.inFlight.set(id, call);
    // Both variants frame a request as a REQ socket does: an empty delimiter, then the body.
    // Whether it arrives is the call's timers' business (lost with a dropped connection).
    call.unsent.push(this.socket.send([EMPTY, body]));
    // The last attempt (or a non-idempotent call's only one) simply runs to the deadline.
    if (call.idempotent && call.attempts <= this.retries) {
      const share = Math.ceil(this.timeoutMs / (this.retries + 1));
      if (share < call.deadline - Date.now()) {
        call.retryTimer = setTimeout(() => this.onAttemptLost(call), share);
      }
    }
  }

  private onReply(frames: Buffer[]): void {
    // A REQ socket takes only replies behind the empty delimiter (libzmq's REQ drops others); a
    // DEALER sees [empty, body], or [body] from a peer without one.
    const delimited = frames.length > 1 && frames[0]!.length === 0;
    if (this.variant === 'req' && !delimited) return;
    const at = delimited ? 1 : 0;
    const body = frames[at];
    if (body === undefined) return;
    let parsed = parseReply(body);
    let call: Call | undefined;
    if (this.variant === 'req') {
      call = this.inFlight.values().next().value; // lock-step: the only call on the wire
    } else if (parsed.ok && parsed.id.present) {
      this.peerEchoesIds = true;
      const id = ourId(parsed.id.value);
      call = id === undefined ? undefined : this.inFlight.get(id);
      if (call === undefined) return; // a late reply to an attempt already settled or abandoned
    } else if (!this.peerEchoesIds) {
      call = this.inFlight.values().next().value; // the oldest: REP answers strictly in order
    }
    if (call === undefined) return;
    if (parsed.ok && frames.length - at !== 1) {
      // As the server does with requests: a reply is one frame. Frames after the first are
      // not part of it (taking the last one handed out another reply's result).
      const error = new ProtocolError(`reply has ${frames.length - at} body frames, expected one`);
      parsed = { ok: false, error };
    }
    if (!parsed.ok) this.settle(call, { error: parsed.error });
    else this.settle(call, { outcome: parsed.outcome });
    this.pump();
  }

  private onDeadline(call: Call): void {
    if (call.settled) return;
    const onWire = call.ids.length > 0;
    this.settle(call, { error: new TimeoutError(`${call.method} timed out after ${this.timeoutMs} ms`) });
    if (onWire) this.replyLost();
    else this.removeFromQueue(call);
    this.pump();
  }

  /** An idempotent call's attempt went unanswered for its share of the deadline: resend. */
  private onAttemptLost(call: Call): void {
    call.retryTimer = undefined;
    if (call.settled || this.closed) return;
    if (this.mustReset()) {
      this.resetSocket(); // requeues this call (idempotent) with the others
    } else {
      // Keep the old ids: whichever attempt answers first settles the call.
      this.queue.unshift(call);
    }
    this.pump();
  }

  /** A call gave up on its reply: a REQ socket is now stuck, and id-less order is lost. */
  private replyLost(): void {
    if (this.mustReset()) this.resetSocket();
  }

  private mustReset(): boolean {
    return this.variant === 'req' || !this.peerEchoesIds;
  }

  /** Lazy pirate: close the socket and open a fresh one; calls on the old one are resent or failed. */
  private resetSocket(disconnected = false): void {
    const why = disconnected ? 'the peer disconnected' : 'another call timed out';
    const stranded = [...new Set(this.inFlight.values())];
    this.inFlight.clear();
    this.socket.close();
    const resend: Call[] = [];
    for (const call of stranded) {
      call.ids.length = 0;
      call.unsent.length = 0; // the old socket's queue rejects them all
      clearTimeout(call.retryTimer);
      call.retryTimer = undefined;
      if (call.settled) continue;
      // After a disconnect, resent at most `retries` times in all: a peer that drops the
      // connection at every attempt (an oversized request, say) would otherwise see the call
      // resent in a loop. (Resets for timeouts are paced by the attempt timers.)
      if (call.idempotent && (!disconnected || call.attempts <= this.retries)) resend.push(call);
      else {
        const not = call.idempotent
          ? `resent ${call.attempts - 1} time(s) already`
          : 'not idempotent, not resent';
        this.settle(call, {
          error: new TransportError(`${call.method}: reply lost: ${why} (socket reset; ${not})`),
        });
      }
    }
    this.queue.unshift(...resend);
    this.openSocket();
  }

  private removeFromQueue(call: Call): void {
    const at = this.queue.indexOf(call);
    if (at >= 0) this.queue.splice(at, 1);
  }

  private settle(call: Call, how: { outcome: ReplyOutcome } | { error: RpcError }): void {
    if (call.settled) return;
    call.settled = true;
    clearTimeout(call.deadlineTimer);
    clearTimeout(call.retryTimer);
    for (const id of call.ids) this.inFlight.delete(id);
    call.ids.length = 0;
    for (const cancel of call.unsent) cancel();
    call.unsent.length = 0;
    if ('error' in how) call.reject(how.error);
    else if (how.outcome.ok) call.resolve(how.outcome.value);
    else call.reject(errorFromWire(how.outcome.error, call.method));
  }
}
