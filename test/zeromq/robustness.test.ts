/**
 * Bad input against the ROUTER server through real ZeroMQ sockets (raw TCP garbage is in
 * test/robustness): malformed msgpack, values that are not maps, missing or ill-typed
 * fields, extra frames, oversized messages, and peers that vanish mid-call. After each, the
 * server must still serve.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Dealer, Request } from 'zeromq';
import { calculator, calculatorContract, RpcError } from '../../src/contract/index.js';
import type { RunningServer } from '../../src/protocols/types.js';
import { connectZeromq, serveZeromq } from '../../src/protocols/zeromq/index.js';
import { decodeValue, encodeValue } from '../../src/protocols/zeromq/msgpack.js';

const LIMIT = 64 * 1024;

/** One request over a fresh REQ socket; the decoded reply. */
async function exchange(port: number, frame: Uint8Array | string): Promise<unknown> {
  const req = new Request({ linger: 0, receiveTimeout: 10_000 });
  req.connect(`tcp://127.0.0.1:${port}`);
  try {
    await req.send(frame);
    const [reply] = await req.receive();
    return decodeValue(reply!);
  } finally {
    req.close();
  }
}

async function stillServes(port: number): Promise<void> {
  const client = await connectZeromq(calculatorContract, { port, timeoutMs: 10_000 });
  try {
    assert.equal(await client.add(2, 5), 7);
  } finally {
    await client.close();
  }
}

function errorOf(reply: unknown): { code: string; message: string } {
  assert.ok(
    typeof reply === 'object' && reply !== null && 'error' in reply,
    `not an error: ${String(reply)}`,
  );
  return (reply as { error: { code: string; message: string } }).error;
}

describe('zeromq server robustness', () => {
  let server: RunningServer;
  before(async () => {
    server = await serveZeromq(calculatorContract, calculator, { port: 0, maxMessageBytes: LIMIT });
  });
  after(async () => {
    await server?.close();
  });

  it('malformed msgpack gets a PROTOCOL error reply', async () => {
    for (const bad of [
      Buffer.from([0xc1]),
      Buffer.from([0x82, 0xa6, 0x6d]),
      Buffer.alloc(0),
      'not msgpack {',
    ]) {
      const err = errorOf(await exchange(server.port, bad));
      assert.equal(err.code, 'PROTOCOL');
    }
    await stillServes(server.port);
  });

  it('a msgpack value that is not a map gets a PROTOCOL error', async () => {
    for (const value of [[2, 5], 7, 'add', null, Uint8Array.of(1, 2)]) {
      const err = errorOf(await exchange(server.port, encodeValue(value)));
      assert.equal(err.code, 'PROTOCOL');
      assert.match(err.message, /must be a msgpack map/);
    }
    await stillServes(server.port);
  });

  it('missing or ill-typed method and params', async () => {
    const cases: [unknown, string, RegExp][] = [
      [{ params: [2, 5] }, 'PROTOCOL', /string "method"/],
      [{ method: 7, params: [2, 5] }, 'PROTOCOL', /string "method"/],
      [
        { method: 'add', params: { a: 2, b: 5 } },
        'PROTOCOL',
        /must be an array .*named parameters are not supported/,
      ],
      [{ method: 'add', params: null }, 'PROTOCOL', /"params" must be an array$/],
      [{ method: 'add', params: 'x' }, 'PROTOCOL', /"params" must be an array/],
      [{ method: 'add' }, 'INVALID_ARGUMENT', /takes 2 argument/],
      [{ method: 'add', params: ['2', 5] }, 'INVALID_ARGUMENT', /32-bit integer/],
      [{ method: 'add', params: [2, 5, 6] }, 'INVALID_ARGUMENT', /takes 2 argument/],
      [{ method: 'echo', params: ['text, not bytes'] }, 'INVALID_ARGUMENT', /must be bytes/],
      [{ method: 'toString', params: [] }, 'NO_SUCH_METHOD', /toString/],
      [{ method: '__proto__', params: [] }, 'NO_SUCH_METHOD', /__proto__/],
    ];
    for (const [request, code, why] of cases) {
      const err = errorOf(await exchange(server.port, encodeValue(request)));
      assert.equal(err.code, code, `${JSON.stringify(request)}: ${err.message}`);
      assert.match(err.message, why);
    }
    await stillServes(server.port);
  });

  it('an error reply echoes the request id', async () => {
    const reply = await exchange(server.port, encodeValue({ method: 'nope', params: [], id: 'abc' }));
    assert.deepEqual(reply, {
      error: { code: 'NO_SUCH_METHOD', message: 'no such method: nope' },
      id: 'abc',
    });
  });

  it('a value nested deeper than 100 levels is refused before decoding, on every path', async () => {
    // 150 nested one-element arrays: past the encoder's depth limit, so such an id could not
    // be echoed; the request is refused as a whole (PROTOCOL, no id) before it is decoded.
    const deepId = Buffer.concat([Buffer.alloc(150, 0x91), Buffer.from([1])]);
    const request = (fields: Buffer[]) =>
      Buffer.concat([Buffer.from([0x80 | (fields.length / 2)]), ...fields]);
    const key = (k: string) => Buffer.from(encodeValue(k));
    const cases = [
      // a good call, a call the dispatcher refuses, and a request that fails to parse
      request([
        key('method'),
        key('add'),
        key('params'),
        Buffer.from(encodeValue([2, 5])),
        key('id'),
        deepId,
      ]),
      request([key('method'), key('nope'), key('params'), Buffer.from(encodeValue([])), key('id'), deepId]),
      request([key('method'), Buffer.from(encodeValue(7)), key('id'), deepId]),
      // deep params, and a bare deep value the size of the message limit
      request([key('method'), key('echo'), key('params'), Buffer.concat([Buffer.from([0x91]), deepId])]),
      Buffer.concat([Buffer.alloc(LIMIT - 1, 0x91), Buffer.from([0xc0])]),
    ];
    for (const bytes of cases) {
      const reply = await exchange(server.port, bytes);
      assert.equal(errorOf(reply).code, 'PROTOCOL');
      assert.match(errorOf(reply).message, /nested deeper than 100 levels/);
      assert.ok(!Object.hasOwn(reply as object, 'id'));
    }
    await stillServes(server.port);
  });

  it('a request split over several body frames gets a PROTOCOL error', async () => {
    const dealer = new Dealer({ linger: 0, receiveTimeout: 10_000 });
    dealer.connect(server.address);
    try {
      await dealer.send(['', encodeValue({ method: 'add' }), encodeValue({ params: [2, 5] })]);
      const frames = await dealer.receive();
      assert.equal(frames.length, 2, 'the delimiter comes back, then the body');
      assert.equal(errorOf(decodeValue(frames[1]!)).code, 'PROTOCOL');
    } finally {
      dealer.close();
    }
  });

  it('a DEALER that sends no delimiter frame is answered without one', async () => {
    const dealer = new Dealer({ linger: 0, receiveTimeout: 10_000 });
    dealer.connect(server.address);
    try {
      await dealer.send(encodeValue({ method: 'add', params: [2, 5], id: 1 }));
      const frames = await dealer.receive();
      assert.equal(frames.length, 1);
      assert.deepEqual(decodeValue(frames[0]!), { result: 7, id: 1 });
    } finally {
      dealer.close();
    }
  });

  it('a REQ with ZMQ_REQ_CORRELATE (request-id frame in the envelope) gets its replies', async () => {
    const req = new Request({ linger: 0, receiveTimeout: 10_000, correlate: true, relaxed: true });
    req.connect(server.address);
    try {
      for (const [a, b] of [
        [2, 5],
        [40, 2],
      ] as const) {
        await req.send(encodeValue({ method: 'add', params: [a, b] }));
        const [reply] = await req.receive();
        assert.deepEqual(decodeValue(reply!), { result: a + b });
      }
    } finally {
      req.close();
    }
  });

  it('an oversized message is dropped by the socket, and the server keeps serving', async () => {
    // A raw sender with no limit of its own: libzmq on the server side (ZMQ_MAXMSGSIZE)
    // drops the frame while decoding and disconnects the sender; nothing is answered.
    const dealer = new Dealer({ linger: 0, receiveTimeout: 1_000 });
    dealer.connect(server.address);
    try {
      const huge = encodeValue({ method: 'echo', params: [new Uint8Array(LIMIT * 2)], id: 1 });
      await dealer.send(['', huge]);
      await assert.rejects(dealer.receive(), (err: Error & { code?: string }) => err.code === 'EAGAIN');
    } finally {
      dealer.close();
    }
    await stillServes(server.port);
    // Our client knows the limit too (same option) and fails fast instead of waiting.
    const client = await connectZeromq(calculatorContract, {
      port: server.port,
      maxMessageBytes: LIMIT,
      timeoutMs: 10_000,
    });
    try {
      await assert.rejects(
        client.echo(new Uint8Array(LIMIT)),
        (err: unknown) => err instanceof RpcError && err.code === 'MESSAGE_TOO_LARGE',
      );
      assert.equal((await client.echo(new Uint8Array(LIMIT / 2))).byteLength, LIMIT / 2);
    } finally {
      await client.close();
    }
    // A client with a larger limit than the server's: the server's socket drops the request
    // and the connection. The client takes the disconnect for a lost reply and resends the
    // (idempotent) call on a fresh socket, `retries` times (not in a loop until the
    // deadline), then gives up with TRANSPORT.
    for (const variant of ['req', 'dealer'] as const) {
      const big = await connectZeromq(calculatorContract, {
        port: server.port,
        variant,
        timeoutMs: 20_000,
        retries: 2,
      });
      try {
        await assert.rejects(big.echo(new Uint8Array(LIMIT * 2)), (err: unknown) => {
          assert.ok(err instanceof RpcError && err.code === 'TRANSPORT', String(err));
          assert.match(err.message, /the peer disconnected .*resent 2 time\(s\) already/);
          return true;
        });
      } finally {
        await big.close();
      }
    }
    await stillServes(server.port);
  });

  it('a peer that sends 30,000 requests and never reads does not hold up other clients', async () => {
    // Its replies fill its pipe (receive high-water mark 10 on its side, 10,000 on ours);
    // the ROUTER then drops what it cannot route rather than wait, so the rest are served.
    const flood = new Dealer({ linger: 0, receiveHighWaterMark: 10 });
    flood.connect(server.address);
    try {
      const request = encodeValue({ method: 'echo', params: [new Uint8Array(1024)], id: 1 });
      for (let i = 0; i < 30_000; i++) await flood.send(['', request]);
      const client = await connectZeromq(calculatorContract, { port: server.port, timeoutMs: 2_000 });
      try {
        for (let i = 0; i < 20; i++) assert.equal(await client.add(i, 1), i + 1);
      } finally {
        await client.close();
      }
    } finally {
      flood.close();
    }
    await stillServes(server.port);
  });

  it('abrupt disconnects: peers that send and vanish, or close mid-reply', async () => {
    const sockets = Array.from({ length: 20 }, () => new Dealer({ linger: 0 }));
    await Promise.all(
      sockets.map(async (s, i) => {
        s.connect(server.address);
        const size = i % 2 === 0 ? 16 : LIMIT / 2;
        await s.send(['', encodeValue({ method: 'echo', params: [new Uint8Array(size)], id: i })]);
      }),
    );
    for (const s of sockets) s.close();
    // A REQ that gives up before its reply (the stuck-REQ situation, from the server's side).
    const req = new Request({ linger: 0 });
    req.connect(server.address);
    await req.send(encodeValue({ method: 'add', params: [1, 1] }));
    req.close();
    await stillServes(server.port);
  });
});

describe('zeromq on IPv6 loopback', () => {
  it('serves and calls on ::1, as the other protocols do (libzmq needs ZMQ_IPV6 for that)', async () => {
    const ipv6 = await new Promise<boolean>((resolve) => {
      const probe = net.createServer();
      probe.once('error', () => resolve(false));
      probe.listen(0, '::1', () => probe.close(() => resolve(true)));
    });
    if (!ipv6) {
      // A machine without IPv6 loopback cannot serve there: serving must fail, not hang or
      // pretend, which is the behaviour this machine can check.
      await assert.rejects(serveZeromq(calculatorContract, calculator, { host: '::1', port: 0 }));
      return;
    }
    const server = await serveZeromq(calculatorContract, calculator, { host: '::1', port: 0 });
    try {
      assert.equal(server.address, `tcp://[::1]:${server.port}`);
      for (const variant of ['req', 'dealer'] as const) {
        const client = await connectZeromq(calculatorContract, {
          host: '::1',
          port: server.port,
          variant,
          timeoutMs: 2_000,
        });
        try {
          assert.equal(await client.add(2, 5), 7);
        } finally {
          await client.close();
        }
      }
    } finally {
      await server.close();
    }
  });
});
