/**
 * zeromq.js v6 allows one send() in progress per socket (a second one throws EBUSY), and a
 * DEALER send may have to wait (peer not connected, high-water mark reached), yet a
 * pipelining client sends many calls at once: this queue runs the sends one after the other.
 * When no send is in progress (always so for a lock-step REQ socket) the message goes to the
 * socket at once, without a promise hop. (The ROUTER server needs no queue: see server.ts.)
 *
 * A send still waiting for its turn can be cancelled (its call settled, by a timeout say):
 * it is dropped and its message released at once. Otherwise, while the peer is away and the
 * socket's own queue is full, every call made meanwhile would stay here with its message
 * until the socket accepted it, long after the call gave up.
 */
import type { MessageLike } from 'zeromq';

interface SendingSocket {
  send(message: MessageLike[]): Promise<void>;
  readonly closed: boolean;
}

/** A send handed to the queue: `done` as for `send()`; `cancel()` drops it if still waiting. */
export interface QueuedSend {
  readonly done: Promise<void>;
  cancel(): void;
}

interface Waiting {
  /** Undefined once cancelled or started. */
  frames: MessageLike[] | undefined;
  resolve(): void;
  reject(err: unknown): void;
}

const nothing = (): void => undefined;

/** Cancelled entries tolerated in the queue before it is compacted (then at most half of it). */
const COMPACT_AFTER = 1024;

export class SerialSender {
  private inProgress = false;
  private waiting: Waiting[] = [];
  private cancelled = 0;
  private readonly next = (): void => {
    this.inProgress = false;
    for (let entry = this.waiting.shift(); entry !== undefined; entry = this.waiting.shift()) {
      if (entry.frames === undefined) {
        this.cancelled--;
        continue;
      }
      const frames = entry.frames;
      entry.frames = undefined; // on its way: no longer cancellable
      this.start(frames).then(entry.resolve, entry.reject);
      return;
    }
  };

  constructor(private readonly socket: SendingSocket) {}

  /** Resolves once the message is queued in libzmq; rejects if the socket is (or gets) closed. */
  send(frames: MessageLike[]): Promise<void> {
    return this.enqueue(frames).done;
  }

  /** As `send()`, cancellable while waiting for its turn (`done` then resolves, unsent). */
  enqueue(frames: MessageLike[]): QueuedSend {
    if (!this.inProgress) return { done: this.start(frames), cancel: nothing };
    let entry!: Waiting;
    const done = new Promise<void>((resolve, reject) => {
      entry = { frames, resolve, reject };
    });
    this.waiting.push(entry);
    return { done, cancel: () => this.cancel(entry) };
  }

  /** Sends waiting for their turn (not counting cancelled ones). */
  get backlog(): number {
    return this.waiting.length - this.cancelled;
  }

  private cancel(entry: Waiting): void {
    if (entry.frames === undefined) return; // started or cancelled already
    entry.frames = undefined; // released now, whatever happens to the queue
    entry.resolve();
    this.cancelled++;
    if (this.cancelled > COMPACT_AFTER && this.cancelled * 2 > this.waiting.length) {
      this.waiting = this.waiting.filter((e) => e.frames !== undefined);
      this.cancelled = 0;
    }
  }

  private start(frames: MessageLike[]): Promise<void> {
    this.inProgress = true;
    const sent = this.sendNow(frames);
    sent.then(this.next, this.next);
    return sent;
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
