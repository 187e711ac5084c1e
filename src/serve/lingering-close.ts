/**
 * Lingering close (RFC 9112 §9.6) for node:http servers that answer before a request's body has
 * all arrived (413 while a chunked body streams, 405, 415) and say `Connection: close`.
 *
 * node:http ends such an exchange with `socket.destroySoon()`: the descriptor closes as soon as
 * the answer is flushed. The client is typically still writing its body; the kernel answers
 * those bytes (and the unread ones) with a reset, and the reset can reach the client before it
 * has read the answer: it sees "connection reset" instead of the 413. Here the answer is
 * followed by a FIN only, and what the client still sends is read and dropped until it closes
 * its side, for at most `lingerMs`; the body reader's own byte bound still applies. Requests
 * parsed from those bytes are not to be run: see closedForRequests.
 */
import type http from 'node:http';

/** How long a half-closed connection waits for the client to stop sending (Apache uses 2 s). */
export const LINGER_MS = 2_000;

/** Sockets whose answer said `Connection: close`: what they still carry is read, never run. */
const closed = new WeakSet<object>();

/**
 * True once an answer on this socket said `Connection: close` (through lingerOnClose). node:http
 * goes on parsing what a lingering client sends and emits the requests it finds; the server must
 * not run them (RFC 9112 §9.6), so its request handler drops any for which this is true.
 */
export function closedForRequests(socket: object): boolean {
  return closed.has(socket);
}

/** Marks `socket` as answered with `Connection: close`: requests parsed after it are not to run. */
export function refuseFurtherRequests(socket: object): void {
  closed.add(socket);
}

export function lingerOnClose(req: http.IncomingMessage, lingerMs = LINGER_MS): void {
  const socket = req.socket;
  refuseFurtherRequests(socket);
  if (req.complete) return;
  socket.destroySoon = () => {
    if (socket.destroyed) return;
    const timer = setTimeout(() => socket.destroy(), lingerMs);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
    // The client closed its side: it has read the answer, or no longer wants it.
    socket.once('end', () => socket.destroy());
    socket.once('error', () => socket.destroy());
    if (socket.writable) socket.end();
    socket.resume();
  };
}
