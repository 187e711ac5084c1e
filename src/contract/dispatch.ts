/**
 * Server-side dispatch shared by every adapter: find the method (NO_SUCH_METHOD), validate
 * the arguments (INVALID_ARGUMENT), run the implementation, validate the result. Adapters
 * only translate between their wire format and this call.
 */
import { InvalidArgumentError, NoSuchMethodError, toRpcError } from './errors.js';
import { type Contract, getMethod, type Implementation, type MethodSpec } from './spec.js';
import { validateArgs, validateResult } from './validate.js';

export type Dispatcher = (method: string, args: readonly unknown[]) => Promise<unknown>;

export function createDispatcher<C extends Contract>(contract: C, impl: Implementation<C>): Dispatcher {
  // Only the contract's own methods are reachable: no prototype walk, no attribute access.
  const table = new Map<string, (...args: unknown[]) => unknown>();
  for (const name of Object.keys(contract.methods)) {
    const fn = (impl as Record<string, unknown>)[name];
    if (typeof fn !== 'function') throw new TypeError(`implementation lacks method ${contract.name}.${name}`);
    table.set(name, (fn as (...args: unknown[]) => unknown).bind(impl));
  }
  return async (method, args) => {
    const spec = getMethod(contract, method);
    const fn = table.get(method);
    if (spec === undefined || fn === undefined) throw new NoSuchMethodError(method);
    const checked = validateArgs(method, spec, args);
    let result: unknown;
    try {
      result = await fn(...checked);
    } catch (err) {
      throw toRpcError(err);
    }
    try {
      return validateResult(method, spec, result);
    } catch (err) {
      // The implementation produced something the contract cannot carry (e.g. an i32 overflow).
      throw err instanceof InvalidArgumentError ? err : toRpcError(err);
    }
  };
}

/**
 * As Dispatcher, but a synchronous implementation's result (or error) comes back synchronously:
 * a value, or a thrown RpcError; only an implementation that returns a promise gives a promise
 * (which rejects with the RpcError). Lets a hot server loop answer without a promise per call.
 */
export type SyncDispatcher = (method: string, args: readonly unknown[]) => unknown;

export function createSyncDispatcher<C extends Contract>(
  contract: C,
  impl: Implementation<C>,
): SyncDispatcher {
  // Only the contract's own methods are reachable: no prototype walk, no attribute access.
  const table = new Map<string, (...args: unknown[]) => unknown>();
  for (const name of Object.keys(contract.methods)) {
    const fn = (impl as Record<string, unknown>)[name];
    if (typeof fn !== 'function') throw new TypeError(`implementation lacks method ${contract.name}.${name}`);
    table.set(name, (fn as (...args: unknown[]) => unknown).bind(impl));
  }
  const checkResult = (method: string, spec: MethodSpec, result: unknown): unknown => {
    try {
      return validateResult(method, spec, result);
    } catch (err) {
      // The implementation produced something the contract cannot carry (e.g. an i32 overflow).
      throw err instanceof InvalidArgumentError ? err : toRpcError(err);
    }
  };
  return (method, args) => {
    const spec = getMethod(contract, method);
    const fn = table.get(method);
    if (spec === undefined || fn === undefined) throw new NoSuchMethodError(method);
    const checked = validateArgs(method, spec, args);
    let result: unknown;
    try {
      result = fn(...checked);
    } catch (err) {
      throw toRpcError(err);
    }
    if (isThenable(result)) {
      return Promise.resolve(result).then(
        (value) => checkResult(method, spec, value),
        (err: unknown) => {
          throw toRpcError(err);
        },
      );
    }
    return checkResult(method, spec, result);
  };
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}
