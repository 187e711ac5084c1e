/**
 * zeromq.js v6 allows one send() in progress per socket (a second one throws EBUSY), yet a
 * server answers many requests at once and a pipelining client sends many calls at once:
 * this queue runs the sends one after the other.
 */
import type { MessageLike } from 'zeromq';

interface SendingSocket {
  send(message: MessageLike[]): Promise<void>;
  readonly closed: boolean;
}

export class SerialSender {
  private tail: Promise<void> = Promise.resolve();

  constructor(private readonly socket: SendingSocket) {}

  /** Resolves once the message is queued in libzmq; rejects if the socket is (or gets) closed. */
  send(frames: MessageLike[]): Promise<void> {
    const next = this.tail.then(() => {
      if (this.socket.closed) throw new Error('socket closed');
      return this.socket.send(frames);
    });
    this.tail = next.catch(() => undefined);
    return next;
  }
}
