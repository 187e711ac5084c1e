/**
 * RemoteRef: our side of an rpyc netref, a reference to an object that lives in the peer.
 * Every operation is one request (GETATTR, CALL, CALLATTR, ...) and returns a Promise, since
 * JavaScript property access cannot block. Each RemoteRef counts how many times the peer sent
 * it; release() (or garbage collection, through a FinalizationRegistry) sends HANDLE_DEL with
 * that count so the peer can drop the object, exactly as a Python netref's __del__ does.
 */
import { Handle } from './consts.js';
import type { IdPack } from './local-objects.js';

export interface RefOwner {
  request(handler: number, args: readonly unknown[]): Promise<unknown>;
  releaseRef(ref: RemoteRef): Promise<void>;
}

/** Shared between a RemoteRef and its finalizer (which must not reference the RemoteRef). */
export interface RefState {
  /** References the peer has handed us and we have not released. */
  count: number;
  released: boolean;
  /** Set by keep(): not returned automatically when the call that brought it in ends. */
  kept: boolean;
}

export class RemoteRef {
  /** @internal */
  readonly state: RefState = { count: 1, released: false, kept: false };

  constructor(
    /** @internal */ readonly owner: RefOwner,
    readonly idPack: IdPack,
  ) {}

  /** The Python type of the object, as the peer names it ("builtins.list", "__main__.Foo"). */
  get typeName(): string {
    return this.idPack[0];
  }

  get released(): boolean {
    return this.state.released;
  }

  /** obj(*args, **kwargs) */
  call(...args: unknown[]): Promise<unknown> {
    return this.owner.request(Handle.CALL, [this, args, []]);
  }

  callWithKeywords(args: readonly unknown[], kwargs: Readonly<Record<string, unknown>>): Promise<unknown> {
    return this.owner.request(Handle.CALL, [this, args, Object.entries(kwargs)]);
  }

  /** obj.name(*args) in one round trip (HANDLE_CALLATTR). */
  callAttr(name: string, ...args: unknown[]): Promise<unknown> {
    return this.owner.request(Handle.CALLATTR, [this, name, args, []]);
  }

  /** obj.name */
  getAttr(name: string): Promise<unknown> {
    return this.owner.request(Handle.GETATTR, [this, name]);
  }

  /** obj.name = value (the peer must allow it: rpyc's allow_setattr is off by default). */
  async setAttr(name: string, value: unknown): Promise<void> {
    await this.owner.request(Handle.SETATTR, [this, name, value]);
  }

  async str(): Promise<string> {
    return String(await this.owner.request(Handle.STR, [this]));
  }

  async repr(): Promise<string> {
    return String(await this.owner.request(Handle.REPR, [this]));
  }

  async dir(): Promise<string[]> {
    const names = await this.owner.request(Handle.DIR, [this]);
    return Array.isArray(names) ? names.map(String) : [];
  }

  /** The method names the peer reports for this object's class (HANDLE_INSPECT). */
  async inspect(): Promise<string[]> {
    const methods = await this.owner.request(Handle.INSPECT, [this.idPack]);
    return Array.isArray(methods) ? methods.map((m) => String(Array.isArray(m) ? m[0] : m)) : [];
  }

  /**
   * A reference received as an argument of a call we serve (a callback) is borrowed for that
   * call and handed back (HANDLE_DEL) when the call ends, as a Python callee's netref dies when
   * it returns. keep() holds it beyond the call, until release() or garbage collection.
   */
  keep(): this {
    this.state.kept = true;
    return this;
  }

  /** Tells the peer we no longer hold this object (HANDLE_DEL); later use fails. */
  release(): Promise<void> {
    return this.owner.releaseRef(this);
  }

  toJSON(): { netref: string; id: string } {
    return { netref: this.typeName, id: String(this.idPack[2]) };
  }

  toString(): string {
    return `<netref ${this.typeName} #${this.idPack[2]}>`;
  }
}

/**
 * A method-call view of a netref: `asMethods<Calc>(root).add(2, 5)` is `root.callAttr('add', 2, 5)`.
 * The type parameter only describes what you expect the Python object to have; nothing checks it.
 */
export function asMethods<T extends object = Record<string, (...args: unknown[]) => Promise<unknown>>>(
  ref: RemoteRef,
): T {
  return new Proxy(Object.create(null) as object, {
    get: (_target, name) => {
      // Not thenable: `await asMethods(ref)` must not turn into a remote `then` call.
      if (typeof name !== 'string' || name === 'then') return undefined;
      return (...args: unknown[]) => ref.callAttr(name, ...args);
    },
  }) as T;
}
