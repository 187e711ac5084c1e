/**
 * The server: one ROUTER socket. Unlike the survey's REP socket, which reads one request and
 * must answer it before reading the next, a ROUTER reads every request as it arrives and
 * routes each reply back by the sender's routing id, so any number of REQ clients (lock-step)
 * and DEALER clients (pipelined) are served at once, and a slow call does not hold up others.
 */
import net from 'node:net';
import { Router } from 'zeromq';
import { createDispatcher } from '../../contract/dispatch.js';
import { ProtocolError, TransportError, toRpcError } from '../../contract/errors.js';
import { type Contract, getMethod, type Implementation } from '../../contract/spec.js';
import { DEFAULT_HOST, DEFAULT_MAX_MESSAGE_BYTES, type RunningServer, type ServeOptions } from '../types.js';
import { splitEnvelope } from './envelope.js';
import { SerialSender } from './serial-sender.js';
import { endpointPort, HIGH_WATER_MARK, ZEROMQ_DEFAULT_PORT, zmqEndpoint } from './socket-options.js';
import { encodeError, encodeResult, NO_ID, parseRequest } from './wire.js';

const MAX_CONCURRENT_REQUESTS = 10_000;

export async function serveZeromq<C extends Contract>(
  contract: C,
  impl: Implementation<C>,
  options: ServeOptions = {},
): Promise<RunningServer> {
  const host = options.host ?? DEFAULT_HOST;
  const dispatch = createDispatcher(contract, impl);
  const router = new Router({
    linger: 0, // close() never waits to flush replies to clients that are gone
    // ZMQ_MAXMSGSIZE: libzmq drops an oversized frame and the connection while decoding,
    // before buffering it; the sender sees a disconnect (and its call a TIMEOUT).
    maxMessageSize: options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
    sendHighWaterMark: HIGH_WATER_MARK,
    receiveHighWaterMark: HIGH_WATER_MARK,
  });
  try {
    await router.bind(zmqEndpoint(host, options.port ?? ZEROMQ_DEFAULT_PORT));
  } catch (err) {
    router.close();
    const why = err instanceof Error ? err.message : String(err);
    throw new TransportError(
      `cannot bind ${zmqEndpoint(host, options.port ?? ZEROMQ_DEFAULT_PORT)}: ${why}`,
      {
        cause: err,
      },
    );
  }
  const port = endpointPort(router.lastEndpoint);
  const sender = new SerialSender(router);
  let closed = false;

  const reply = (envelope: Buffer[], body: Buffer): void => {
    // A ROUTER silently drops replies to peers that left; only a closed socket rejects.
    sender.send([...envelope, body]).catch(() => undefined);
  };

  const handle = async (frames: Buffer[]): Promise<void> => {
    const { envelope, body } = splitEnvelope(frames);
    if (body.length !== 1) {
      reply(envelope, encodeError(new ProtocolError(`expected one body frame, got ${body.length}`), NO_ID));
      return;
    }
    const parsed = parseRequest(body[0]!);
    if (!parsed.ok) {
      reply(envelope, encodeError(parsed.error, parsed.id));
      return;
    }
    const { method, params, id } = parsed.request;
    let out: Buffer;
    try {
      const result = await dispatch(method, params);
      out = encodeResult(result, getMethod(contract, method)?.result, id);
    } catch (err) {
      out = encodeError(toRpcError(err), id);
    }
    if (!closed) reply(envelope, out);
  };

  // Requests being handled at once; past the cap the server stops reading, so libzmq's
  // high-water marks push back on senders instead of memory growing without bound.
  let active = 0;
  let slotFreed: (() => void) | undefined;
  const loop = (async () => {
    while (!closed) {
      if (active >= MAX_CONCURRENT_REQUESTS) {
        await new Promise<void>((resolve) => {
          slotFreed = resolve;
        });
        continue;
      }
      let frames: Buffer[];
      try {
        frames = await router.receive();
      } catch (err) {
        if (closed || router.closed) return;
        // Not expected while open; keep serving rather than die silently.
        console.error('zeromq server: receive failed:', err);
        continue;
      }
      active++;
      handle(frames)
        .catch((err: unknown) => console.error('zeromq server: cannot answer:', err))
        .finally(() => {
          active--;
          const wake = slotFreed;
          slotFreed = undefined;
          wake?.();
        });
    }
  })();

  return {
    host,
    port,
    address: zmqEndpoint(host, port),
    async close() {
      if (closed) return;
      closed = true;
      router.close();
      slotFreed?.();
      await loop;
      await waitUntilPortFree(host, port);
    },
  };
}

/**
 * libzmq closes the listening descriptor in its I/O thread after close() returns; wait for
 * that (bounded) so that close() resolving means the port can be bound again.
 */
async function waitUntilPortFree(host: string, port: number, limitMs = 2_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (Date.now() < deadline) {
    const free = await new Promise<boolean>((resolve) => {
      const probe = net.createServer();
      probe.once('error', () => resolve(false));
      probe.listen(port, host, () => probe.close(() => resolve(true)));
    });
    if (free) return;
    await new Promise((r) => setTimeout(r, 5));
  }
}
