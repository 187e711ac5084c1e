/**
 * A client for any registered protocol that reconnects after its connection fails, and that
 * can resend idempotent calls — for servers behind a load balancer (HAProxy), where a server
 * going away cuts the connection a call was on, and the next connection reaches another one.
 *
 * A call that fails with TRANSPORT drops the client it ran on; the next call opens a new one.
 * With `retryIdempotent` (off by default) such a call is also resent, on the new connection,
 * when its method is declared idempotent (MethodSpec.idempotent): it may have run already, so
 * resending is only safe for methods where running twice does no harm. Other errors (TIMEOUT,
 * an application error) are the caller's, as ever.
 */
import { createClient } from '../contract/client.js';
import { RpcError, TransportError } from '../contract/errors.js';
import { type Client, type Contract, getMethod } from '../contract/spec.js';
import type { ConnectOptions, Protocol } from '../protocols/types.js';

export interface ReconnectingOptions extends ConnectOptions {
  /** Resend an idempotent call that failed with TRANSPORT (default false). */
  retryIdempotent?: boolean;
  /** Resends per call when retryIdempotent is on (default 2). */
  retries?: number;
}

export async function connectReconnecting<C extends Contract>(
  protocol: Protocol,
  contract: C,
  options: ReconnectingOptions = {},
): Promise<Client<C>> {
  const { retryIdempotent = false, retries = 2, ...connectOptions } = options;
  type AnyClient = Record<string, (...args: unknown[]) => Promise<unknown>> & { close(): Promise<void> };
  const open = () => protocol.connect(contract, connectOptions) as unknown as Promise<AnyClient>;
  // The first connection is opened now, so a wrong address fails at once as with connect().
  let current: Promise<AnyClient> | undefined = Promise.resolve(await open());
  let closed = false;

  const client = (): Promise<AnyClient> => {
    if (current === undefined) {
      const next = open();
      current = next;
      // A failed connect is not kept: the next call tries again.
      next.catch(() => {
        if (current === next) current = undefined;
      });
    }
    return current;
  };

  /** Drops `failed` (if still current): the next call gets a fresh connection. */
  const drop = (failed: Promise<AnyClient>) => {
    if (current !== failed) return;
    current = undefined;
    void failed.then((c) => c.close()).catch(() => undefined);
  };

  const call = async (method: string, args: readonly unknown[]): Promise<unknown> => {
    const idempotent = getMethod(contract, method)?.idempotent === true;
    for (let attempt = 0; ; attempt++) {
      if (closed) throw new TransportError('the client is closed');
      const used = client();
      try {
        return await (await used)[method]!(...args);
      } catch (err) {
        if (!(err instanceof RpcError) || err.code !== 'TRANSPORT') throw err;
        drop(used);
        if (!retryIdempotent || !idempotent || attempt >= retries) throw err;
      }
    }
  };

  return createClient(contract, {
    call,
    close: async () => {
      closed = true;
      const last = current;
      current = undefined;
      await last?.then((c) => c.close()).catch(() => undefined);
    },
  });
}
