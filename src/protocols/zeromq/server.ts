/**
 * The server: one ROUTER socket. Unlike the survey's REP socket, which reads one request and
 * must answer it before reading the next, a ROUTER reads every request as it arrives and
 * routes each reply back by the sender's routing id, so any number of REQ clients (lock-step)
 * and DEALER clients (pipelined) are served at once, and a slow call does not hold up others.
 *
 * A bound server speaks ZMTP itself over node:net (zmtp-router.ts): the same wire, peers and
 * ROUTER behaviour, at a fraction of libzmq's cost per message through zeromq.js. A worker
 * behind a broker (connectTo) connects out with libzmq's ROUTER, which zmtp-router.ts lacks.
 */
import { Router } from 'zeromq';
import { createSyncDispatcher } from '../../contract/dispatch.js';
import { InvalidArgumentError, ProtocolError, TransportError, toRpcError } from '../../contract/errors.js';
import { type Contract, getMethod, type Implementation, type ValueType } from '../../contract/spec.js';
import { DEFAULT_HOST, DEFAULT_MAX_MESSAGE_BYTES, type RunningServer, type ServeOptions } from '../types.js';
import { bodyStart } from './envelope.js';
import { HIGH_WATER_MARK, isIpv6, ZEROMQ_DEFAULT_PORT, zmqEndpoint } from './socket-options.js';
import { encodeError, encodeResult, type MessageId, NO_ID, parseRequest } from './wire.js';
import { startZmtpRouter, type ZmtpPeer, type ZmtpRouter } from './zmtp-router.js';

/** Default of ZeromqServeOptions.maxRequests: requests handled at once, all peers together. */
export const MAX_CONCURRENT_REQUESTS = 10_000;
/** Default of ZeromqServeOptions.maxPeerRequests: requests handled at once for one peer. */
export const MAX_PEER_REQUESTS = 1_000;

export interface ZeromqServeOptions extends ServeOptions {
  /**
   * Requests in progress at once, all peers together (default 10,000). Past it the server
   * stops reading and libzmq's high-water marks push back on senders: this bounds memory.
   */
  maxRequests?: number;
  /**
   * Requests in progress at once for one peer (one connection, by routing id; default 1,000).
   * A request past it is not run: it gets a TRANSPORT error reply at once, so one peer's
   * flood of slow calls cannot fill the server-wide cap and stall every other peer.
   */
  maxPeerRequests?: number;
  /**
   * Connect to this endpoint (a broker's DEALER backend, see broker.ts) instead of binding:
   * the server is then one worker behind a ROUTER/DEALER proxy, and a peer is the proxy's
   * client (the routing id the proxy's frontend gave it), not the proxy.
   */
  connectTo?: string;
}

const ignore = (): void => undefined;

/**
 * While draining, the server closes once no request has arrived for this long (and none is in
 * progress): requests already on their way are answered "draining" rather than lost unseen.
 */
const DRAIN_QUIET_MS = 50;
/** Most time given to libzmq to flush the last replies when a drained socket closes. */
const DRAIN_LINGER_MS = 1_000;

/**
 * An error reply that cannot fail to encode, so no reply handler ever throws: an id the
 * encoder refuses to write back (msgpack nested past its depth limit of 100, which the decoder
 * accepts) is left out and the error says why.
 */
function errorReply(err: unknown, id: MessageId): Buffer {
  const error = toRpcError(err);
  try {
    return encodeError(error, id);
  } catch (cause) {
    const why = cause instanceof Error ? cause.message : String(cause);
    return encodeError(
      new ProtocolError(`the request's id cannot be sent back (${why}); ${error.message}`),
      NO_ID,
    );
  }
}

export async function serveZeromq<C extends Contract>(
  contract: C,
  impl: Implementation<C>,
  options: ZeromqServeOptions = {},
): Promise<RunningServer> {
  const host = options.host ?? DEFAULT_HOST;
  const maxRequests = positiveLimit(options.maxRequests, MAX_CONCURRENT_REQUESTS, 'maxRequests');
  const maxPeerRequests = positiveLimit(options.maxPeerRequests, MAX_PEER_REQUESTS, 'maxPeerRequests');
  const dispatch = createSyncDispatcher(contract, impl);
  const behindBroker = options.connectTo !== undefined;
  const maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  // Behind a broker: libzmq's ROUTER, connecting out to the broker's backend.
  let router: Router | undefined;
  // Bound: our own ZMTP ROUTER (zmtp-router.ts).
  let zmtp: ZmtpRouter | undefined;
  if (behindBroker) {
    router = new Router({
      linger: 0, // close() never waits to flush replies to clients that are gone
      // ZMQ_MAXMSGSIZE: libzmq drops an oversized frame and the connection while decoding,
      // before buffering it; the sender sees a disconnect (and its call a TIMEOUT).
      maxMessageSize: maxMessageBytes,
      sendHighWaterMark: HIGH_WATER_MARK,
      receiveHighWaterMark: HIGH_WATER_MARK,
      sendTimeout: 0,
      ipv6: isIpv6(host),
    });
    try {
      router.connect(options.connectTo!);
    } catch (err) {
      router.close();
      const why = err instanceof Error ? err.message : String(err);
      throw new TransportError(`cannot connect to ${options.connectTo}: ${why}`, { cause: err });
    }
  } else {
    // Its callbacks run only once a peer has connected, after this function has returned.
    try {
      zmtp = await startZmtpRouter({
        host,
        port: options.port ?? ZEROMQ_DEFAULT_PORT,
        maxMessageBytes,
        onMessage: (peer, frames) => {
          lastReceived = Date.now();
          try {
            handle(frames, peer);
          } catch (err) {
            console.error('zeromq server: cannot answer:', err);
          }
        },
        admit: (peer) => {
          if (active >= maxRequests) return 'wait';
          if (activeByPeer.size === 0) return 'run';
          const key = peer.id.toString('latin1');
          if ((activeByPeer.get(key) ?? 0) < maxPeerRequests || yieldedAtCap.has(key)) return 'run';
          // At its cap: calls answered by promises may free slots within this loop turn (as a
          // receive loop awaiting each message let them), so look again once before refusing.
          yieldedAtCap.add(key);
          return 'yield';
        },
      });
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      throw new TransportError(
        `cannot bind ${zmqEndpoint(host, options.port ?? ZEROMQ_DEFAULT_PORT)}: ${why}`,
        { cause: err },
      );
    }
  }
  const port = zmtp?.port ?? 0;
  // Behind a broker frame 0 is the proxy's routing id, frame 1 its client's.
  const peerFrame = behindBroker ? 1 : 0;
  let closed = false;
  // drain(): requests read from now on are not run but answered with a TRANSPORT error at once.
  let draining = false;
  let lastReceived = 0;

  // The result type of each method (doubles are encoded as floats), looked up once.
  const resultTypes = new Map<string, ValueType>();
  for (const name of Object.keys(contract.methods)) {
    const spec = getMethod(contract, name);
    if (spec !== undefined) resultTypes.set(name, spec.result);
  }

  /**
   * Sends `body` back behind the request's envelope (frames before `at`), reusing the
   * request's frame array. With sendTimeout 0 a ROUTER send is synchronous in zeromq.js: it
   * never waits for "writable" (a ROUTER drops what it cannot route rather than block), so no
   * send is ever in progress and replies need no queue. Only a closed socket fails.
   */
  const reply = (frames: Buffer[], at: number, body: Buffer, peer: ZmtpPeer | undefined): void => {
    if (closed) return;
    frames.length = at;
    frames.push(body);
    if (peer !== undefined) {
      peer.send(frames, 1); // frame 0 is the routing id
      return;
    }
    try {
      router!.send(frames).then(undefined, ignore);
    } catch {
      // closed under us
    }
  };

  // Requests being handled at once; past the cap the server stops reading, so libzmq's
  // high-water marks push back on senders instead of memory growing without bound.
  let active = 0;
  // The same per peer (routing id as a latin1 string, one char per byte): reading is shared,
  // so a peer past its own cap is answered with an error rather than paused. Entries go at 0,
  // so the map holds only peers with calls in progress.
  const activeByPeer = new Map<string, number>();
  // Peers (of the ZMTP router) at their cap that were given one loop turn to free a slot.
  const yieldedAtCap = new Set<string>();
  let slotFreed: (() => void) | undefined;
  const done = (peer: string): void => {
    active--;
    const left = activeByPeer.get(peer)! - 1;
    if (left === 0) activeByPeer.delete(peer);
    else activeByPeer.set(peer, left);
    if (left < maxPeerRequests) yieldedAtCap.delete(peer);
    const wake = slotFreed;
    slotFreed = undefined;
    wake?.();
    if (active === maxRequests - 1) zmtp?.resume();
  };

  /** Answers one request; never awaits, so the loop goes straight back to receiving. */
  const handle = (frames: Buffer[], peer?: ZmtpPeer): void => {
    const at = bodyStart(frames);
    if (frames.length - at !== 1) {
      const error = new ProtocolError(`expected one body frame, got ${frames.length - at}`);
      reply(frames, at, encodeError(error, NO_ID), peer);
      return;
    }
    const parsed = parseRequest(frames[at]!);
    if (!parsed.ok) {
      reply(frames, at, errorReply(parsed.error, parsed.id), peer);
      return;
    }
    const { method, params, id } = parsed.request;
    if (draining) {
      // A ROUTER cannot refuse connections, and a peer is not told of a socket closing under
      // its call: say so now, so the caller gets a clean error rather than a TIMEOUT.
      const error = new TransportError(`server draining: ${method} was not run (call another server)`);
      reply(frames, at, errorReply(error, id), peer);
      return;
    }
    // Only peers with asynchronous calls in progress are in the map: while it is empty (every
    // call so far answered synchronously) no routing id needs turning into a key.
    const peerKey =
      activeByPeer.size === 0 ? undefined : frames[Math.min(peerFrame, at - 1)]!.toString('latin1');
    const peerActive = peerKey === undefined ? 0 : (activeByPeer.get(peerKey) ?? 0);
    if (peerActive >= maxPeerRequests) {
      // Not run, so the caller may safely retry later; an error now rather than a silent drop,
      // which would only surface as a TIMEOUT (and a resend of idempotent calls).
      const error = new TransportError(
        `server busy: this peer already has ${maxPeerRequests} requests in progress (maxPeerRequests); ${method} was not run`,
      );
      reply(frames, at, errorReply(error, id), peer);
      return;
    }
    let result: unknown;
    try {
      result = dispatch(method, params);
    } catch (err) {
      reply(frames, at, errorReply(err, id), peer);
      return;
    }
    if (!(result instanceof Promise)) {
      // A synchronous implementation is answered here and now: no promise, no bookkeeping
      // (the call was never "in progress" past this line, so it holds no slot).
      answer(frames, at, method, id, result, peer);
      return;
    }
    const key = peerKey ?? frames[Math.min(peerFrame, at - 1)]!.toString('latin1');
    activeByPeer.set(key, peerActive + 1);
    active++;
    // The envelope is kept until the reply: as views it would hold the received chunks.
    for (let i = 1; i < at; i++) frames[i] = Buffer.from(frames[i]!);
    result.then(
      (value) => {
        done(key);
        answer(frames, at, method, id, value, peer);
      },
      (err: unknown) => {
        done(key);
        reply(frames, at, errorReply(err, id), peer);
      },
    );
  };

  const answer = (
    frames: Buffer[],
    at: number,
    method: string,
    id: MessageId,
    value: unknown,
    peer: ZmtpPeer | undefined,
  ): void => {
    let out: Buffer;
    try {
      out = encodeResult(value, resultTypes.get(method), id);
    } catch (err) {
      out = errorReply(err, id);
    }
    reply(frames, at, out, peer);
  };

  const loop = (async () => {
    if (router === undefined) return; // zmtp-router.ts calls handle() itself
    while (!closed) {
      if (active >= maxRequests) {
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
      lastReceived = Date.now();
      try {
        handle(frames);
      } catch (err) {
        console.error('zeromq server: cannot answer:', err);
      }
    }
  })();

  const running: RunningServer = {
    host,
    port,
    address: behindBroker ? options.connectTo! : zmqEndpoint(host, port),
    async drain(graceMs: number) {
      if (closed) return;
      draining = true;
      const deadline = Date.now() + graceMs;
      while (!closed && Date.now() < deadline && (active > 0 || Date.now() - lastReceived < DRAIN_QUIET_MS))
        await new Promise((r) => setTimeout(r, 5));
      // linger 0 would discard replies still queued for their peers: give them a moment.
      const linger = Math.max(0, Math.min(DRAIN_LINGER_MS, deadline - Date.now()));
      if (router !== undefined) router.linger = linger;
      await closeWith(linger);
    },
    close: () => closeWith(0),
  };
  async function closeWith(lingerMs: number): Promise<void> {
    if (closed) return;
    closed = true;
    router?.close();
    slotFreed?.();
    await loop;
    await zmtp?.close(lingerMs);
  }
  return running;
}

function positiveLimit(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!(value >= 1)) throw new InvalidArgumentError(`${name} must be at least 1, got ${value}`);
  return Math.floor(value);
}
