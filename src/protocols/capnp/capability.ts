/**
 * Capabilities as the RPC layer sees them: a Hook receives calls and is reference counted
 * (like the C++ implementation's ClientHook), whether it is a local object, an object of the
 * peer (connection.ts), or a promise of one.
 *
 * Ownership, which keeps the connection's tables bounded:
 * - a Hook starts with one reference; addRef() takes another, release() drops one, and the
 *   last release disposes it (an import then sends Release to the peer);
 * - caps in a call's params are lent to the callee for the call: it addRef()s what it keeps;
 * - caps in results, and the Hook pipeline() returns, belong to whoever receives them.
 */
import { InternalError, NoSuchMethodError, type RpcError, toRpcError } from '../../contract/errors.js';
import { capAtPath, type MethodLayout, type StructLayout, type Values } from './codec.js';

/** A call in flight: its results, and promise pipelining on them. */
export interface Answer {
  readonly promise: Promise<Values>;
  /** A new reference to the capability at `path` (pointer-field indices) of the results. */
  pipeline(path: readonly number[]): Hook;
}

export abstract class Hook {
  private refs = 1;

  get refCount(): number {
    return this.refs;
  }

  addRef(): this {
    if (this.refs <= 0) throw new InternalError('capability used after its last release');
    this.refs++;
    return this;
  }

  release(): void {
    if (this.refs <= 0) return;
    this.refs--;
    if (this.refs === 0) this.dispose();
  }

  protected dispose(): void {}

  abstract call(method: MethodLayout, params: Values): Answer;

  /** The hook this one stands for now (itself unless it is a resolved promise). */
  resolved(): Hook {
    return this;
  }

  /** A promise hook not yet settled. */
  isPending(): boolean {
    return false;
  }

  /** Runs `fn` once this hook is settled (at once when it is not a promise). */
  whenSettled(fn: () => void): void {
    fn();
  }
}

function quiet<T>(promise: Promise<T>): Promise<T> {
  // An answer nobody awaits (only pipelined on) must not become an unhandled rejection.
  promise.catch(() => {});
  return promise;
}

export function rejectedAnswer(error: RpcError): Answer {
  return { promise: quiet(Promise.reject(error)), pipeline: () => new BrokenHook(error) };
}

/** Fails every call with the same error (a broken promise, a disconnected import). */
export class BrokenHook extends Hook {
  constructor(readonly error: RpcError) {
    super();
  }

  call(): Answer {
    return rejectedAnswer(this.error);
  }
}

/** A local object; `handler` serves its methods (it may throw typed errors). */
export type LocalHandler = (method: MethodLayout, params: Values) => Values | Promise<Values>;

export class LocalHook extends Hook {
  constructor(
    /**
     * The interfaces served (one and its bases, servedInterfaceIds); calls to another
     * interface's methods fail as unimplemented. Undefined: any.
     */
    readonly interfaceIds: ReadonlySet<bigint> | undefined,
    private readonly handler: LocalHandler,
    private readonly onDispose?: () => void,
  ) {
    super();
  }

  serves(interfaceId: bigint): boolean {
    return this.interfaceIds === undefined || this.interfaceIds.has(interfaceId);
  }

  /**
   * Runs the handler as it is: values, a promise of them, or a throw. The connection's fast path
   * uses it so that a handler answering synchronously is answered in the turn its Call arrived.
   */
  invoke(method: MethodLayout, params: Values): Values | Promise<Values> {
    return this.handler(method, params);
  }

  call(method: MethodLayout, params: Values): Answer {
    if (!this.serves(method.interfaceId)) {
      return rejectedAnswer(new NoSuchMethodError(`${method.interfaceName}.${method.name}`));
    }
    let promise: Promise<Values>;
    try {
      promise = Promise.resolve(this.handler(method, params));
    } catch (err) {
      promise = Promise.reject(toRpcError(err));
    }
    return new LocalAnswer(
      promise.catch((err: unknown) => Promise.reject(toRpcError(err))),
      method.results,
    );
  }

  protected override dispose(): void {
    this.onDispose?.();
  }
}

/** The answer of a local call: pipelined calls wait for its results. */
export class LocalAnswer implements Answer {
  readonly promise: Promise<Values>;

  constructor(
    promise: Promise<Values>,
    private readonly layout: StructLayout | undefined,
  ) {
    this.promise = quiet(promise);
  }

  pipeline(path: readonly number[]): Hook {
    const hook = new PromiseHook();
    this.promise.then(
      (values) => hook.resolve(pickCap(values, this.layout, path)),
      (err: unknown) => hook.reject(toRpcError(err)),
    );
    return hook;
  }
}

/** A new reference to the capability at `path` of results, or a broken hook saying why not. */
export function pickCap(values: Values, layout: StructLayout | undefined, path: readonly number[]): Hook {
  try {
    const cap = layout === undefined ? values.cap : capAtPath(values, layout, path);
    if (cap instanceof Hook) return cap.addRef();
    return new BrokenHook(new InternalError('the pipelined field holds no capability (null)'));
  } catch (err) {
    return new BrokenHook(toRpcError(err));
  }
}

interface Queued {
  readonly method: MethodLayout;
  readonly params: Values;
  readonly answer: QueuedAnswer;
}

/**
 * A capability that is not there yet (a local promise): calls queue, and go to the target in
 * the order they were made once it is known.
 */
export class PromiseHook extends Hook {
  private target: Hook | undefined;
  private error: RpcError | undefined;
  private queue: Queued[] = [];
  private waiters: (() => void)[] = [];

  call(method: MethodLayout, params: Values): Answer {
    if (this.target !== undefined) return this.target.call(method, params);
    if (this.error !== undefined) return rejectedAnswer(this.error);
    const answer = new QueuedAnswer();
    this.queue.push({ method, params, answer });
    return answer;
  }

  /** Settles the promise on `hook` (this takes over the reference). */
  resolve(hook: Hook): void {
    if (this.target !== undefined || this.error !== undefined) {
      hook.release();
      return;
    }
    const queue = this.queue;
    this.queue = [];
    // Calls made before the last reference went still reach the target, in order.
    for (const q of queue) q.answer.forward(hook.call(q.method, q.params));
    if (this.refCount === 0) {
      hook.release();
      this.error = new InternalError('promise released');
    } else this.target = hook;
    this.settled();
  }

  reject(error: RpcError): void {
    if (this.target !== undefined || this.error !== undefined) return;
    this.error = error;
    const queue = this.queue;
    this.queue = [];
    for (const q of queue) q.answer.forward(rejectedAnswer(error));
    this.settled();
  }

  private settled(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  override resolved(): Hook {
    return this.target === undefined ? this : this.target.resolved();
  }

  override isPending(): boolean {
    return this.target === undefined && this.error === undefined;
  }

  override whenSettled(fn: () => void): void {
    if (this.isPending()) this.waiters.push(fn);
    else fn();
  }

  /** The error the promise broke with, if it did. */
  get brokenWith(): RpcError | undefined {
    return this.error;
  }

  protected override dispose(): void {
    this.target?.release();
  }
}

/** The answer of a call that waits in a queue; pipelining on it queues as well. */
export class QueuedAnswer implements Answer {
  readonly promise: Promise<Values>;
  private settle!: (answer: Answer) => void;
  private forwarded: Answer | undefined;
  private readonly pipelines: { path: readonly number[]; hook: PromiseHook }[] = [];

  constructor() {
    this.promise = quiet(
      new Promise<Values>((resolve, reject) => {
        this.settle = (answer) => answer.promise.then(resolve, reject);
      }),
    );
  }

  forward(answer: Answer): void {
    if (this.forwarded !== undefined) return;
    this.forwarded = answer;
    this.settle(answer);
    for (const p of this.pipelines) p.hook.resolve(answer.pipeline(p.path));
    this.pipelines.length = 0;
  }

  pipeline(path: readonly number[]): Hook {
    if (this.forwarded !== undefined) return this.forwarded.pipeline(path);
    const hook = new PromiseHook();
    this.pipelines.push({ path, hook });
    return hook;
  }
}
