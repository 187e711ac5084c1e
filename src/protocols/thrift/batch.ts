/**
 * Coalescing of the writes made to one socket in the same tick. Pipelined peers send many
 * calls in one chunk and their replies become ready together; writing each on its own costs
 * one syscall per message. Corking the socket on the first write of a tick and uncorking it
 * on the next tick hands them to the kernel in one writev, in the order written, with no copy.
 */
import type net from 'node:net';

const uncork = (socket: net.Socket) => socket.uncork();

/**
 * Writes `bytes` (one buffer, or the parts of one message) to `socket`, batched with the other writes of this tick when `more` says
 * others may follow (calls still in flight); a lone message goes out at once, saving the
 * deferral. Returns what `socket.write` returns (false once the socket's buffer is full), so
 * callers keep their backpressure as with a plain write.
 */
export function writeBatched(socket: net.Socket, bytes: Buffer | Buffer[], more: boolean): boolean {
  // Only the first write of a tick corks (and schedules the one uncork); a write made while
  // corked joins the batch whatever `more` says, keeping the order. Uncorking a socket
  // destroyed meanwhile is harmless: its buffered writes are discarded as with any write.
  if (more && socket.writableCorked === 0) {
    socket.cork();
    process.nextTick(uncork, socket);
  }
  if (!Array.isArray(bytes)) return socket.write(bytes);
  if (bytes.length === 1) return socket.write(bytes[0]!);
  // The parts of one message (a bulk payload not copied) leave in one writev.
  socket.cork();
  let ok = true;
  for (const part of bytes) ok = socket.write(part);
  socket.uncork();
  return ok;
}
