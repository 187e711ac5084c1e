/**
 * The client's own ZMTP layer (zmtp-client.ts) against a scripted ZMTP peer over raw TCP: the
 * greeting in libzmq's steps, READY and the peer types it accepts, messages waiting for a
 * connection (and cancelled while waiting), reconnection after a dropped connection, the size
 * limit, PING/PONG, close(), and messages of one loop turn leaving in one write. libzmq peers
 * (pyzmq, zeromq.js) are covered by the interop and reliability tests.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  commandBody,
  FLAG_COMMAND,
  FLAG_LONG,
  FLAG_MORE,
  frameOf,
  GREETING_BYTES,
  SIGNATURE_BYTES,
} from '../../src/protocols/zeromq/zmtp.js';
import { ZmtpClient } from '../../src/protocols/zeromq/zmtp-client.js';

const LIMIT = 64 * 1024;
/** How long a wait for something that must happen may take before the test fails. */
const WAIT_MS = 3000;
/** How long we watch for something that must not happen (bytes sent too early, a reconnection). */
const QUIET_MS = 300;

/** Polls `done` until it holds; fails after `ms`. */
async function waitFor(done: () => boolean, what: string, ms = WAIT_MS): Promise<void> {
  const until = Date.now() + ms;
  while (!done()) {
    if (Date.now() > until) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(5);
  }
}

/** A peer's greeting: ZMTP 3.0, NULL unless told. */
function greeting(mechanism = 'NULL'): Buffer {
  const g = Buffer.alloc(GREETING_BYTES);
  g[0] = 0xff;
  g[8] = 1;
  g[9] = 0x7f;
  g[10] = 3;
  g[11] = 0;
  g.write(mechanism, 12, 'latin1');
  return g;
}

/** A READY command frame with these properties (built by hand, not by the code under test). */
function ready(socketType: string, extra: Record<string, string> = {}): Buffer {
  const props = Object.entries({ ...extra, 'Socket-Type': socketType }).map(([name, value]) => {
    const p = Buffer.alloc(1 + name.length + 4 + value.length);
    p[0] = name.length;
    p.write(name, 1, 'latin1');
    p.writeUInt32BE(value.length, 1 + name.length);
    p.write(value, 5 + name.length, 'latin1');
    return p;
  });
  return frameOf(commandBody('READY', Buffer.concat(props)), FLAG_COMMAND);
}

/** A whole message: every frame but the last with MORE. */
function message(...frames: Buffer[]): Buffer {
  return Buffer.concat(frames.map((f, i) => frameOf(f, i < frames.length - 1 ? FLAG_MORE : 0)));
}

interface Frame {
  flags: number;
  body: Buffer;
}

/** Reads a READY frame's properties, checking that it is one. */
function readyProperties(f: Frame): Record<string, string> {
  assert.equal(f.flags, FLAG_COMMAND, 'READY is a command frame');
  const b = f.body;
  assert.equal(b[0], 5);
  assert.equal(b.toString('latin1', 1, 6), 'READY');
  const out: Record<string, string> = {};
  let at = 6;
  while (at < b.length) {
    const n = b[at]!;
    const name = b.toString('latin1', at + 1, at + 1 + n);
    const len = b.readUInt32BE(at + 1 + n);
    out[name] = b.toString('latin1', at + 5 + n, at + 5 + n + len);
    at += 5 + n + len;
  }
  assert.equal(at, b.length, 'READY properties fill the frame');
  return out;
}

/** One connection the fake server accepted: what arrives is kept until read. */
class Conn {
  private buf = Buffer.alloc(0);
  /** Bytes received in all. */
  received = 0;
  isClosed = false;

  constructor(readonly socket: net.Socket) {
    socket.setNoDelay(true);
    socket.on('data', (c: Buffer) => {
      this.received += c.length;
      this.buf = Buffer.concat([this.buf, c]);
    });
    socket.on('error', () => undefined);
    socket.once('close', () => {
      this.isClosed = true;
    });
  }

  /** Waits (bounded) for the client to drop this connection. */
  async waitClosed(): Promise<void> {
    await waitFor(() => this.isClosed, 'the client to drop the connection');
  }

  /** Bytes received but not yet read. */
  get buffered(): number {
    return this.buf.length;
  }

  write(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  async read(n: number): Promise<Buffer> {
    await waitFor(() => this.buf.length >= n || this.isClosed, `${n} bytes from the client`);
    if (this.buf.length < n) throw new Error(`closed with ${this.buf.length} of ${n} bytes`);
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  async frame(): Promise<Frame> {
    const [flags] = await this.read(1);
    const long = (flags! & FLAG_LONG) !== 0;
    const size = long ? Number((await this.read(8)).readBigUInt64BE(0)) : (await this.read(1))[0]!;
    return { flags: flags!, body: await this.read(size) };
  }

  /** A message's frames (up to the one without MORE). */
  async message(): Promise<Frame[]> {
    const out: Frame[] = [];
    for (;;) {
      const f = await this.frame();
      out.push(f);
      if ((f.flags & FLAG_MORE) === 0) return out;
    }
  }

  /** The greeting exchange as libzmq stages it, then the client's READY; returns its properties. */
  async greet(): Promise<Record<string, string>> {
    const g = greeting();
    const sig = await this.read(SIGNATURE_BYTES);
    assert.equal(sig[0], 0xff);
    assert.equal(sig[9], 0x7f);
    this.write(g.subarray(0, SIGNATURE_BYTES));
    assert.equal((await this.read(1))[0], 3, 'major version 3');
    this.write(g.subarray(SIGNATURE_BYTES, SIGNATURE_BYTES + 1));
    const rest = await this.read(GREETING_BYTES - SIGNATURE_BYTES - 1);
    assert.equal(rest.toString('latin1', 1, 21), `NULL${'\0'.repeat(16)}`);
    this.write(g.subarray(SIGNATURE_BYTES + 1));
    return readyProperties(await this.frame());
  }

  /** greet(), then our READY as this socket type. */
  async handshake(socketType = 'ROUTER'): Promise<Record<string, string>> {
    const props = await this.greet();
    this.write(ready(socketType));
    return props;
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** The fake ZMTP server: a net.Server on 127.0.0.1 keeping every connection it accepts. */
class FakeServer {
  private constructor(
    private readonly server: net.Server,
    readonly port: number,
    readonly conns: Conn[],
  ) {}

  /** Listens on `port` (0: any); retries a moment if the port is still held. */
  static async start(port = 0): Promise<FakeServer> {
    for (let attempt = 0; ; attempt++) {
      const conns: Conn[] = [];
      const server = net.createServer((s) => conns.push(new Conn(s)));
      try {
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen(port, '127.0.0.1', () => resolve());
        });
        return new FakeServer(server, (server.address() as net.AddressInfo).port, conns);
      } catch (err) {
        server.close();
        if (attempt >= 50 || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
        await sleep(20);
      }
    }
  }

  /** The i-th connection (0-based), once it has arrived. */
  async conn(i: number): Promise<Conn> {
    await waitFor(() => this.conns.length > i, `connection ${i + 1}`);
    return this.conns[i]!;
  }

  async close(): Promise<void> {
    for (const c of this.conns) c.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

/** A port nothing listens on (it was free a moment ago). */
async function freePort(): Promise<number> {
  const s = await FakeServer.start();
  const port = s.port;
  await s.close();
  return port;
}

/** A client whose callbacks are recorded. */
function startClient(port: number, socketType: 'REQ' | 'DEALER' = 'REQ', maxMessageBytes = LIMIT) {
  const messages: Buffer[][] = [];
  const events = { disconnects: 0 };
  const client = new ZmtpClient({
    host: '127.0.0.1',
    port,
    socketType,
    maxMessageBytes,
    onMessage: (frames) => messages.push(frames),
    onDisconnect: () => events.disconnects++,
  });
  return { client, messages, events };
}

/** Runs `body` with a fake server and a client connecting to it; closes both whatever happens. */
async function withPeer(
  opts: { socketType?: 'REQ' | 'DEALER'; maxMessageBytes?: number },
  body: (server: FakeServer, c: ReturnType<typeof startClient>) => Promise<void>,
): Promise<void> {
  const server = await FakeServer.start();
  const c = startClient(server.port, opts.socketType, opts.maxMessageBytes);
  try {
    await body(server, c);
  } finally {
    c.client.close();
    await server.close();
  }
}

/**
 * Counts write() calls on sockets other than the fake server's (that is, the client's) until
 * restored. Both ends live in this process, so the server reads only after the client's
 * synchronous writes are all done: separate writes would still reach it as one chunk, and
 * only a count of the writes tells them apart.
 */
function spyClientWrites(server: FakeServer): { readonly count: number; restore(): void } {
  const proto = net.Socket.prototype as unknown as { write: (...args: unknown[]) => boolean };
  const own = Object.hasOwn(proto, 'write');
  const original = proto.write;
  let count = 0;
  proto.write = function (this: net.Socket, ...args: unknown[]) {
    if (!server.conns.some((c) => c.socket === this)) count++;
    return original.apply(this, args);
  };
  return {
    get count() {
      return count;
    },
    restore() {
      if (own) proto.write = original;
      else Reflect.deleteProperty(proto, 'write');
    },
  };
}

const text = (b: Buffer) => b.toString('latin1');

describe('zeromq client: its ZMTP layer against a scripted peer over raw TCP', () => {
  describe('handshake', () => {
    it('stages its greeting after the peer, sends READY as REQ, and then a [delimiter, body] message', async () => {
      await withPeer({ socketType: 'REQ' }, async (server, { client }) => {
        const conn = await server.conn(0);
        const g = greeting();
        // Only the signature comes before the peer's own signature.
        const sig = await conn.read(SIGNATURE_BYTES);
        assert.equal(sig[0], 0xff);
        assert.equal(sig[9]! & 0x01, 0x01);
        assert.equal(sig[9], 0x7f);
        await sleep(100);
        assert.equal(conn.received, SIGNATURE_BYTES, 'nothing past the signature before ours');
        assert.equal(client.connected, false);

        conn.write(g.subarray(0, SIGNATURE_BYTES));
        assert.equal((await conn.read(1))[0], 3, 'major version 3');
        await sleep(100);
        assert.equal(conn.received, SIGNATURE_BYTES + 1, 'nothing past the major before ours');

        conn.write(g.subarray(SIGNATURE_BYTES, SIGNATURE_BYTES + 1));
        const rest = await conn.read(GREETING_BYTES - SIGNATURE_BYTES - 1);
        assert.ok(rest[0]! <= 1, 'minor version 0 or 1');
        assert.equal(text(rest.subarray(1, 21)), `NULL${'\0'.repeat(16)}`, 'mechanism NULL, zero-padded');
        assert.equal(rest[21], 0, 'as-server 0');
        assert.deepEqual(rest.subarray(22), Buffer.alloc(31), 'filler');
        await sleep(100);
        assert.equal(conn.received, GREETING_BYTES, 'no READY before our whole greeting');

        conn.write(g.subarray(SIGNATURE_BYTES + 1));
        assert.deepEqual(readyProperties(await conn.frame()), { 'Socket-Type': 'REQ' });
        assert.equal(client.connected, false, 'not connected before the peer READY');

        // Properties are case-insensitive; others are ignored.
        const prop = ready('ROUTER', { Identity: '' });
        conn.write(Buffer.from(text(prop).replace('Socket-Type', 'socket-type'), 'latin1'));
        await waitFor(() => client.connected, 'connected');
        client.send([Buffer.alloc(0), Buffer.from('hello')]);
        const [delimiter, body] = await conn.message();
        assert.deepEqual(delimiter, { flags: FLAG_MORE, body: Buffer.alloc(0) });
        assert.deepEqual(body, { flags: 0, body: Buffer.from('hello') });
        assert.equal(client.closed, false);
      });
    });

    const pairs: ['REQ' | 'DEALER', string][] = [
      ['REQ', 'REP'],
      ['DEALER', 'ROUTER'],
      ['DEALER', 'REP'],
      ['DEALER', 'DEALER'],
    ];
    for (const [self, peer] of pairs) {
      it(`a ${self} says so in READY and talks to a ${peer}`, async () => {
        await withPeer({ socketType: self }, async (server, { client, messages }) => {
          const conn = await server.conn(0);
          assert.deepEqual(await conn.handshake(peer), { 'Socket-Type': self });
          await waitFor(() => client.connected, 'connected');
          client.send([Buffer.from('a'), Buffer.from('b'), Buffer.from('c')]);
          assert.deepEqual(
            (await conn.message()).map((f) => [f.flags, text(f.body)]),
            [
              [FLAG_MORE, 'a'],
              [FLAG_MORE, 'b'],
              [0, 'c'],
            ],
          );
          conn.write(message(Buffer.alloc(0), Buffer.from('reply')));
          await waitFor(() => messages.length === 1, 'the reply');
          assert.deepEqual(messages[0], [Buffer.alloc(0), Buffer.from('reply')]);
        });
      });
    }

    it('takes the peer greeting and READY in one chunk, and in single bytes', async () => {
      for (const split of [false, true]) {
        await withPeer({}, async (server, { client, messages }) => {
          const conn = await server.conn(0);
          const all = Buffer.concat([
            greeting(),
            ready('ROUTER'),
            message(Buffer.alloc(0), Buffer.alloc(300, 9)),
          ]);
          if (split) {
            for (const byte of all) {
              conn.write(Buffer.from([byte]));
              await sleep(0);
            }
          } else conn.write(all);
          await waitFor(() => messages.length === 1, 'the message');
          assert.equal(client.connected, true);
          assert.deepEqual(messages[0], [Buffer.alloc(0), Buffer.alloc(300, 9)]);
          const g = await conn.read(GREETING_BYTES);
          assert.equal(text(g.subarray(12, 16)), 'NULL');
          assert.deepEqual(readyProperties(await conn.frame()), { 'Socket-Type': 'REQ' });
        });
      }
    });
  });

  describe('incoming messages', () => {
    it('hands over whole messages, frames as sent, across chunks and many in one chunk', async () => {
      await withPeer({ socketType: 'DEALER' }, async (server, { client, messages }) => {
        const conn = await server.conn(0);
        await conn.handshake();
        await waitFor(() => client.connected, 'connected');
        const sent: Buffer[][] = [
          [Buffer.alloc(0), Buffer.from('one')],
          [Buffer.from('solo')],
          [Buffer.alloc(0), Buffer.alloc(255, 1), Buffer.alloc(256, 2), Buffer.alloc(40_000, 3)],
          [Buffer.alloc(0)],
        ];
        const bytes = Buffer.concat(sent.map((m) => message(...m)));
        // First all in one write, then cut in three pieces mid-frame.
        conn.write(bytes);
        await waitFor(() => messages.length === sent.length, 'the first four messages');
        const cuts = [3, 300, 1000];
        let at = 0;
        for (const cut of [...cuts, bytes.length]) {
          conn.write(bytes.subarray(at, cut));
          at = cut;
          await sleep(10);
        }
        await waitFor(() => messages.length === 2 * sent.length, 'the next four messages');
        assert.deepEqual(messages, [...sent, ...sent]);
      });
    });
  });

  describe('waiting messages', () => {
    it('wait for the handshake, in order, and a cancelled one never leaves', async () => {
      await withPeer({}, async (server, { client }) => {
        const conn = await server.conn(0);
        const m = (s: string) => [Buffer.alloc(0), Buffer.from(s)];
        client.send(m('first'));
        const cancelSecond = client.send(m('second'));
        client.send(m('third'));
        assert.equal(client.backlog, 3);
        cancelSecond();
        assert.equal(client.backlog, 2);
        cancelSecond(); // twice is once
        assert.equal(client.backlog, 2);
        const props = await conn.greet();
        assert.equal(props['Socket-Type'], 'REQ');
        await sleep(50);
        assert.equal(conn.buffered, 0, 'nothing sent before the peer READY');
        assert.equal(client.backlog, 2);
        conn.write(ready('ROUTER'));
        assert.equal(text((await conn.message())[1]!.body), 'first');
        assert.equal(text((await conn.message())[1]!.body), 'third');
        assert.equal(client.backlog, 0);
        // The next message follows directly: nothing of "second" in between.
        client.send(m('fourth'));
        assert.equal(text((await conn.message())[1]!.body), 'fourth');
        cancelSecond(); // long gone: no effect
        assert.equal(client.backlog, 0);
      });
    });

    it('wait while the connection is refused, the client retrying until a server listens', async () => {
      const port = await freePort();
      const c = startClient(port, 'DEALER');
      let server: FakeServer | undefined;
      try {
        const m = (s: string) => [Buffer.from(s)];
        const cancels = ['a', 'b', 'c', 'd'].map((s) => c.client.send(m(s)));
        cancels[0]!();
        cancels[2]!();
        assert.equal(c.client.backlog, 2);
        await sleep(250); // a few refused attempts
        assert.equal(c.client.connected, false);
        assert.equal(c.client.backlog, 2);
        server = await FakeServer.start(port);
        const conn = await server.conn(0);
        await conn.handshake('ROUTER');
        assert.deepEqual(await conn.message(), [{ flags: 0, body: Buffer.from('b') }]);
        assert.deepEqual(await conn.message(), [{ flags: 0, body: Buffer.from('d') }]);
        await waitFor(() => c.client.connected, 'connected');
        assert.equal(c.client.backlog, 0);
        c.client.send(m('e'));
        assert.deepEqual(await conn.message(), [{ flags: 0, body: Buffer.from('e') }]);
        assert.equal(c.events.disconnects, 0, 'refused connects are no disconnects');
      } finally {
        c.client.close();
        await server?.close();
      }
    });

    it('kept across a dropped connection are sent on the next one', async () => {
      await withPeer({}, async (server, { client, events }) => {
        const first = await server.conn(0);
        await first.handshake();
        await waitFor(() => client.connected, 'connected');
        first.destroy();
        await waitFor(() => !client.connected, 'the drop seen');
        client.send([Buffer.alloc(0), Buffer.from('after')]);
        assert.equal(client.backlog, 1);
        const second = await server.conn(1);
        await second.handshake();
        assert.equal(text((await second.message())[1]!.body), 'after');
        assert.equal(events.disconnects, 1);
      });
    });
  });

  describe('peers it drops', () => {
    const incompatible: ['REQ' | 'DEALER', string][] = [
      ['REQ', 'PUB'],
      ['REQ', 'REQ'],
      ['REQ', 'DEALER'],
      ['DEALER', 'REQ'],
      ['DEALER', 'SUB'],
    ];
    for (const [self, peer] of incompatible) {
      it(`a ${self} drops a ${peer} peer: no messages either way`, async () => {
        await withPeer({ socketType: self }, async (server, { client, messages, events }) => {
          client.send([Buffer.alloc(0), Buffer.from('waiting')]);
          const conn = await server.conn(0);
          await conn.greet();
          conn.write(Buffer.concat([ready(peer), message(Buffer.alloc(0), Buffer.from('hi'))]));
          await conn.waitClosed();
          assert.equal(conn.buffered, 0, 'nothing sent to it after READY');
          assert.equal(client.connected, false);
          assert.equal(client.backlog, 1, 'the message still waits');
          // It keeps reconnecting, as libzmq does; that connection is not served either.
          const again = await server.conn(1);
          await again.greet();
          again.write(ready(peer));
          await again.waitClosed();
          assert.equal(again.buffered, 0);
          assert.deepEqual(messages, []);
          assert.equal(events.disconnects, 0, 'never past its handshake');
        });
      });
    }

    const beforeReady: [string, Buffer][] = [
      ['a message frame', message(Buffer.alloc(0), Buffer.from('early'))],
      ['a PING', frameOf(commandBody('PING', Buffer.from([0, 10])), FLAG_COMMAND)],
      ['a READY without a Socket-Type', frameOf(commandBody('READY', Buffer.alloc(0)), FLAG_COMMAND)],
      [
        'a malformed READY',
        frameOf(commandBody('READY', Buffer.from([11, ...Buffer.from('Socket-Type'), 0, 0])), FLAG_COMMAND),
      ],
      ['an ERROR', frameOf(commandBody('ERROR', Buffer.from('\x03bad')), FLAG_COMMAND)],
    ];
    for (const [what, bytes] of beforeReady) {
      it(`drops a peer sending ${what} instead of READY`, async () => {
        await withPeer({}, async (server, { client, messages, events }) => {
          client.send([Buffer.alloc(0), Buffer.from('waiting')]);
          const conn = await server.conn(0);
          await conn.greet();
          conn.write(Buffer.concat([bytes, ready('ROUTER'), message(Buffer.from('late'))]));
          await conn.waitClosed();
          assert.equal(conn.buffered, 0, 'nothing sent to it after its READY');
          assert.deepEqual(messages, []);
          assert.equal(events.disconnects, 0);
          assert.equal(client.backlog, 1);
          await server.conn(1); // and reconnects
        });
      });
    }

    const greetings: [string, Buffer][] = [
      ['the CURVE mechanism', greeting('CURVE')],
      ['ZMTP 2.0', Buffer.from([0xff, 0, 0, 0, 0, 0, 0, 0, 1, 0x7f, 1, 1, 5])],
      ['ZMTP 1.0 (no signature)', Buffer.from([0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00])],
    ];
    for (const [what, bytes] of greetings) {
      it(`drops a peer whose greeting is ${what}`, async () => {
        await withPeer({}, async (server, { events }) => {
          const conn = await server.conn(0);
          await conn.read(SIGNATURE_BYTES);
          conn.write(bytes);
          await conn.waitClosed();
          assert.ok(conn.received <= GREETING_BYTES, 'no READY sent');
          assert.equal(events.disconnects, 0);
        });
      });
    }
  });

  describe('the size limit', () => {
    const MAX = 1000;
    const oversized: [string, Buffer][] = [
      ['a frame one byte over maxMessageBytes', message(Buffer.alloc(0), Buffer.alloc(MAX + 1))],
      ['a long frame header claiming 2^60 bytes', Buffer.from([FLAG_LONG, 0x10, 0, 0, 0, 0, 0, 0, 0])],
      ['frames of one message together over maxMessageBytes', message(Buffer.alloc(600), Buffer.alloc(401))],
    ];
    for (const [what, bytes] of oversized) {
      it(`${what} drops the connection; the client reconnects`, async () => {
        await withPeer({ maxMessageBytes: MAX }, async (server, { client, messages, events }) => {
          const first = await server.conn(0);
          await first.handshake();
          await waitFor(() => client.connected, 'connected');
          // At the limit exactly, a frame and a message of several frames pass.
          first.write(message(Buffer.alloc(MAX, 2)));
          first.write(message(Buffer.alloc(500), Buffer.alloc(MAX - 500, 1)));
          await waitFor(() => messages.length === 2, 'the messages at the limit');
          assert.deepEqual(messages, [
            [Buffer.alloc(MAX, 2)],
            [Buffer.alloc(500), Buffer.alloc(MAX - 500, 1)],
          ]);
          first.write(bytes);
          await first.waitClosed();
          assert.equal(messages.length, 2, 'the oversized message is not handed over');
          const second = await server.conn(1);
          assert.equal(events.disconnects, 1);
          await second.handshake();
          await waitFor(() => client.connected, 'reconnected');
          client.send([Buffer.alloc(0), Buffer.from('again')]);
          assert.equal(text((await second.message())[1]!.body), 'again');
          second.write(message(Buffer.alloc(0), Buffer.from('fine')));
          await waitFor(() => messages.length === 3, 'a message on the new connection');
          assert.deepEqual(messages[2], [Buffer.alloc(0), Buffer.from('fine')]);
          assert.equal(events.disconnects, 1, 'once for the one connection dropped');
        });
      });
    }
  });

  describe('commands', () => {
    for (const context of ['ctx-1', '', 'sixteen-bytes-16']) {
      it(`answers PING with a PONG carrying its context (${JSON.stringify(context)})`, async () => {
        await withPeer({}, async (server, { client }) => {
          const conn = await server.conn(0);
          await conn.handshake();
          await waitFor(() => client.connected, 'connected');
          const ping = Buffer.concat([Buffer.from([0, 20]), Buffer.from(context, 'latin1')]);
          conn.write(frameOf(commandBody('PING', ping), FLAG_COMMAND));
          const pong = await conn.frame();
          assert.equal(pong.flags, FLAG_COMMAND);
          assert.deepEqual(pong.body, commandBody('PONG', Buffer.from(context, 'latin1')));
          assert.equal(client.connected, true);
        });
      });
    }

    const fatal: [string, Buffer][] = [
      ['an ERROR', frameOf(commandBody('ERROR', Buffer.from('\x03bad')), FLAG_COMMAND)],
      ['a second READY', ready('ROUTER')],
      ['a command with MORE', frameOf(commandBody('PING', Buffer.from([0, 1])), FLAG_COMMAND | FLAG_MORE)],
    ];
    for (const [what, bytes] of fatal) {
      it(`drops the connection on ${what} after the handshake, then reconnects`, async () => {
        await withPeer({}, async (server, { client, messages, events }) => {
          const first = await server.conn(0);
          await first.handshake();
          await waitFor(() => client.connected, 'connected');
          first.write(Buffer.concat([bytes, message(Buffer.alloc(0), Buffer.from('after'))]));
          await first.waitClosed();
          assert.deepEqual(messages, [], 'nothing after it is handed over');
          await server.conn(1);
          assert.equal(events.disconnects, 1);
        });
      });
    }

    it('ignores PONG and unknown commands between messages', async () => {
      await withPeer({}, async (server, { client, messages }) => {
        const conn = await server.conn(0);
        await conn.handshake();
        await waitFor(() => client.connected, 'connected');
        const pong = frameOf(commandBody('PONG', Buffer.from('x')), FLAG_COMMAND);
        const other = frameOf(commandBody('SUBSCRIBE', Buffer.alloc(0)), FLAG_COMMAND);
        conn.write(
          Buffer.concat([
            pong,
            message(Buffer.alloc(0), Buffer.from('body')),
            other,
            message(Buffer.from('second')),
          ]),
        );
        await waitFor(() => messages.length === 2, 'the messages');
        assert.deepEqual(messages, [[Buffer.alloc(0), Buffer.from('body')], [Buffer.from('second')]]);
        assert.equal(client.connected, true);
      });
    });
  });

  describe('close()', () => {
    it('drops the connection, sends nothing more and never reconnects', async () => {
      await withPeer({}, async (server, { client, events }) => {
        const conn = await server.conn(0);
        await conn.handshake();
        await waitFor(() => client.connected, 'connected');
        client.close();
        assert.equal(client.closed, true);
        client.close(); // twice is once
        client.send([Buffer.alloc(0), Buffer.from('after close')]);
        assert.equal(client.backlog, 0);
        await conn.waitClosed();
        assert.equal(conn.buffered, 0);
        await waitFor(() => !client.connected, 'the connection gone');
        client.send([Buffer.alloc(0), Buffer.from('after close, no connection')]);
        assert.equal(client.backlog, 0, 'nothing waits after close()');
        await sleep(QUIET_MS);
        assert.equal(server.conns.length, 1, 'no reconnection');
        assert.equal(client.closed, true);
        assert.equal(client.connected, false);
        assert.equal(events.disconnects, 0, 'a close is no disconnect');
      });
    });

    it('while connections are dropped and retried stops the retries, and drops what waits', async () => {
      const server = await FakeServer.start();
      const c = startClient(server.port);
      try {
        c.client.send([Buffer.alloc(0), Buffer.from('never')]);
        // The server drops each connection at once; the client keeps retrying.
        const first = await server.conn(0);
        first.destroy();
        const second = await server.conn(1);
        second.destroy();
        await second.waitClosed();
        c.client.close();
        assert.equal(c.client.closed, true);
        assert.equal(c.client.backlog, 0, 'what waited is dropped');
        await sleep(QUIET_MS);
        assert.equal(server.conns.length, 2, 'no reconnection after close()');
      } finally {
        c.client.close();
        await server.close();
      }
    });

    it('while the connection is refused: nothing connects once a server listens', async () => {
      const port = await freePort();
      const c = startClient(port);
      let server: FakeServer | undefined;
      try {
        await sleep(150); // a refused attempt or two
        c.client.close();
        server = await FakeServer.start(port);
        await sleep(QUIET_MS);
        assert.equal(server.conns.length, 0);
      } finally {
        c.client.close();
        await server?.close();
      }
    });
  });

  describe('batched writes', () => {
    it('messages sent in one loop turn while connected leave in one write', async () => {
      await withPeer({ socketType: 'DEALER' }, async (server, { client }) => {
        const conn = await server.conn(0);
        await conn.handshake();
        await waitFor(() => client.connected, 'connected');
        assert.equal(conn.buffered, 0);
        const bodies = ['m1', 'm2', 'm3', 'm4', 'm5'].map((s) => Buffer.from(s));
        const expected = Buffer.concat(bodies.map((b) => message(Buffer.alloc(0), b)));
        const writes = spyClientWrites(server);
        try {
          for (const b of bodies) client.send([Buffer.alloc(0), b]);
          await waitFor(() => conn.buffered >= expected.length, 'the five messages');
        } finally {
          writes.restore();
        }
        assert.equal(writes.count, 1, 'one write');
        assert.deepEqual(await conn.read(expected.length), expected);
      });
    });

    it('messages waiting for READY leave in one write once it comes', async () => {
      await withPeer({ socketType: 'DEALER' }, async (server, { client }) => {
        const conn = await server.conn(0);
        const bodies = ['w1', 'w2', 'w3'].map((s) => Buffer.from(s));
        for (const b of bodies) client.send([b]);
        await conn.greet();
        assert.equal(conn.buffered, 0);
        const expected = Buffer.concat(bodies.map((b) => message(b)));
        const writes = spyClientWrites(server);
        try {
          conn.write(ready('ROUTER'));
          await waitFor(() => conn.buffered >= expected.length, 'the waiting messages');
        } finally {
          writes.restore();
        }
        assert.equal(writes.count, 1, 'one write');
        assert.deepEqual(await conn.read(expected.length), expected);
      });
    });

    it('replies sent while messages of one chunk are handed over leave in one write', async () => {
      const server = await FakeServer.start();
      let client: ZmtpClient | undefined;
      try {
        const seen: string[] = [];
        client = new ZmtpClient({
          host: '127.0.0.1',
          port: server.port,
          socketType: 'DEALER',
          maxMessageBytes: LIMIT,
          onMessage: (frames) => {
            seen.push(text(frames[0]!));
            client!.send([Buffer.from(`re-${text(frames[0]!)}`)]);
          },
          onDisconnect: () => undefined,
        });
        const conn = await server.conn(0);
        await conn.handshake();
        await waitFor(() => client!.connected, 'connected');
        const expected = Buffer.concat(['x', 'y', 'z'].map((s) => message(Buffer.from(`re-${s}`))));
        const writes = spyClientWrites(server);
        try {
          // One write of ours, so one chunk for the client: the three are handed over together.
          conn.write(Buffer.concat(['x', 'y', 'z'].map((s) => message(Buffer.from(s)))));
          await waitFor(() => conn.buffered >= expected.length, 'the replies');
        } finally {
          writes.restore();
        }
        assert.deepEqual(seen, ['x', 'y', 'z']);
        assert.equal(writes.count, 1, 'one write');
        assert.deepEqual(await conn.read(expected.length), expected);
      } finally {
        client?.close();
        await server.close();
      }
    });

    it('long and large bodies are framed with 8-byte sizes, in order with short ones', async () => {
      await withPeer({ socketType: 'DEALER' }, async (server, { client }) => {
        const conn = await server.conn(0);
        await conn.handshake();
        await waitFor(() => client.connected, 'connected');
        const check = async (sent: Buffer[][]) => {
          for (const m of sent) client.send(m);
          for (const m of sent) {
            const got = await conn.message();
            assert.deepEqual(
              got.map((f) => f.body),
              m,
            );
            got.forEach((f, i) => {
              const more = i < m.length - 1 ? FLAG_MORE : 0;
              assert.equal(f.flags, more | (f.body.length > 255 ? FLAG_LONG : 0));
            });
          }
        };
        // Up to 16 KiB in all a batch is copied into one buffer...
        await check([
          [Buffer.alloc(0), Buffer.alloc(255, 1)],
          [Buffer.alloc(0), Buffer.alloc(256, 2)],
          [Buffer.alloc(300, 3), Buffer.alloc(0)],
        ]);
        // ...past it, written frame by frame (corked).
        await check([
          [Buffer.alloc(0), Buffer.alloc(255, 4)],
          [Buffer.alloc(0), Buffer.alloc(100_000, 5), Buffer.from('tail')],
          [Buffer.alloc(256, 6)],
        ]);
      });
    });
  });
});
