/** Builds a typed client for any contract on top of the call engine. */
import { createClient } from '../../contract/client.js';
import { TransportError } from '../../contract/errors.js';
import type { Client, Contract } from '../../contract/spec.js';
import { type ConnectOptions, DEFAULT_HOST } from '../types.js';
import { resolveVariant } from '../variant.js';
import { CallEngine, ZEROMQ_VARIANTS, type ZeromqVariant } from './client.js';
import { ZEROMQ_DEFAULT_PORT, zmqEndpoint } from './socket-options.js';

export interface ZeromqConnectOptions extends ConnectOptions {
  /** "req" (lock-step, the survey's pattern; default) or "dealer" (pipelined). */
  variant?: ZeromqVariant;
  /** Resends of an idempotent call whose reply was lost, within its timeout (default 2). */
  retries?: number;
}

export function connectZeromq<C extends Contract>(
  contract: C,
  options: ZeromqConnectOptions = {},
): Promise<Client<C>> {
  const variant = resolveVariant(
    { name: 'zeromq', variants: ZEROMQ_VARIANTS },
    options.variant,
  ) as ZeromqVariant;
  const endpoint = zmqEndpoint(options.host ?? DEFAULT_HOST, options.port ?? ZEROMQ_DEFAULT_PORT);
  let engine: CallEngine;
  try {
    engine = new CallEngine({
      variant,
      endpoint,
      contract,
      timeoutMs: options.timeoutMs,
      maxMessageBytes: options.maxMessageBytes,
      retries: options.retries,
    });
  } catch (err) {
    // libzmq rejects a malformed endpoint at once (EINVAL, thrown from connect): a rejected
    // promise with a typed error, like every other failure, not a synchronous throw.
    const why = err instanceof Error ? err.message : String(err);
    return Promise.reject(new TransportError(`cannot connect to ${endpoint}: ${why}`, { cause: err }));
  }
  return Promise.resolve(
    createClient(contract, {
      call: (method, args) => engine.call(method, args),
      close: () => engine.close(),
    }),
  );
}
