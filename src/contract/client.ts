/** Builds a typed client object from a protocol's untyped call function. */
import { type Client, type Contract, getMethod, type UntypedCall } from './spec.js';
import { validateResult } from './validate.js';

export interface ClientTransport {
  call: UntypedCall;
  close(): Promise<void>;
}

/**
 * Every contract method becomes `(...args) => call(name, args)`; results are checked against
 * the contract so a misbehaving server cannot hand the caller a value of the wrong type.
 * Arguments are not checked here on purpose: the server validates them, so conformance tests
 * exercise the server's validation through every protocol. A result outside the contract (a
 * Python server's add returning 2**31) fails with the same INVALID_ARGUMENT our servers raise.
 */
export function createClient<C extends Contract>(contract: C, transport: ClientTransport): Client<C> {
  const client: Record<string, unknown> = {
    close: () => transport.close(),
  };
  for (const name of Object.keys(contract.methods)) {
    const spec = getMethod(contract, name)!;
    client[name] = async (...args: unknown[]) => validateResult(name, spec, await transport.call(name, args));
  }
  return client as Client<C>;
}
