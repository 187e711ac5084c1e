/**
 * The client's send queue against a fake socket that, like zeromq.js, refuses a second send
 * while one is in progress (EBUSY): sends run one at a time in call order, an idle socket gets
 * its message at once, and a closed socket rejects.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { MessageLike } from 'zeromq';
import { SerialSender } from '../../src/protocols/zeromq/serial-sender.js';

class FakeSocket {
  closed = false;
  readonly sent: string[] = [];
  private busy = false;
  /** Settles the send in progress, if it is waiting. */
  finish: (() => void) | undefined;

  constructor(private readonly waits: boolean) {}

  send(message: MessageLike[]): Promise<void> {
    if (this.busy) throw new Error('EBUSY: only one send operation may be in progress');
    this.sent.push(String(message[0]));
    if (!this.waits) return Promise.resolve();
    this.busy = true;
    return new Promise<void>((resolve) => {
      this.finish = () => {
        this.busy = false;
        this.finish = undefined;
        resolve();
      };
    });
  }
}

describe('zeromq SerialSender', () => {
  it('hands a message to an idle socket at once', () => {
    const socket = new FakeSocket(false);
    const sender = new SerialSender(socket);
    void sender.send(['a']);
    assert.deepEqual(socket.sent, ['a'], 'sent synchronously, before any microtask');
  });

  it('never starts a send while one is in progress, and keeps call order', async () => {
    const socket = new FakeSocket(true);
    const sender = new SerialSender(socket);
    const done = ['a', 'b', 'c', 'd'].map((m) => sender.send([m]));
    assert.deepEqual(socket.sent, ['a']);
    for (let k = 1; k <= 4; k++) {
      // Let queued continuations run until the next send has started (bounded).
      for (let i = 0; i < 10 && socket.finish === undefined; i++) await Promise.resolve();
      socket.finish?.();
      await done[k - 1];
    }
    assert.deepEqual(socket.sent, ['a', 'b', 'c', 'd']);
    // Idle again: the next message goes out at once.
    void sender.send(['e']);
    await Promise.resolve();
    await Promise.resolve();
    assert.deepEqual(socket.sent.at(-1), 'e');
  });

  it('rejects on a closed socket, and queued sends after a close', async () => {
    const socket = new FakeSocket(true);
    const sender = new SerialSender(socket);
    const first = sender.send(['a']);
    const queued = sender.send(['b']);
    socket.closed = true;
    socket.finish?.();
    await first;
    await assert.rejects(queued, /closed/);
    await assert.rejects(sender.send(['c']), /closed/);
    assert.deepEqual(socket.sent, ['a']);
  });

  it('a waiting send can be cancelled: never sent, its promise resolves at once', async () => {
    const socket = new FakeSocket(true);
    const sender = new SerialSender(socket);
    const head = sender.enqueue(['head']);
    const queued = Array.from({ length: 10_000 }, (_, i) => sender.enqueue([`m${i}`]));
    assert.equal(sender.backlog, 10_000);
    head.cancel(); // already on its way: nothing happens
    queued.forEach((q, i) => {
      if (i % 1000 !== 0) q.cancel();
    });
    assert.equal(sender.backlog, 10);
    await Promise.all(queued.filter((_, i) => i % 1000 !== 0).map((q) => q.done));
    const kept = queued.filter((_, i) => i % 1000 === 0);
    socket.finish?.();
    await head.done;
    for (const q of kept) {
      // Let queued continuations run until the next send has started (bounded).
      for (let i = 0; i < 10 && socket.finish === undefined; i++) await Promise.resolve();
      socket.finish?.();
      await q.done;
    }
    assert.deepEqual(socket.sent, ['head', ...kept.map((_, k) => `m${k * 1000}`)]);
    assert.equal(sender.backlog, 0);
  });
});
