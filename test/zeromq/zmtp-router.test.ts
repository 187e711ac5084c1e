/**
 * The server's own ZMTP layer (zmtp-router.ts) over raw TCP: the greeting in libzmq's steps,
 * READY, replies of every frame size batched together, PING/PONG, and the peers it drops
 * (oversized frames, too many frames, a security mechanism it lacks, traffic before READY).
 * libzmq peers (pyzmq, zeromq.js) are covered by the interop and pipelining tests.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { calculator, calculatorContract } from '../../src/contract/index.js';
import type { RunningServer } from '../../src/protocols/types.js';
import { decodeValue, encodeValue } from '../../src/protocols/zeromq/msgpack.js';
import { serveZeromq } from '../../src/protocols/zeromq/server.js';
import {
  commandBody,
  FLAG_COMMAND,
  FLAG_MORE,
  frameOf,
  GREETING_BYTES,
} from '../../src/protocols/zeromq/zmtp.js';
import { MAX_FRAMES_PER_MESSAGE } from '../../src/protocols/zeromq/zmtp-router.js';

const LIMIT = 64 * 1024;

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

function ready(socketType: string): Buffer {
  const name = 'Socket-Type';
  const prop = Buffer.alloc(1 + name.length + 4 + socketType.length);
  prop[0] = name.length;
  prop.write(name, 1, 'latin1');
  prop.writeUInt32BE(socketType.length, 1 + name.length);
  prop.write(socketType, 5 + name.length, 'latin1');
  return frameOf(commandBody('READY', prop), FLAG_COMMAND);
}

/** A raw peer: reads frames as they come; `closed` resolves when the server drops it. */
class RawPeer {
  private readonly socket: net.Socket;
  private buf = Buffer.alloc(0);
  private waiter: (() => void) | undefined;
  readonly closed: Promise<void>;

  constructor(port: number) {
    this.socket = net.connect({ host: '127.0.0.1', port });
    this.socket.on('data', (c: Buffer) => {
      this.buf = Buffer.concat([this.buf, c]);
      this.waiter?.();
    });
    this.socket.on('error', () => undefined);
    this.closed = new Promise((r) => this.socket.once('close', () => r()));
    this.socket.once('close', () => this.waiter?.());
  }

  write(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** Waits for `n` bytes and takes them. */
  async read(n: number): Promise<Buffer> {
    while (this.buf.length < n) {
      if (this.socket.destroyed) throw new Error(`closed with ${this.buf.length} of ${n} bytes`);
      await new Promise<void>((r) => {
        this.waiter = r;
      });
    }
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  async frame(): Promise<{ flags: number; body: Buffer }> {
    const [flags] = await this.read(1);
    const long = (flags! & 0x02) !== 0;
    const size = long ? Number((await this.read(8)).readBigUInt64BE(0)) : (await this.read(1))[0]!;
    return { flags: flags!, body: await this.read(size) };
  }

  /** The handshake as libzmq's peers stage it, and the server's READY. */
  async handshake(socketType = 'DEALER'): Promise<void> {
    const g = greeting();
    this.write(g.subarray(0, 10));
    const sig = await this.read(10);
    assert.equal(sig[0], 0xff);
    assert.equal(sig[9], 0x7f);
    this.write(g.subarray(10, 11));
    assert.equal((await this.read(1))[0], 3, 'major version 3');
    this.write(g.subarray(11));
    const rest = await this.read(GREETING_BYTES - 11);
    assert.equal(rest.toString('latin1', 1, 5), 'NULL');
    const r = await this.frame();
    assert.equal(r.flags & FLAG_COMMAND, FLAG_COMMAND);
    assert.match(r.body.toString('latin1'), /READY.*Socket-Type.*ROUTER/s);
    this.write(ready(socketType));
  }

  close(): void {
    this.socket.destroy();
  }
}

const request = (value: unknown) =>
  Buffer.concat([frameOf(Buffer.alloc(0), FLAG_MORE), frameOf(Buffer.from(encodeValue(value)), 0)]);

describe('zeromq server: its ZMTP layer over raw TCP', () => {
  let server: RunningServer;
  before(async () => {
    server = await serveZeromq(calculatorContract, calculator, { port: 0, maxMessageBytes: LIMIT });
  });
  after(async () => {
    await server.close();
  });

  it('stages its greeting after the peer, as libzmq does, and answers a DEALER after READY', async () => {
    const peer = new RawPeer(server.port);
    try {
      // Nothing but the signature comes before the peer has sent its own.
      assert.equal((await peer.read(10)).length, 10);
      peer.write(greeting().subarray(0, 10));
      assert.equal((await peer.read(1))[0], 3);
      peer.write(greeting().subarray(10));
      await peer.read(GREETING_BYTES - 11);
      await peer.frame(); // READY
      peer.write(Buffer.concat([ready('DEALER'), request({ method: 'add', params: [2, 5], id: 1 })]));
      const delimiter = await peer.frame();
      assert.deepEqual([delimiter.flags, delimiter.body.length], [FLAG_MORE, 0]);
      const body = await peer.frame();
      assert.equal(body.flags, 0);
      assert.deepEqual(decodeValue(body.body), { result: 7, id: 1 });
    } finally {
      peer.close();
    }
  });

  it('pipelined requests of every size, sent at once, each get their reply in order of arrival', async () => {
    const peer = new RawPeer(server.port);
    try {
      await peer.handshake();
      // Short frames, long frames (> 255 bytes), inside and past the one-buffer write size.
      const sizes = [0, 1, 200, 255, 256, 1000, 20_000, 60_000, 3, 300];
      const requests: Buffer[] = [];
      sizes.forEach((n, i) => {
        requests.push(request({ method: 'echo', params: [Buffer.alloc(n, i)], id: i }));
        requests.push(request({ method: 'add', params: [i, 1], id: 100 + i }));
      });
      peer.write(Buffer.concat(requests));
      for (const [i, n] of sizes.entries()) {
        await peer.frame();
        const echo = decodeValue((await peer.frame()).body) as { result: Uint8Array; id: number };
        assert.equal(echo.id, i);
        assert.deepEqual(Buffer.from(echo.result), Buffer.alloc(n, i));
        await peer.frame();
        assert.deepEqual(decodeValue((await peer.frame()).body), { result: i + 1, id: 100 + i });
      }
    } finally {
      peer.close();
    }
  });

  it('a REQ with a request-id frame (ZMQ_REQ_CORRELATE) gets its whole envelope back', async () => {
    const peer = new RawPeer(server.port);
    try {
      await peer.handshake('REQ');
      const reqId = Buffer.from([0, 0, 0, 42]);
      peer.write(Buffer.concat([frameOf(reqId, FLAG_MORE), request({ method: 'add', params: [1, 2] })]));
      assert.deepEqual((await peer.frame()).body, reqId);
      assert.equal((await peer.frame()).body.length, 0);
      assert.deepEqual(decodeValue((await peer.frame()).body), { result: 3 });
    } finally {
      peer.close();
    }
  });

  it('answers PING with PONG carrying its context', async () => {
    const peer = new RawPeer(server.port);
    try {
      await peer.handshake();
      const ping = Buffer.concat([Buffer.from([0, 10]), Buffer.from('ctx-1')]);
      peer.write(frameOf(commandBody('PING', ping), FLAG_COMMAND));
      const pong = await peer.frame();
      assert.equal(pong.flags & FLAG_COMMAND, FLAG_COMMAND);
      assert.deepEqual(pong.body, commandBody('PONG', Buffer.from('ctx-1')));
    } finally {
      peer.close();
    }
  });

  const dropped: [string, (peer: RawPeer) => Promise<void>][] = [
    [
      'a frame over maxMessageBytes',
      async (peer) => {
        await peer.handshake();
        peer.write(frameOf(Buffer.alloc(LIMIT + 1), 0));
      },
    ],
    [
      `a message of more than ${MAX_FRAMES_PER_MESSAGE} frames`,
      async (peer) => {
        await peer.handshake();
        peer.write(
          Buffer.concat(
            Array.from({ length: MAX_FRAMES_PER_MESSAGE + 1 }, () => frameOf(Buffer.alloc(0), FLAG_MORE)),
          ),
        );
      },
    ],
    [
      'a security mechanism it does not have (CURVE)',
      async (peer) => {
        peer.write(greeting('CURVE'));
      },
    ],
    [
      'a socket type a ROUTER does not talk to (PUB)',
      async (peer) => {
        await peer.handshake('PUB');
      },
    ],
    [
      'a message before READY',
      async (peer) => {
        const g = greeting();
        peer.write(g);
        await peer.read(GREETING_BYTES);
        await peer.frame();
        peer.write(request({ method: 'add', params: [1, 1] }));
      },
    ],
  ];
  for (const [what, act] of dropped) {
    it(`drops a peer sending ${what}, and goes on serving`, async () => {
      const peer = new RawPeer(server.port);
      try {
        await act(peer);
        await peer.closed;
      } finally {
        peer.close();
      }
      const ok = new RawPeer(server.port);
      try {
        await ok.handshake();
        ok.write(request({ method: 'add', params: [2, 5] }));
        await ok.frame();
        assert.deepEqual(decodeValue((await ok.frame()).body), { result: 7 });
      } finally {
        ok.close();
      }
    });
  }
});
