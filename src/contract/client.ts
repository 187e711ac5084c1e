/** Builds a typed client object from a protocol's untyped call function. */
import { ProtocolError } from './errors.js';
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
 * exercise the server's validation through every protocol.
 */
export function createClient<C extends Contract>(contract: C, transport: ClientTransport): Client<C> {
  const client: Record<string, unknown> = {
    close: () => transport.close(),
  };
  for (const name of Object.keys(contract.methods)) {
    const spec = getMethod(contract, name)!;
    client[name] = async (...args: unknown[]) => {
      const result = await transport.call(name, args);
      try {
        return validateResult(name, spec, result);
      } catch (err) {
        // A result the contract cannot hold is the server's fault, not the caller's argument.
        throw new ProtocolError(`server sent an invalid result: ${(err as Error).message}`, { cause: err });
      }
    };
  }
  return client as Client<C>;
}
