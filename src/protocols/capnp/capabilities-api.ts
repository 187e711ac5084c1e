/**
 * The capability API users see: a Capability is a reference to an object of some interface,
 * here or across the wire; call() sends a method by name and returns a RemoteCall whose
 * `result` is the results struct and whose `cap(field)` is a capability in those results,
 * usable at once (promise pipelining: calls on it travel before the first call has returned).
 *
 * Values are plain objects keyed by field name; a capability field holds a Capability. Every
 * Capability owns one reference: release() it when done (the peer's export table shrinks),
 * or use `using` (Symbol.dispose).
 */
import { InvalidArgumentError, NoSuchMethodError, type RpcError, toRpcError } from '../../contract/errors.js';
import { type Answer, Hook, LocalHook } from './capability.js';
import {
  type InterfaceLayout,
  type MethodLayout,
  type SchemaRegistry,
  type StructLayout,
  servedInterfaceIds,
  type Values,
} from './codec.js';

export type CapValues = Record<string, unknown>;

/** A call in flight. */
export interface RemoteCall {
  /** The results struct (capabilities in it are Capability objects the caller owns). */
  readonly result: Promise<CapValues>;
  /** The capability in result field `field`, before the result is in (pipelined). */
  cap(field: string): Capability;
}

/** Methods of a local object served as a capability; `this` is not bound. */
export type CapabilityHandlers = Readonly<
  Record<string, (params: CapValues) => CapValues | undefined | Promise<CapValues | undefined>>
>;

export class Capability {
  private released = false;

  /** @internal — wraps a hook reference (taken over). */
  constructor(
    readonly hook: Hook,
    readonly iface: InterfaceLayout,
    private readonly schema: SchemaRegistry,
  ) {}

  get interfaceName(): string {
    return this.iface.name;
  }

  /** Calls `method` of this capability's interface with `params` (a struct, by field name). */
  call(method: string, params: CapValues = {}): RemoteCall {
    const layout = this.iface.methods.get(method);
    if (layout === undefined) {
      const error = new NoSuchMethodError(`${this.iface.name}.${method}`);
      return failedCall(error);
    }
    if (this.released) return failedCall(new InvalidArgumentError('capability used after release()'));
    let answer: Answer;
    try {
      answer = this.hook.call(layout, toHooks(params, layout.params));
    } catch (err) {
      return failedCall(toRpcError(err));
    }
    return callOf(answer, layout, this.schema);
  }

  /** Another reference to the same object (release each). */
  dup(): Capability {
    return new Capability(this.hook.addRef(), this.iface, this.schema);
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    this.hook.release();
  }

  [Symbol.dispose](): void {
    this.release();
  }

  /** How a capability shows in printed results (`rpclab call`): its interface, not its insides. */
  toJSON(): { capability: string } {
    return { capability: this.iface.name };
  }

  toString(): string {
    return `<capability ${this.iface.name}>`;
  }
}

function failedCall(error: RpcError): RemoteCall {
  const result = Promise.reject(error);
  result.catch(() => {});
  return {
    result,
    cap: () => {
      throw error;
    },
  };
}

function callOf(answer: Answer, method: MethodLayout, schema: SchemaRegistry): RemoteCall {
  const result = answer.promise.then((values) => fromHooks(values, method.results, schema));
  result.catch(() => {});
  return {
    result,
    cap(field: string): Capability {
      const f = method.results.fields.find((x) => x.name === field);
      if (f === undefined || f.kind !== 'cap') {
        throw new InvalidArgumentError(
          `${method.interfaceName}.${method.name} has no capability field ${field}`,
        );
      }
      const iface = interfaceOf(schema, f.interfaceName);
      return new Capability(answer.pipeline([f.offset]), iface, schema);
    },
  };
}

function interfaceOf(schema: SchemaRegistry, name: string | undefined): InterfaceLayout {
  const iface = name === undefined ? undefined : schema.interfaces.get(name);
  if (iface === undefined) throw new InvalidArgumentError(`interface ${name ?? '?'} is not in the schema`);
  return iface;
}

/** Params with each Capability replaced by its hook (lent for the call, not taken over). */
export function toHooks(values: CapValues, layout: StructLayout): Values {
  const out: Values = { ...values };
  for (const f of layout.fields) {
    if (f.kind !== 'cap') continue;
    const v = out[f.name];
    if (v instanceof Capability) out[f.name] = v.hook;
    else if (v !== undefined && v !== null && !(v instanceof Hook)) {
      throw new InvalidArgumentError(`field ${f.name}: expected a capability`);
    }
  }
  return out;
}

/** Results with each hook wrapped as a Capability (taking over the reference). */
export function fromHooks(values: Values, layout: StructLayout, schema: SchemaRegistry): CapValues {
  let out: CapValues | undefined;
  for (const f of layout.fields) {
    if (f.kind !== 'cap') continue;
    const v = values[f.name];
    if (!(v instanceof Hook)) continue;
    out ??= { ...values };
    out[f.name] = new Capability(v, interfaceOf(schema, f.interfaceName), schema);
  }
  // Without a capability the values are returned as they are (no copy on the hot path).
  return out ?? values;
}

/**
 * A local object as a capability of `iface`: each handler gets the params (capabilities in
 * them are Capability objects lent for the call: dup() one to keep it) and returns the
 * results (a Capability in them is handed over to the caller).
 */
export function localCapability(
  iface: InterfaceLayout,
  schema: SchemaRegistry,
  handlers: CapabilityHandlers,
  onRelease?: () => void,
): Capability {
  const hook = new LocalHook(
    servedInterfaceIds(iface),
    async (method, params) => {
      const handler = Object.hasOwn(handlers, method.name) ? handlers[method.name] : undefined;
      if (handler === undefined) throw new NoSuchMethodError(`${iface.name}.${method.name}`);
      const lent = lend(params, method.params, schema);
      const results = (await handler(lent)) ?? {};
      return toOwnedHooks(results, method.results);
    },
    onRelease,
  );
  return new Capability(hook, iface, schema);
}

/** Lent params as Capability objects that do not own a reference (their release() is a no-op). */
function lend(values: Values, layout: StructLayout, schema: SchemaRegistry): CapValues {
  const out: CapValues = { ...values };
  for (const f of layout.fields) {
    if (f.kind !== 'cap') continue;
    const v = out[f.name];
    if (v instanceof Hook) out[f.name] = new LentCapability(v, interfaceOf(schema, f.interfaceName), schema);
  }
  return out;
}

class LentCapability extends Capability {
  override release(): void {}
}

/** Results: a Capability becomes a hook reference the results own. */
function toOwnedHooks(values: CapValues, layout: StructLayout): Values {
  const out: Values = { ...values };
  for (const f of layout.fields) {
    if (f.kind !== 'cap') continue;
    const v = out[f.name];
    if (v instanceof LentCapability) out[f.name] = v.hook.addRef();
    else if (v instanceof Capability)
      out[f.name] = v.hook; // handed over: the caller's reference
    else if (v !== undefined && v !== null && !(v instanceof Hook)) {
      throw new InvalidArgumentError(`result field ${f.name}: expected a capability`);
    }
  }
  return out;
}
