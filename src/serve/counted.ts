/**
 * Graceful drain for servers over plain TCP connections (Thrift, RPyC-style, msgpack-rpc, ...).
 * A protocol registers each accepted socket with how many of its calls are in progress; on
 * drain every connection stops being read (what arrives later is consumed and dropped, so the
 * peer's FIN is still seen and no RST cuts off replies already sent), each one is ended once
 * its calls are answered, and whatever is left when the grace period runs out is destroyed.
 * A client sees its call answered, or its connection close (a TRANSPORT error), never a hang.
 */
import type net from 'node:net';
import { timerDelay } from '../net/deadline.js';

/** How often a draining set looks for connections whose calls are all answered. */
const POLL_MS = 5;

const discard = (): void => undefined;

export class CountedConnections {
  private readonly sockets = new Map<net.Socket, () => number>();
  private drainingFlag = false;
  private emptied: (() => void) | undefined;

  get draining(): boolean {
    return this.drainingFlag;
  }

  get size(): number {
    return this.sockets.size;
  }

  /** Calls in progress over every connection. */
  get inFlight(): number {
    let n = 0;
    for (const count of this.sockets.values()) n += count();
    return n;
  }

  /** Tracks `socket`; `inFlight` says how many of its calls are running or not yet written. */
  track(socket: net.Socket, inFlight: () => number): void {
    this.sockets.set(socket, inFlight);
    socket.once('close', () => {
      this.sockets.delete(socket);
      if (this.sockets.size === 0) this.emptied?.();
    });
    // Accepted in the same tick the drain began: it gets no calls either.
    if (this.drainingFlag) stopReading(socket);
  }

  /**
   * Stops reading every connection, ends each once its calls are answered, destroys the rest
   * after `graceMs`. Resolves once every connection is closed. The caller stops accepting.
   */
  drain(graceMs: number): Promise<void> {
    this.drainingFlag = true;
    for (const socket of this.sockets.keys()) stopReading(socket);
    return new Promise<void>((resolve) => {
      const ended = new Set<net.Socket>();
      const finish = () => {
        clearInterval(poll);
        clearTimeout(deadline);
        this.emptied = undefined;
        resolve();
      };
      const sweep = () => {
        for (const [socket, count] of this.sockets) {
          // Replies are written in the same step that lowers the count (or before it), so a
          // count of 0 means nothing more will be written: end() flushes them, then sends FIN.
          if (!ended.has(socket) && count() === 0) {
            ended.add(socket);
            socket.end();
          }
        }
      };
      this.emptied = finish;
      const poll = setInterval(sweep, POLL_MS);
      const deadline = setTimeout(() => {
        for (const socket of this.sockets.keys()) socket.destroy();
        // 'close' comes a tick after destroy(); resolve now: nothing is left to wait for.
        finish();
      }, timerDelay(graceMs) ?? 0);
      if (this.sockets.size === 0) finish();
      else sweep();
    });
  }

  /** Destroys every connection at once. */
  destroyAll(): void {
    for (const socket of this.sockets.keys()) socket.destroy();
  }
}

/**
 * Detaches the protocol's reader: later bytes are dropped unparsed. The socket keeps flowing
 * (even if the protocol paused it for flow control) so the peer's FIN is noticed.
 */
function stopReading(socket: net.Socket): void {
  socket.removeAllListeners('data');
  socket.on('data', discard);
  socket.resume();
}
