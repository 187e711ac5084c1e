/**
 * A two-party, level-1 Cap'n Proto RPC connection (rpc.capnp) over one socket: Bootstrap,
 * Call, Return, Finish, Resolve, Release, Disembargo, Abort and Unimplemented, with the four
 * tables (questions and exports we number; answers and imports the peer numbers), promise
 * pipelining, capabilities in both directions and embargoes. Both ends of a connection run
 * this same class: a "server" is a connection with a bootstrap capability.
 *
 * Why our own: capnp-es's Conn (0.0.16) sends a null bootstrap capability, drops Release,
 * Resolve and Disembargo and crashes on a throwing method (docs/protocols/capnp.md).
 *
 * Ordering: every message goes out in the order it is made, and calls reach a capability in
 * the order they were made, including across a promise that resolves to one of our own
 * objects (the embargo: calls made on the promise before it resolved went to the peer, which
 * reflects them back; new calls wait for a Disembargo to come back behind them).
 */
import type net from 'node:net';
import * as capnp from 'capnp-es';
import * as rpc from 'capnp-es/capnp/rpc';
import {
  InternalError,
  MessageTooLargeError,
  NoSuchMethodError,
  ProtocolError,
  type RpcError,
  TimeoutError,
  TransportError,
  toRpcError,
} from '../../contract/errors.js';
import {
  type Answer,
  BrokenHook,
  Hook,
  LocalAnswer,
  LocalHook,
  PromiseHook,
  pickCap,
  QueuedAnswer,
  rejectedAnswer,
} from './capability.js';
import {
  capsIn,
  initStructAtPointer,
  type MethodLayout,
  readContent,
  type SchemaRegistry,
  type StructLayout,
  type Values,
  writeStruct,
} from './codec.js';
import { BusyError, errorFromException, exceptionFromError } from './errors.js';
import {
  fitsFlat,
  isFlatLayout,
  readFast,
  writeFastCall,
  writeFastFinish,
  writeFastReturn,
} from './fastpath.js';
import { DEFAULT_NESTING_LIMIT, FrameReader, frameMessage, messageFromFrame, ownFrame } from './framing.js';
import { IdTable, PeerTable } from './tables.js';

/** Default of ConnectionOptions.maxOpenCalls, as msgpack-rpc's and ZeroMQ's per-peer caps. */
export const DEFAULT_MAX_OPEN_CALLS = 1_000;

export interface ConnectionOptions {
  /** The capability the peer gets when it sends Bootstrap (a server's root object). */
  readonly bootstrap?: Hook;
  /** The interfaces whose methods this side can receive calls for (to decode their params). */
  readonly schema: SchemaRegistry;
  readonly maxMessageBytes: number;
  readonly maxSegments?: number;
  readonly nestingLimit?: number;
  /** Timeout of every call this side makes (ms); Infinity for none. */
  readonly timeoutMs: number;
  /**
   * Calls of the peer open here at once: running, or answered and awaiting their Finish
   * (default 1,000). A Call beyond it is not run: it fails at once with an `overloaded`
   * exception, so one flooding peer cannot grow the answer table without bound.
   */
  readonly maxOpenCalls?: number;
  /**
   * Reading stops while more bytes than this wait to be written, and resumes when they are
   * (a server facing a peer that calls without reading its replies). Undefined: reading never
   * stops, as a client's must not: two ends that both stopped would wait on each other.
   */
  readonly writeHighWater?: number;
  readonly onClose?: (conn: RpcConnection, error: RpcError | undefined) => void;
}

type Target = { readonly kind: 'import'; readonly id: number } | PromisedTarget;
type PromisedTarget = {
  readonly kind: 'answer';
  readonly questionId: number;
  readonly path: readonly number[];
};

interface Question {
  readonly id: number;
  /** Results layout; undefined for Bootstrap (whose content is the capability itself). */
  readonly layout: StructLayout | undefined;
  readonly method: string;
  resolve(values: Values): void;
  reject(error: RpcError): void;
  /** Pipelined capabilities on this question, resolved when the Return comes. */
  readonly pipelines: RemotePromise[];
  returned: boolean;
  finishSent: boolean;
  timer: NodeJS.Timeout | undefined;
}

interface AnswerEntry {
  readonly id: number;
  /** Pipelined calls on the answer before (and after) it returns. */
  readonly answer: Answer;
  readonly layout: StructLayout | undefined;
  results: Values | undefined;
  returned: boolean;
  finished: boolean;
  releaseResultCaps: boolean;
  /** Exports made for the Return's cap table, released if Finish says releaseResultCaps. */
  resultExports: number[];
  /** sendResultsTo.yourself: the results wait here for a takeFromOtherQuestion. */
  readonly redirect: boolean;
}

interface ExportEntry {
  readonly hook: Hook;
  refs: number;
  resolveSent: boolean;
}

interface ImportEntry {
  /** The hook handed out for this import (one per import ID). */
  readonly hook: ImportHook | RemotePromise;
  /** How many times the peer has sent us this ID: what Release gives back. */
  remoteRefs: number;
}

const MAX_TIMER_MS = 2 ** 31 - 1;

/** A capability the peer hosts (an entry of our imports). */
export class ImportHook extends Hook {
  constructor(
    readonly conn: RpcConnection,
    readonly importId: number,
  ) {
    super();
  }

  call(method: MethodLayout, params: Values): Answer {
    return this.conn.sendCall({ kind: 'import', id: this.importId }, method, params);
  }

  protected override dispose(): void {
    this.conn.dropImport(this.importId, this);
  }
}

/**
 * A capability of the peer that is not settled yet: a pipelined result field of one of our
 * questions, or an import the peer sent as a promise. Calls go to the peer addressed by the
 * promise until it resolves; if it resolves to one of our own objects after calls went out,
 * new calls are held (embargoed) until a Disembargo has come back behind the earlier ones.
 */
export class RemotePromise extends Hook {
  private state: 'remote' | 'embargoed' | 'resolved' | 'broken' = 'remote';
  private callsSent = false;
  private target: Hook | undefined;
  private error: RpcError | undefined;
  private queue: {
    method: MethodLayout;
    params: Values;
    answer: QueuedAnswer;
    timer: NodeJS.Timeout | undefined;
  }[] = [];
  private waiters: (() => void)[] = [];

  constructor(
    readonly conn: RpcConnection,
    readonly address: Target,
  ) {
    super();
  }

  call(method: MethodLayout, params: Values): Answer {
    switch (this.state) {
      case 'remote':
        this.callsSent = true;
        return this.conn.sendCall(this.address, method, params);
      case 'embargoed': {
        const answer = new QueuedAnswer();
        const held = { method, params, answer, timer: undefined as NodeJS.Timeout | undefined };
        this.queue.push(held);
        // A held call has the connection's timeout too: a peer that never sends the
        // Disembargo back must not hold it for ever.
        const ms = this.conn.callTimeoutMs;
        if (Number.isFinite(ms) && ms > 0 && ms <= MAX_TIMER_MS) {
          held.timer = setTimeout(() => {
            const at = this.queue.indexOf(held);
            if (at < 0) return;
            this.queue.splice(at, 1);
            const name = `${method.interfaceName}.${method.name}`;
            answer.forward(rejectedAnswer(new TimeoutError(`${name}: held by an embargo for ${ms} ms`)));
          }, ms);
          held.timer.unref?.();
        }
        return answer;
      }
      case 'resolved':
        return this.target!.call(method, params);
      case 'broken':
        return rejectedAnswer(this.error!);
    }
  }

  /** Settles on `hook` (this takes over the reference). */
  resolveTo(hook: Hook): void {
    if (this.state !== 'remote' || this.refCount === 0) {
      hook.release();
      return;
    }
    this.target = hook;
    const settled = hook.resolved();
    if (
      this.callsSent &&
      settled instanceof RemotePromise &&
      settled.conn === this.conn &&
      settled.isRemote
    ) {
      // Another promise of the peer: calls sent to this one may come back through it, so if it
      // resolves to one of our objects it must embargo as well (the C++ implementation's rule).
      settled.callsSent = true;
    }
    // A promise resolved to an error holds nothing back: calls on it fail at once (the C++
    // implementation embargoes only a resolution to a local object).
    const local = !this.conn.hosts(settled) && !(settled instanceof BrokenHook);
    if (local && this.callsSent && !this.conn.isClosed) {
      this.state = 'embargoed';
      // Lost with the connection, the Disembargo never comes back: the held calls fail then.
      this.conn.sendDisembargo(this.address, (lost) =>
        lost === undefined ? this.lift() : this.breakWith(lost),
      );
      return;
    }
    this.state = 'resolved';
    this.settled();
  }

  private lift(): void {
    if (this.state !== 'embargoed') return;
    this.state = 'resolved';
    const queue = this.queue;
    this.queue = [];
    for (const q of queue) {
      clearTimeout(q.timer);
      q.answer.forward(this.target!.call(q.method, q.params));
    }
    this.settled();
  }

  breakWith(error: RpcError): void {
    if (this.state === 'broken') return;
    if (this.state === 'resolved') return;
    this.state = 'broken';
    this.error = error;
    const queue = this.queue;
    this.queue = [];
    for (const q of queue) {
      clearTimeout(q.timer);
      q.answer.forward(rejectedAnswer(error));
    }
    this.settled();
  }

  private settled(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  override resolved(): Hook {
    return this.state === 'resolved' ? this.target!.resolved() : this;
  }

  override isPending(): boolean {
    return this.state === 'remote' || this.state === 'embargoed';
  }

  override whenSettled(fn: () => void): void {
    if (this.isPending()) this.waiters.push(fn);
    else fn();
  }

  /** Still addressed at the peer (calls and descriptors go to `address`). */
  get isRemote(): boolean {
    return this.state === 'remote';
  }

  protected override dispose(): void {
    this.target?.release();
    this.target = undefined;
    if (this.address.kind === 'import') this.conn.dropImport(this.address.id, this);
  }
}

/** The Return of one of our questions, seen before it arrives. */
class RemoteAnswer implements Answer {
  constructor(
    readonly promise: Promise<Values>,
    private readonly question: Question,
    private readonly conn: RpcConnection,
  ) {
    promise.catch(() => {});
  }

  pipeline(path: readonly number[]): Hook {
    return this.conn.pipelineOn(this.question, path);
  }
}

export class RpcConnection {
  private readonly questions = new IdTable<Question>();
  private readonly answers = new PeerTable<AnswerEntry>();
  private readonly exports = new IdTable<ExportEntry>();
  private readonly exportIds = new Map<Hook, number>();
  private readonly imports = new PeerTable<ImportEntry>();
  /** Our open embargoes: each lifts on its Disembargo's loopback, or fails with the connection. */
  private readonly embargoes = new IdTable<(lost?: RpcError) => void>();
  private readonly reader: FrameReader;
  private closedWith: RpcError | undefined;
  private closed = false;
  private readonly nestingLimit: number;
  private readonly maxOpenCalls: number;
  private pausedForWrites = false;
  private bootstrapHook: Hook | undefined;

  constructor(
    readonly socket: net.Socket,
    private readonly options: ConnectionOptions,
  ) {
    this.bootstrapHook = options.bootstrap?.addRef();
    this.nestingLimit = options.nestingLimit ?? DEFAULT_NESTING_LIMIT;
    this.maxOpenCalls = Math.max(1, Math.floor(options.maxOpenCalls ?? DEFAULT_MAX_OPEN_CALLS));
    this.reader = new FrameReader({
      maxMessageBytes: options.maxMessageBytes,
      ...(options.maxSegments === undefined ? {} : { maxSegments: options.maxSegments }),
    });
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => {
      if (!this.pausedForWrites) return;
      this.pausedForWrites = false;
      if (!this.closed) socket.resume();
    });
    socket.on('error', (err) => this.shutdown(new TransportError(`connection failed: ${err.message}`)));
    socket.on('end', () => this.shutdown(new TransportError('the peer closed the connection')));
    socket.on('close', () => this.shutdown(new TransportError('connection closed')));
  }

  /** Calls of the peer's still running here (answers not yet returned): what a drain waits for. */
  get callsInProgress(): number {
    let n = 0;
    for (const a of this.answers.values()) if (!a.returned) n++;
    return n;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** The timeout of every call this side makes (ms). */
  get callTimeoutMs(): number {
    return this.options.timeoutMs;
  }

  /** Sizes of the four tables (for tests and diagnostics: they return to their start). */
  tableSizes(): { questions: number; answers: number; exports: number; imports: number; embargoes: number } {
    return {
      questions: this.questions.size,
      answers: this.answers.size,
      exports: this.exports.size,
      imports: this.imports.size,
      embargoes: this.embargoes.size,
    };
  }

  /** The peer's bootstrap capability (a promise: calls on it are pipelined on the Bootstrap). */
  bootstrap(): Hook {
    if (this.closed) return new BrokenHook(this.closedWith!);
    const { question } = this.ask('bootstrap', undefined, (id, m) => {
      m.initRoot(rpc.Message)._initBootstrap().questionId = id;
    });
    return this.pipelineOn(question, []);
  }

  /** True when `hook` is the peer's (an import of ours, or a promise addressed at the peer). */
  hosts(hook: Hook): boolean {
    if (hook instanceof ImportHook) return hook.conn === this;
    if (hook instanceof RemotePromise) return hook.conn === this && hook.isRemote;
    return false;
  }

  // ---- sending ----------------------------------------------------------------------------

  private send(build: (m: capnp.Message) => void): void {
    if (this.closed) return;
    const message = new capnp.Message();
    build(message);
    this.writeFrame(frameMessage(message));
  }

  private writeFrame(bytes: Uint8Array): void {
    // Every message made in one turn of the event loop (the Returns of a frame's Calls; a
    // Finish and the next Call, made in a promise reaction) leaves in one write: corked here,
    // uncorked once the turn's callbacks and microtasks are done. On loopback each write also
    // runs the receiver's TCP path, so writes, not bytes, are what a call costs.
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      setImmediate(this.uncork);
    }
    this.socket.write(bytes);
  }

  private corked = false;
  private readonly uncork = (): void => {
    this.corked = false;
    this.socket.uncork();
  };

  private ask(
    method: string,
    layout: StructLayout | undefined,
    build: ((id: number, m: capnp.Message) => void) | { readonly frame: (id: number) => Uint8Array },
  ): { question: Question; promise: Promise<Values> } {
    let resolve!: (v: Values) => void;
    let reject!: (e: RpcError) => void;
    const promise = new Promise<Values>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    promise.catch(() => {});
    const question: Question = {
      id: -1,
      layout,
      method,
      resolve,
      reject,
      pipelines: [],
      returned: false,
      finishSent: false,
      timer: undefined,
    };
    const id = this.questions.add(question);
    (question as { id: number }).id = id;
    const timeoutMs = this.options.timeoutMs;
    if (Number.isFinite(timeoutMs) && timeoutMs > 0 && timeoutMs <= MAX_TIMER_MS) {
      question.timer = setTimeout(
        () => this.cancel(question, new TimeoutError(`${method}: no reply within ${timeoutMs} ms`)),
        timeoutMs,
      );
      question.timer.unref?.();
    }
    try {
      if (typeof build === 'function') this.send((m) => build(id, m));
      else this.writeFrame(build.frame(id));
    } catch (err) {
      this.questions.delete(id);
      if (question.timer !== undefined) clearTimeout(question.timer);
      throw err;
    }
    return { question, promise };
  }

  /** A call to `target` (an import or a promised answer of ours). */
  sendCall(target: Target, method: MethodLayout, params: Values): Answer {
    if (this.closed) return rejectedAnswer(this.closedWith!);
    let asked: { question: Question; promise: Promise<Values> };
    const name = `${method.interfaceName}.${method.name}`;
    try {
      if (target.kind === 'import' && isFlatLayout(method.params) && fitsFlat(method.params, params)) {
        // Scalars to an imported capability: the Call is a patched template (fastpath.ts).
        const importId = target.id;
        asked = this.ask(name, method.results, {
          frame: (id) => writeFastCall(id, importId, method, params),
        });
        return new RemoteAnswer(asked.promise, asked.question, this);
      }
      asked = this.ask(name, method.results, (id, m) => {
        const call = m.initRoot(rpc.Message)._initCall();
        call.questionId = id;
        call.interfaceId = method.interfaceId;
        call.methodId = method.methodId;
        this.writeTarget(call._initTarget(), target);
        const payload = call._initParams();
        this.writePayload(payload, method.params, params);
      });
    } catch (err) {
      return rejectedAnswer(toRpcError(err));
    }
    return new RemoteAnswer(asked.promise, asked.question, this);
  }

  pipelineOn(question: Question, path: readonly number[]): Hook {
    const hook = new RemotePromise(this, { kind: 'answer', questionId: question.id, path: [...path] });
    if (question.returned) {
      // Only reachable for a question already answered but kept (not the case today): be safe.
      hook.breakWith(new InternalError('pipelining on an answered question'));
    } else question.pipelines.push(hook);
    return hook;
  }

  private writeTarget(t: rpc.MessageTarget, target: Target): void {
    if (target.kind === 'import') t.importedCap = target.id;
    else this.writePromisedAnswer(t._initPromisedAnswer(), target);
  }

  private writePromisedAnswer(pa: rpc.PromisedAnswer, target: PromisedTarget): void {
    pa.questionId = target.questionId;
    const ops = pa._initTransform(target.path.length);
    target.path.forEach((index, i) => {
      ops.get(i).getPointerField = index;
    });
  }

  /** Writes values as a payload; each capability becomes a cap-table descriptor. */
  private writePayload(payload: rpc.Payload, layout: StructLayout | undefined, values: Values): number[] {
    const caps: Hook[] = [];
    const addCap = (cap: unknown): number => {
      if (!(cap instanceof Hook)) throw new ProtocolError('a capability field holds something else');
      caps.push(cap);
      return caps.length - 1;
    };
    const content = payload.content;
    if (layout === undefined) {
      const cap = values.cap;
      if (cap instanceof Hook) capnp.utils.setInterfacePointer(addCap(cap), content);
    } else {
      writeStruct(initStructAtPointer(content, layout), layout, values, addCap);
    }
    const table = payload._initCapTable(caps.length);
    const exported: number[] = [];
    caps.forEach((cap, i) => {
      const id = this.writeDescriptor(table.get(i), cap);
      if (id !== undefined) exported.push(id);
    });
    return exported;
  }

  /** Describes `cap` to the peer; returns the export ID when one was taken. */
  private writeDescriptor(d: rpc.CapDescriptor, cap: Hook): number | undefined {
    const hook = cap.resolved();
    if (hook instanceof ImportHook && hook.conn === this) {
      d.receiverHosted = hook.importId;
      return undefined;
    }
    if (hook instanceof RemotePromise && hook.conn === this && hook.isRemote) {
      if (hook.address.kind === 'import') d.receiverHosted = hook.address.id;
      else this.writePromisedAnswer(d._initReceiverAnswer(), hook.address);
      return undefined;
    }
    if (hook instanceof BrokenHook || (hook instanceof PromiseHook && hook.brokenWith !== undefined)) {
      // A broken capability: export a promise and break it at once (Resolve with the exception).
    }
    let id = this.exportIds.get(hook);
    let entry: ExportEntry;
    if (id === undefined) {
      entry = { hook: hook.addRef(), refs: 0, resolveSent: false };
      id = this.exports.add(entry);
      this.exportIds.set(hook, id);
    } else entry = this.exports.get(id)!;
    entry.refs++;
    if (hook.isPending() || hook instanceof BrokenHook) {
      d.senderPromise = id;
      const exportId = id;
      if (!entry.resolveSent) {
        entry.resolveSent = true;
        hook.whenSettled(() => this.sendResolve(exportId, hook));
      }
    } else d.senderHosted = id;
    return id;
  }

  private sendResolve(exportId: number, promise: Hook): void {
    if (this.closed || this.exports.get(exportId)?.hook !== promise) return;
    const settled = promise.resolved();
    let error: RpcError | undefined;
    if (settled instanceof BrokenHook) error = settled.error;
    else if (settled instanceof PromiseHook && settled.brokenWith !== undefined) error = settled.brokenWith;
    this.send((m) => {
      const r = m.initRoot(rpc.Message)._initResolve();
      r.promiseId = exportId;
      if (error !== undefined) this.writeException(r._initException(), error);
      else this.writeDescriptor(r._initCap(), settled);
    });
  }

  private writeException(e: rpc.Exception, error: RpcError): void {
    const info = exceptionFromError(error);
    e.reason = info.reason;
    e.type = info.type as rpc.Exception_Type;
  }

  sendDisembargo(target: Target, onLoopback: (lost?: RpcError) => void): void {
    const embargoId = this.embargoes.add(onLoopback);
    this.send((m) => {
      const d = m.initRoot(rpc.Message)._initDisembargo();
      this.writeTarget(d._initTarget(), target);
      d._initContext().senderLoopback = embargoId;
    });
  }

  private sendFinish(question: Question, releaseResultCaps: boolean): void {
    if (question.finishSent) return;
    question.finishSent = true;
    // We never rely on the callee cancelling early, so the workaround flag is false.
    if (!this.closed) this.writeFrame(writeFastFinish(question.id, releaseResultCaps));
    if (question.returned) this.questions.delete(question.id);
  }

  /** Gives up on a question (timeout): its callers fail now, the peer is told with Finish. */
  private cancel(question: Question, error: RpcError): void {
    if (question.returned || question.finishSent) return;
    question.reject(error);
    for (const p of question.pipelines) p.breakWith(error);
    question.pipelines.length = 0;
    this.sendFinish(question, true);
  }

  /** The last local reference to an import is gone: give the peer its references back. */
  dropImport(importId: number, hook: Hook): void {
    const entry = this.imports.get(importId);
    if (entry === undefined || entry.hook !== hook) return;
    this.imports.delete(importId);
    const count = entry.remoteRefs;
    this.send((m) => {
      const r = m.initRoot(rpc.Message)._initRelease();
      r.id = importId;
      r.referenceCount = count;
    });
  }

  // ---- receiving --------------------------------------------------------------------------

  private onData(chunk: Buffer): void {
    if (this.closed) return;
    let frames: Uint8Array[];
    try {
      frames = this.reader.pushViews(chunk);
    } catch (err) {
      this.abort(toRpcError(err));
      return;
    }
    for (const frame of frames) {
      if (this.closed) return;
      try {
        if (this.handleFast(frame)) continue;
        this.handle(messageFromFrame(ownFrame(frame), this.options.maxMessageBytes));
      } catch (err) {
        const e = toRpcError(err);
        this.abort(
          e instanceof MessageTooLargeError ? e : new ProtocolError(`malformed RPC message: ${e.message}`),
        );
        return;
      }
    }
    const highWater = this.options.writeHighWater;
    if (highWater !== undefined && !this.pausedForWrites && this.socket.writableLength > highWater) {
      // The peer is not reading what we answer: stop reading what it asks until it does.
      this.pausedForWrites = true;
      this.socket.pause();
    }
  }

  private handle(message: capnp.Message): void {
    const root = message.getRoot(rpc.Message);
    (root._capnp as { depthLimit: number }).depthLimit = this.nestingLimit;
    switch (root.which()) {
      case rpc.Message.BOOTSTRAP:
        this.onBootstrap(root.bootstrap);
        return;
      case rpc.Message.CALL:
        this.onCall(root.call);
        return;
      case rpc.Message.RETURN:
        this.onReturn(root.return);
        return;
      case rpc.Message.FINISH:
        this.onFinish(root.finish);
        return;
      case rpc.Message.RESOLVE:
        this.onResolve(root.resolve);
        return;
      case rpc.Message.RELEASE:
        this.onRelease(root.release);
        return;
      case rpc.Message.DISEMBARGO:
        this.onDisembargo(root.disembargo);
        return;
      case rpc.Message.ABORT: {
        const e = root.abort;
        this.shutdown(new TransportError(`the peer aborted the connection: ${e.reason}`));
        this.socket.destroy();
        return;
      }
      case rpc.Message.UNIMPLEMENTED:
        this.onUnimplemented(root.unimplemented);
        return;
      default:
        // Level 2+ messages (Provide, Accept, Join, obsolete Save/Delete): echo them back, as
        // the spec says a level-1 implementation does.
        this.send((m) => {
          m.initRoot(rpc.Message).unimplemented = root;
        });
    }
  }

  private onBootstrap(b: rpc.Bootstrap): void {
    const id = b.questionId;
    const hook = this.bootstrapHook;
    const answer: Answer =
      hook === undefined
        ? rejectedAnswer(new NoSuchMethodError('bootstrap (this side serves no bootstrap capability)'))
        : new LocalAnswer(Promise.resolve({ cap: hook.addRef() }), undefined);
    this.answers.add(id, this.newAnswer(id, answer, undefined, false), 'question');
    this.returnWhenDone(id);
  }

  private newAnswer(
    id: number,
    answer: Answer,
    layout: StructLayout | undefined,
    redirect: boolean,
  ): AnswerEntry {
    return {
      id,
      answer,
      layout,
      results: undefined,
      returned: false,
      finished: false,
      releaseResultCaps: false,
      resultExports: [],
      redirect,
    };
  }

  private onCall(call: rpc.Call): void {
    const id = call.questionId;
    if (this.answers.has(id)) throw new ProtocolError(`question ${id} is already in use`);
    if (this.answers.size >= this.maxOpenCalls) {
      // Not run, so the caller may retry. Its params' capabilities are released at once.
      for (const cap of this.readCapTable(call.params)) cap.release();
      const busy = new BusyError(
        `busy: this connection already has ${this.maxOpenCalls} calls open; method @${call.methodId} was not run`,
      );
      this.answers.add(id, this.newAnswer(id, rejectedAnswer(busy), undefined, false), 'question');
      this.returnWhenDone(id);
      return;
    }
    const which = call.sendResultsTo.which();
    if (which === rpc.Call_SendResultsTo.THIRD_PARTY) {
      const answer = rejectedAnswer(new NoSuchMethodError('sendResultsTo.thirdParty (level 3)'));
      this.answers.add(id, this.newAnswer(id, answer, undefined, false), 'question');
      this.returnWhenDone(id);
      return;
    }
    const redirect = which === rpc.Call_SendResultsTo.YOURSELF;
    const method = this.options.schema.method(call.interfaceId, call.methodId);
    const target = this.readTarget(call.target);
    let answer: Answer;
    if (method === undefined) {
      // The params cannot be read without the method's schema: release what they carry.
      for (const cap of this.readCapTable(call.params)) cap.release();
      target.release();
      answer = rejectedAnswer(
        new NoSuchMethodError(`method @${call.methodId} of interface 0x${call.interfaceId.toString(16)}`),
      );
    } else {
      const caps = this.readCapTable(call.params);
      let params: Values;
      try {
        params = readContent(call.params.content, method.params, (i) => caps[i]?.addRef() ?? null);
      } finally {
        for (const cap of caps) cap.release();
      }
      answer = target.call(method, params);
      // The params' caps were lent for the call.
      answer.promise.then(
        () => releaseAll(params, method.params),
        () => releaseAll(params, method.params),
      );
      target.release();
    }
    this.answers.add(id, this.newAnswer(id, answer, method?.results, redirect), 'question');
    this.returnWhenDone(id);
  }

  private returnWhenDone(id: number): void {
    const entry = this.answers.get(id)!;
    entry.answer.promise.then(
      (values) => this.sendReturn(entry, values, undefined),
      (err: unknown) => this.sendReturn(entry, undefined, toRpcError(err)),
    );
  }

  private sendReturn(entry: AnswerEntry, values: Values | undefined, error: RpcError | undefined): void {
    if (this.closed || this.answers.get(entry.id) !== entry) {
      if (values !== undefined) releaseAll(values, entry.layout);
      return;
    }
    entry.returned = true;
    if (entry.finished && entry.releaseResultCaps && values !== undefined) {
      // Finished before we answered: the caller wants nothing back.
      releaseAll(values, entry.layout);
      values = undefined;
      error = undefined;
    }
    entry.results = values;
    const layout = entry.layout;
    if (
      values !== undefined &&
      error === undefined &&
      !entry.redirect &&
      layout !== undefined &&
      isFlatLayout(layout) &&
      fitsFlat(layout, values)
    ) {
      // Scalars, Text and Data only: a patched template (fastpath.ts), no capabilities to export.
      entry.resultExports = [];
      this.writeFrame(writeFastReturn(entry.id, layout, values));
      if (entry.finished) this.retireAnswer(entry);
      return;
    }
    try {
      this.send((m) => {
        const ret = m.initRoot(rpc.Message)._initReturn();
        ret.answerId = entry.id;
        ret.releaseParamCaps = false;
        if (entry.finished && values === undefined && error === undefined) ret.canceled = true;
        else if (error !== undefined) this.writeException(ret._initException(), error);
        else if (entry.redirect) ret.resultsSentElsewhere = true;
        else entry.resultExports = this.writePayload(ret._initResults(), entry.layout, values!);
      });
    } catch (err) {
      // The results could not be written (e.g. a field out of range): the call fails instead.
      entry.resultExports = [];
      this.send((m) => {
        const ret = m.initRoot(rpc.Message)._initReturn();
        ret.answerId = entry.id;
        ret.releaseParamCaps = false;
        this.writeException(ret._initException(), toRpcError(err));
      });
    }
    if (entry.finished) this.retireAnswer(entry);
  }

  private retireAnswer(entry: AnswerEntry): void {
    this.answers.delete(entry.id);
    if (entry.releaseResultCaps) for (const id of entry.resultExports) this.releaseExport(id, 1);
    entry.resultExports = [];
    if (entry.results !== undefined && !entry.redirect) releaseAll(entry.results, entry.layout);
    entry.results = undefined;
  }

  private onFinish(f: rpc.Finish): void {
    this.finishAnswer(f.questionId, f.releaseResultCaps);
  }

  private finishAnswer(questionId: number, releaseResultCaps: boolean): void {
    const entry = this.answers.get(questionId);
    if (entry === undefined) return; // a Finish for an answer already gone: nothing to do
    entry.finished = true;
    entry.releaseResultCaps = releaseResultCaps;
    if (entry.returned) this.retireAnswer(entry);
  }

  /**
   * A Finish, a Return of flat results to a live question, or a Call of flat params to one of
   * our local objects, handled without capnp-es (fastpath.ts); false: the general path's.
   */
  private handleFast(frame: Uint8Array): boolean {
    const m = readFast(frame);
    if (m === undefined) return false;
    if (m.kind === 'finish') {
      this.finishAnswer(m.questionId, m.releaseResultCaps);
      return true;
    }
    if (m.kind === 'return') {
      const question = this.questions.get(m.answerId);
      // Anything but a plain answer to a live question of scalar results: the general path.
      if (question === undefined || question.returned || question.finishSent) return false;
      if (question.layout === undefined || !isFlatLayout(question.layout)) return false;
      const values = m.results(question.layout);
      if (values === undefined) return false;
      question.returned = true;
      if (question.timer !== undefined) clearTimeout(question.timer);
      this.deliver(question, values, undefined);
      this.sendFinish(question, false);
      return true;
    }
    const id = m.questionId;
    // A reused id or a full answer table: the general path reports or refuses it.
    if (this.answers.has(id) || this.answers.size >= this.maxOpenCalls) return false;
    const hook = this.exports.get(m.importedCap)?.hook;
    if (!(hook instanceof LocalHook)) return false;
    const method = this.options.schema.method(m.interfaceId, m.methodId);
    if (method === undefined || !hook.serves(method.interfaceId)) return false;
    if (!isFlatLayout(method.params) || !isFlatLayout(method.results)) return false;
    const params = m.params(method.params);
    if (params === undefined) return false;
    let result: Values | Promise<Values>;
    try {
      result = hook.invoke(method, params);
    } catch (err) {
      this.answers.add(
        id,
        this.newAnswer(id, rejectedAnswer(toRpcError(err)), method.results, false),
        'question',
      );
      this.returnWhenDone(id);
      return true;
    }
    if (result instanceof Promise) {
      const answer = new LocalAnswer(
        result.catch((err: unknown) => Promise.reject(toRpcError(err))),
        method.results,
      );
      this.answers.add(id, this.newAnswer(id, answer, method.results, false), 'question');
      this.returnWhenDone(id);
      return true;
    }
    const entry = this.newAnswer(id, new SettledAnswer(result, method.results), method.results, false);
    this.answers.add(id, entry, 'question');
    this.sendReturn(entry, result, undefined);
    return true;
  }

  private onReturn(r: rpc.Return): void {
    const question = this.questions.get(r.answerId);
    if (question === undefined || question.returned) {
      throw new ProtocolError(`Return for unknown question ${r.answerId}`);
    }
    question.returned = true;
    if (question.timer !== undefined) clearTimeout(question.timer);
    if (question.finishSent) {
      // We gave up on it (timeout) and said releaseResultCaps: the peer releases the caps.
      this.questions.delete(question.id);
      return;
    }
    let values: Values | undefined;
    let error: RpcError | undefined;
    switch (r.which()) {
      case rpc.Return.RESULTS: {
        const caps = this.readCapTable(r.results);
        try {
          values =
            question.layout === undefined
              ? { cap: this.readBootstrapCap(r.results, caps) }
              : readContent(r.results.content, question.layout, (i) => caps[i]?.addRef() ?? null);
        } finally {
          for (const cap of caps) cap.release();
        }
        break;
      }
      case rpc.Return.EXCEPTION:
        error = errorFromException(r.exception.reason, r.exception.type, question.method);
        break;
      case rpc.Return.CANCELED:
        error = new InternalError(`${question.method}: the call was canceled`);
        break;
      case rpc.Return.TAKE_FROM_OTHER_QUESTION: {
        // The peer forwarded our call back to us with sendResultsTo.yourself: the results are
        // our own answer's.
        const other = this.answers.get(r.takeFromOtherQuestion);
        if (other === undefined || !other.redirect) {
          throw new ProtocolError(
            `takeFromOtherQuestion names ${r.takeFromOtherQuestion}, not a redirected answer`,
          );
        }
        this.sendFinish(question, false);
        other.answer.promise.then(
          (v) => this.deliver(question, copyValues(v, question.layout), undefined),
          (e: unknown) => this.deliver(question, undefined, toRpcError(e)),
        );
        return;
      }
      case rpc.Return.RESULTS_SENT_ELSEWHERE:
        // We never ask for sendResultsTo.yourself, so this is the peer's mistake.
        throw new ProtocolError('resultsSentElsewhere for a call that asked for its results');
      default:
        error = new NoSuchMethodError('acceptFromThirdParty (level 3)');
    }
    this.deliver(question, values, error);
    this.sendFinish(question, false);
  }

  /** Settles a question: its pipelined capabilities first (embargoes go out before Finish). */
  private deliver(question: Question, values: Values | undefined, error: RpcError | undefined): void {
    for (const p of question.pipelines) {
      if (values === undefined) p.breakWith(error!);
      else p.resolveTo(pickCap(values, question.layout, (p.address as PromisedTarget).path));
    }
    question.pipelines.length = 0;
    if (values !== undefined) question.resolve(values);
    else question.reject(error!);
  }

  private readBootstrapCap(payload: rpc.Payload, caps: Hook[]): Hook | null {
    const p = payload.content;
    if (capnp.utils.isNull(p)) return null;
    const index = capnp.utils.getInterfacePointer(p);
    return caps[index]?.addRef() ?? null;
  }

  /** The payload's capabilities, one new reference each (the caller releases them). */
  private readCapTable(payload: rpc.Payload): Hook[] {
    const table = payload.capTable;
    const out: Hook[] = [];
    for (let i = 0; i < table.length; i++) out.push(this.readDescriptor(table.get(i)));
    return out;
  }

  private readDescriptor(d: rpc.CapDescriptor): Hook {
    switch (d.which()) {
      case rpc.CapDescriptor.NONE:
        return new BrokenHook(new InternalError('null capability'));
      case rpc.CapDescriptor.SENDER_HOSTED:
        return this.importCap(d.senderHosted, false);
      case rpc.CapDescriptor.SENDER_PROMISE:
        return this.importCap(d.senderPromise, true);
      case rpc.CapDescriptor.RECEIVER_HOSTED: {
        const entry = this.exports.get(d.receiverHosted);
        if (entry === undefined)
          throw new ProtocolError(`receiverHosted names unknown export ${d.receiverHosted}`);
        return entry.hook.addRef();
      }
      case rpc.CapDescriptor.RECEIVER_ANSWER:
        return this.answerCap(d.receiverAnswer);
      default: {
        // thirdPartyHosted: a level-3 peer; its vineId is a plain import we can still call.
        return this.importCap(d.thirdPartyHosted.vineId, false);
      }
    }
  }

  private importCap(id: number, promise: boolean): Hook {
    const entry = this.imports.get(id);
    if (entry !== undefined) {
      entry.remoteRefs++;
      return entry.hook.addRef();
    }
    const hook = promise ? new RemotePromise(this, { kind: 'import', id }) : new ImportHook(this, id);
    this.imports.set(id, { hook, remoteRefs: 1 });
    return hook;
  }

  /** The capability a PromisedAnswer of the peer's names in one of our answers. */
  private answerCap(pa: rpc.PromisedAnswer): Hook {
    const entry = this.answers.get(pa.questionId);
    if (entry === undefined)
      throw new ProtocolError(`promisedAnswer names unknown question ${pa.questionId}`);
    const path: number[] = [];
    const ops = pa.transform;
    for (let i = 0; i < ops.length; i++) {
      const op = ops.get(i);
      if (op.which() === rpc.PromisedAnswer_Op.GET_POINTER_FIELD) path.push(op.getPointerField);
    }
    if (entry.returned) {
      if (entry.results === undefined) return new BrokenHook(new InternalError('the answer failed'));
      return pickCap(entry.results, entry.layout, path);
    }
    return entry.answer.pipeline(path);
  }

  private readTarget(t: rpc.MessageTarget): Hook {
    if (t.which() === rpc.MessageTarget.IMPORTED_CAP) {
      const entry = this.exports.get(t.importedCap);
      if (entry === undefined) return new BrokenHook(new ProtocolError(`no export ${t.importedCap}`));
      return entry.hook.addRef();
    }
    return this.answerCap(t.promisedAnswer);
  }

  private onRelease(r: rpc.Release): void {
    this.releaseExport(r.id, r.referenceCount);
  }

  private releaseExport(id: number, count: number): void {
    const entry = this.exports.get(id);
    if (entry === undefined) return;
    entry.refs -= count;
    if (entry.refs > 0) return;
    this.exports.delete(id);
    this.exportIds.delete(entry.hook);
    entry.hook.release();
  }

  private onResolve(r: rpc.Resolve): void {
    const entry = this.imports.get(r.promiseId);
    let hook: Hook | undefined;
    let error: RpcError | undefined;
    if (r.which() === rpc.Resolve.CAP) hook = this.readDescriptor(r.cap);
    else error = errorFromException(r.exception.reason, r.exception.type, 'promise');
    if (entry === undefined || !(entry.hook instanceof RemotePromise)) {
      // We already released the promise (or it was never one): drop what it resolved to.
      hook?.release();
      return;
    }
    if (hook !== undefined) entry.hook.resolveTo(hook);
    else entry.hook.breakWith(error!);
  }

  private onDisembargo(d: rpc.Disembargo): void {
    const context = d.context;
    switch (context.which()) {
      case rpc.Disembargo_Context.SENDER_LOOPBACK: {
        const target = this.readTarget(d.target);
        try {
          const resolved = target.resolved();
          // The target must be a promise that resolved to a capability the sender hosts.
          let address: Target | undefined;
          if (resolved instanceof ImportHook && resolved.conn === this) {
            address = { kind: 'import', id: resolved.importId };
          } else if (resolved instanceof RemotePromise && resolved.conn === this && resolved.isRemote) {
            address = resolved.address;
          }
          if (address === undefined)
            throw new ProtocolError('Disembargo target does not point back at the sender');
          const embargoId = context.senderLoopback;
          const back = address;
          this.send((m) => {
            const out = m.initRoot(rpc.Message)._initDisembargo();
            this.writeTarget(out._initTarget(), back);
            out._initContext().receiverLoopback = embargoId;
          });
        } finally {
          target.release();
        }
        return;
      }
      case rpc.Disembargo_Context.RECEIVER_LOOPBACK: {
        const id = context.receiverLoopback;
        const lift = this.embargoes.get(id);
        if (lift === undefined) throw new ProtocolError(`Disembargo for unknown embargo ${id}`);
        this.embargoes.delete(id);
        lift();
        return;
      }
      default:
        this.send((m) => {
          const out = m.initRoot(rpc.Message);
          out._initUnimplemented()._initDisembargo();
          void d;
        });
    }
  }

  private onUnimplemented(m: rpc.Message): void {
    // The peer did not understand something we sent.
    switch (m.which()) {
      case rpc.Message.BOOTSTRAP:
      case rpc.Message.CALL: {
        const id = m.which() === rpc.Message.CALL ? m.call.questionId : m.bootstrap.questionId;
        const question = this.questions.get(id);
        if (question === undefined) return;
        question.returned = true;
        question.finishSent = true;
        this.questions.delete(id);
        if (question.timer !== undefined) clearTimeout(question.timer);
        this.deliver(
          question,
          undefined,
          new NoSuchMethodError(`${question.method} (the peer does not implement it)`),
        );
        return;
      }
      case rpc.Message.RESOLVE: {
        // A level-0 peer: the capability we resolved the promise to is not held by it.
        const r = m.resolve;
        if (r.which() === rpc.Resolve.CAP) {
          const d = r.cap;
          if (d.which() === rpc.CapDescriptor.SENDER_HOSTED) this.releaseExport(d.senderHosted, 1);
          if (d.which() === rpc.CapDescriptor.SENDER_PROMISE) this.releaseExport(d.senderPromise, 1);
        }
        return;
      }
      default:
        return;
    }
  }

  // ---- closing ----------------------------------------------------------------------------

  /** Sends Abort (the spec's answer to a malformed message) and closes the connection. */
  abort(error: RpcError): void {
    if (this.closed) return;
    try {
      this.send((m) => this.writeException(m.initRoot(rpc.Message)._initAbort(), error));
    } catch {
      // nothing more to say
    }
    this.socket.end();
    // Leave the peer a moment to read the Abort, then reset.
    setTimeout(() => this.socket.destroy(), 200).unref();
    this.shutdown(
      error instanceof TransportError
        ? error
        : new TransportError(`connection aborted: ${error.message}`, { cause: error }),
    );
  }

  /** Closes the connection: every outstanding call fails with TRANSPORT. */
  close(): void {
    if (!this.closed) {
      this.shutdown(new TransportError('connection closed'));
      this.socket.end();
      setTimeout(() => this.socket.destroy(), 1000).unref();
    }
  }

  private shutdown(error: RpcError): void {
    if (this.closed) return;
    this.closed = true;
    this.closedWith = error;
    for (const q of this.questions.values()) {
      if (q.timer !== undefined) clearTimeout(q.timer);
      // A question still here was never delivered, even one marked returned (its Return
      // failed to decode: that is why the connection is closing).
      q.reject(error);
      for (const p of q.pipelines) p.breakWith(error);
    }
    this.questions.clear();
    for (const entry of this.imports.values()) {
      if (entry.hook instanceof RemotePromise) entry.hook.breakWith(error);
    }
    this.imports.clear();
    for (const entry of this.answers.values()) {
      if (entry.results !== undefined && !entry.redirect) releaseAll(entry.results, entry.layout);
    }
    this.answers.clear();
    for (const entry of this.exports.values()) entry.hook.release();
    this.exports.clear();
    this.exportIds.clear();
    const embargoed = [...this.embargoes.values()];
    this.embargoes.clear();
    for (const fail of embargoed) fail(error);
    this.bootstrapHook?.release();
    this.bootstrapHook = undefined;
    this.options.onClose?.(this, error);
  }

  get closeError(): RpcError | undefined {
    return this.closedWith;
  }
}

/** Releases every capability of `values` (read as `layout`; undefined: the bootstrap form). */
export function releaseAll(values: Values, layout: StructLayout | undefined): void {
  const caps = layout === undefined ? [values.cap] : capsIn(values, layout);
  for (const cap of caps) if (cap instanceof Hook) cap.release();
}

/** Values whose capabilities are new references (the originals stay with their owner). */
function copyValues(values: Values, layout: StructLayout | undefined): Values {
  const copy: Values = { ...values };
  if (layout === undefined) {
    if (copy.cap instanceof Hook) copy.cap = copy.cap.addRef();
    return copy;
  }
  for (const f of layout.fields)
    if (f.kind === 'cap' && copy[f.name] instanceof Hook) copy[f.name] = (copy[f.name] as Hook).addRef();
  return copy;
}

/** The answer of a call answered at once (fast path): its promise is made only if asked for. */
class SettledAnswer implements Answer {
  private made: Promise<Values> | undefined;

  constructor(
    private readonly values: Values,
    private readonly layout: StructLayout,
  ) {}

  get promise(): Promise<Values> {
    this.made ??= Promise.resolve(this.values);
    return this.made;
  }

  pipeline(path: readonly number[]): Hook {
    return pickCap(this.values, this.layout, path);
  }
}
