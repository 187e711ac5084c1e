/**
 * Server-side dispatch shared by every adapter: find the method (NO_SUCH_METHOD), validate
 * the arguments (INVALID_ARGUMENT), run the implementation, validate the result. Adapters
 * only translate between their wire format and this call.
 */
import { InvalidArgumentError, NoSuchMethodError, toRpcError } from './errors.js';
import { type Contract, getMethod, type Implementation } from './spec.js';
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
