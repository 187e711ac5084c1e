/**
 * Objects this side serves by reference, and the table that keeps them alive while the peer
 * holds netrefs to them (rpyc's RefCountingColl: one count per time an object is sent, dropped
 * when the peer's HANDLE_DEL brings the count to zero).
 *
 * Only two kinds of objects ever leave this process by reference: ExposedObjects (a service
 * root, or objects user code returns on purpose) and functions (callbacks passed as arguments,
 * and the bound methods of an ExposedObject). Attribute access reaches exposed methods and
 * nothing else, which is rpyc's safe default (allow_public_attrs=False, allow_all_attrs=False).
 */
import { InvalidArgumentError, NoSuchMethodError } from '../../contract/errors.js';
import type { BrineValue } from './brine.js';
import { asPythonException } from './vinegar.js';

/** (class name, class id, instance id), as rpyc.lib.get_id_pack makes them; an instance id of 0 means a class. */
export type IdPack = readonly [name: string, classId: number | bigint, instanceId: number | bigint];

/** A method as served to the peer: positional args, plus keyword args as (name, value) pairs. */
export type ServedFunction = (
  args: readonly unknown[],
  kwargs: ReadonlyArray<readonly [string, unknown]>,
) => unknown;

export interface ExposedMethod {
  readonly fn: ServedFunction;
  readonly doc?: string;
  /** Listed by dir() under its bare name too, as rpyc.Service's get_service_name classmethods are. */
  readonly plain?: boolean;
}

/**
 * An object served by reference whose `exposed_<name>` attributes (or plain `<name>`) are its
 * methods, like an rpyc.Service. `typeName` is what Python sees as its class ("rpclab.<typeName>").
 */
export class ExposedObject {
  private readonly bound = new Map<string, BoundMethod>();

  constructor(
    readonly typeName: string,
    private readonly methods: ReadonlyMap<string, ExposedMethod>,
  ) {}

  /** Method names, without the exposed_ prefix. */
  names(): string[] {
    return [...this.methods.keys()];
  }

  /** rpyc's _check_attr for an exposed object: `name` or `exposed_name`, nothing else. */
  getattr(name: string): BoundMethod {
    const bare = name.startsWith('exposed_') ? name.slice('exposed_'.length) : name;
    const method = this.methods.get(bare);
    if (method === undefined) {
      throw attributeError(`cannot access '${name}'`);
    }
    // One bound method per name: its id stays stable, so the peer's proxy cache can reuse it.
    let b = this.bound.get(bare);
    if (b === undefined) {
      b = new BoundMethod(this, bare, method);
      this.bound.set(bare, b);
    }
    return b;
  }

  /** What dir() lists: `exposed_<name>` for each method, and the bare name of plain ones, sorted. */
  dir(): string[] {
    const out: string[] = [];
    for (const [name, m] of this.methods) {
      out.push(`exposed_${name}`);
      if (m.plain) out.push(name);
    }
    return out.sort();
  }

  inspect(): BrineValue {
    return [...this.methods].map(([name, m]) => [`exposed_${name}`, m.doc ?? null]);
  }
}

/** A method of an ExposedObject, served as a Python bound method (netref class builtins.method). */
export class BoundMethod {
  constructor(
    readonly owner: ExposedObject,
    readonly name: string,
    readonly method: ExposedMethod,
  ) {}
}

/** rpyc's refusal of an attribute: an AttributeError in Python, NO_SUCH_METHOD for us. */
export function attributeError(message: string): NoSuchMethodError {
  const err = new NoSuchMethodError('');
  err.message = message;
  return asPythonException(err, 'AttributeError');
}

/** Builds an ExposedObject from plain functions (positional arguments only). */
export function expose(
  typeName: string,
  methods: Readonly<Record<string, (...args: never[]) => unknown>>,
  docs: Readonly<Record<string, string>> = {},
): ExposedObject {
  const table = new Map<string, ExposedMethod>();
  for (const [name, fn] of Object.entries(methods)) {
    const call = fn as (...args: unknown[]) => unknown;
    table.set(name, {
      fn: (args, kwargs) => {
        if (kwargs.length > 0) throw noKeywords(name);
        return callUnvalidated(() => call(...args));
      },
      ...(docs[name] === undefined ? {} : { doc: docs[name] }),
    });
  }
  return new ExposedObject(typeName, table);
}

/**
 * Runs code that was handed the peer's arguments unvalidated (extras, exposed functions,
 * callbacks). A JavaScript TypeError there ("fn.call is not a function") means the caller passed
 * the wrong kind of value, which Python reports as TypeError: it goes back as one (code
 * INVALID_ARGUMENT), not as a RuntimeError. Contract methods are not run this way: their
 * arguments are checked first, so a TypeError inside them is the implementation's own bug.
 */
export function callUnvalidated(fn: () => unknown): unknown {
  try {
    const result = fn();
    return result instanceof Promise
      ? result.catch((err: unknown) => Promise.reject(callerTypeError(err)))
      : result;
  } catch (err) {
    throw callerTypeError(err);
  }
}

function callerTypeError(err: unknown): unknown {
  if (!(err instanceof TypeError)) return err;
  return asPythonException(new InvalidArgumentError(err.message, { cause: err }), 'TypeError');
}

/** Python's own refusal (a TypeError, INVALID_ARGUMENT for us), not an internal error. */
export function noKeywords(name: string): Error {
  return asPythonException(new InvalidArgumentError(`${name}() takes no keyword arguments`), 'TypeError');
}

// ---------------------------------------------------------------------------------------------

/** Class ids per Python-visible type name, and instance ids per object: stable for the process. */
const classIds = new Map<string, number>();
const instanceIds = new WeakMap<object, number>();
let nextInstanceId = 1;

function classId(name: string): number {
  let id = classIds.get(name);
  if (id === undefined) {
    id = 1000 + classIds.size;
    classIds.set(name, id);
  }
  return id;
}

export type Servable = ExposedObject | BoundMethod | ((...args: never[]) => unknown);

export function isServable(value: unknown): value is Servable {
  return typeof value === 'function' || value instanceof ExposedObject || value instanceof BoundMethod;
}

/**
 * The name the peer sees as the object's class. Functions use the names Python's netref module
 * pre-builds classes for (builtins.function / builtins.method), so a Python peer calls them
 * without an INSPECT round trip; an ExposedObject's name resolves to no Python class, so
 * `netref.__class__` stays a remote (and refused) attribute.
 */
export function pythonTypeName(obj: Servable): string {
  if (obj instanceof ExposedObject) return `rpclab.${obj.typeName}`;
  if (obj instanceof BoundMethod) return 'builtins.method';
  return 'builtins.function';
}

export function idPackOf(obj: Servable): readonly [string, number, number] {
  let id = instanceIds.get(obj);
  if (id === undefined) {
    id = nextInstanceId++;
    instanceIds.set(obj, id);
  }
  const name = pythonTypeName(obj);
  return [name, classId(name), id];
}

interface Slot {
  readonly obj: Servable;
  /** rpyc counts from 0 for the first send; we count sends, which is the same rule. */
  count: number;
}

export class LocalObjectTable {
  private readonly slots = new Map<number, Slot>();

  get size(): number {
    return this.slots.size;
  }

  /** Registers one more reference held by the peer and returns the object's id pack. */
  add(obj: Servable): readonly [string, number, number] {
    const pack = idPackOf(obj);
    const slot = this.slots.get(pack[2]);
    if (slot === undefined) this.slots.set(pack[2], { obj, count: 1 });
    else slot.count++;
    return pack;
  }

  get(pack: BrineValue): Servable {
    const slot = this.slots.get(instanceIdOf(pack));
    if (slot === undefined) throw keyError(pack);
    return slot.obj;
  }

  /** The peer released `count` references (HANDLE_DEL). */
  decref(pack: BrineValue, count: number): void {
    const id = instanceIdOf(pack);
    const slot = this.slots.get(id);
    if (slot === undefined) throw keyError(pack);
    slot.count -= count;
    if (slot.count <= 0) this.slots.delete(id);
  }

  clear(): void {
    this.slots.clear();
  }
}

function instanceIdOf(pack: BrineValue): number {
  if (Array.isArray(pack) && pack.length === 3 && typeof pack[2] === 'number') return pack[2];
  return -1;
}

function keyError(pack: BrineValue): Error {
  const err = new NoSuchMethodError('');
  err.message = `no local object with id pack ${JSON.stringify(pack, (_k, v) => (typeof v === 'bigint' ? String(v) : v))}`;
  return asPythonException(err, 'KeyError');
}
