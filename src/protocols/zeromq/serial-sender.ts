/**
 * zeromq.js v6 allows one send() in progress per socket (a second one throws EBUSY), and a
 * DEALER send may have to wait (peer not connected, high-water mark reached), yet a
 * pipelining client sends many calls at once: this queue runs the sends one after the other.
 * When no send is in progress (always so for a lock-step REQ socket) the message goes to the
 * socket at once, without a promise hop. (The ROUTER server needs no queue: see server.ts.)
 */
import type { MessageLike } from 'zeromq';

interface SendingSocket {
  send(message: MessageLike[]): Promise<void>;
  readonly closed: boolean;
}

export class SerialSender {
  /** Sends started or waiting whose promise has not settled yet. */
  private unsettled = 0;
  /** Settles once the last send queued so far has settled. */
  private tail: Promise<void> = Promise.resolve();
  private readonly settled = (): void => {
    this.unsettled--;
  };

  constructor(private readonly socket: SendingSocket) {}

  /** Resolves once the message is queued in libzmq; rejects if the socket is (or gets) closed. */
  send(frames: MessageLike[]): Promise<void> {
    const next = this.unsettled === 0 ? this.sendNow(frames) : this.tail.then(() => this.sendNow(frames));
    this.unsettled++;
    this.tail = next.then(this.settled, this.settled);
    return next;
  }

  private sendNow(frames: MessageLike[]): Promise<void> {
    if (this.socket.closed) return Promise.reject(new Error('socket closed'));
    try {
      return this.socket.send(frames);
    } catch (err) {
      return Promise.reject(err); // thrown synchronously by a socket closed under us
    }
  }
}
