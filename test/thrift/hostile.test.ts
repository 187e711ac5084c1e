/**
 * Hostile Thrift frames beyond robustness.test.ts, from both sides: odd but legal headers
 * (non-strict binary), wrong version words, a reply sent to the server, mistyped fields,
 * over-long varints, abandoned connections; and a client facing a hostile server (garbage,
 * another seqid or method name, a 2^31 length, a reply of the wrong type). Every case ends in
 * a clear typed error or a closed connection, never a hang, and the server keeps serving.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { calculator, calculatorContract, RpcError } from '../../src/contract/index.js';
import { thrift } from '../../src/protocols/thrift/index.js';
import { serveThrift, type ThriftRunningServer } from '../../src/protocols/thrift/server.js';
import { binaryAdd, binaryCallHeader, compactCallHeader, framed, i16, i32, sendRaw, varint } from './raw.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function stillServes(port: number, variant = 'binary-buffered'): Promise<void> {
  const c = await thrift.connect(calculatorContract, { port, variant, timeoutMs: 10_000 });
  try {
    assert.equal(await c.add(2, 5), 7);
  } finally {
    await c.close();
  }
}

/** Reads a strict binary reply: type, name, seqid, and the offset of its body. */
function replyHeader(buf: Buffer): { type: number; name: string; seqid: number; body: number } {
  const version = buf.readInt32BE(0);
  const nameLength = buf.readInt32BE(4);
  const name = buf.subarray(8, 8 + nameLength).toString('utf8');
  return { type: version & 0xff, name, seqid: buf.readInt32BE(8 + nameLength), body: 12 + nameLength };
}

/** The message of a TApplicationException body (field 1 string, field 2 i32 type). */
function appException(buf: Buffer, at: number): { message: string; type: number } {
  let pos = at;
  let message = '';
  let type = -1;
  for (;;) {
    const ftype = buf[pos]!;
    if (ftype === 0) break;
    const fid = buf.readInt16BE(pos + 1);
    pos += 3;
    if (ftype === 11) {
      const n = buf.readInt32BE(pos);
      if (fid === 1) message = buf.subarray(pos + 4, pos + 4 + n).toString('utf8');
      pos += 4 + n;
    } else if (ftype === 8) {
      if (fid === 2) type = buf.readInt32BE(pos);
      pos += 4;
    } else throw new Error(`unexpected field type ${ftype}`);
  }
  return { message, type };
}

function addArgs(a: Buffer, b: Buffer): Buffer {
  return Buffer.concat([a, b, Buffer.from([0])]);
}
const i32Field = (id: number, v: number) => Buffer.concat([Buffer.from([8]), i16(id), i32(v)]);

describe('thrift server: hostile and unusual frames', () => {
  let server: ThriftRunningServer;
  before(async () => {
    server = await serveThrift(calculatorContract, calculator, {
      port: 0,
      variant: { encoding: 'binary', framed: false },
    });
  });
  after(async () => {
    await server?.close();
  });

  it('an old non-strict binary header (name length first) is understood, as other Thrift servers do', async () => {
    const name = Buffer.from('add');
    const call = Buffer.concat([
      i32(name.length),
      name,
      Buffer.from([1]), // CALL
      i32(42),
      addArgs(i32Field(1, 20), i32Field(2, 22)),
    ]);
    const out = await sendRaw(server.port, [call], 500);
    assert.ok(out.received.length > 0, 'no reply');
    const h = replyHeader(out.received);
    assert.deepEqual([h.type, h.name, h.seqid], [2, 'add', 42]);
    assert.equal(out.received.readInt32BE(out.received.length - 5), 42);
  });

  it('a wrong version word closes the connection', async () => {
    for (const version of [0x80020001, 0x80000001, 0xffff0001]) {
      const bad = Buffer.concat([i32(version | 0), i32(3), Buffer.from('add'), i32(1), Buffer.from([0])]);
      assert.ok((await sendRaw(server.port, [bad])).closed, version.toString(16));
    }
    await stillServes(server.port);
  });

  it('an unknown message type (0, 5, 0xff) closes the connection', async () => {
    for (const type of [0, 5, 0xff]) {
      const bad = Buffer.concat([
        i32(0x80010000 | type | 0),
        i32(3),
        Buffer.from('add'),
        i32(1),
        Buffer.from([0]),
      ]);
      assert.ok((await sendRaw(server.port, [bad])).closed, String(type));
    }
    await stillServes(server.port);
  });

  it('a REPLY or EXCEPTION sent to the server gets INVALID_MESSAGE_TYPE, and the connection goes on', async () => {
    for (const type of [2, 3]) {
      const reply = Buffer.concat([
        i32(0x80010000 | type | 0),
        i32(3),
        Buffer.from('add'),
        i32(9),
        Buffer.from([0]),
      ]);
      const out = await sendRaw(server.port, [reply, binaryAdd(1, 2, 10)], 500);
      assert.ok(!out.closed, `type ${type}: closed`);
      const h = replyHeader(out.received);
      assert.deepEqual([h.type, h.name, h.seqid], [3, 'add', 9]);
      const ex = appException(out.received, h.body);
      assert.equal(ex.type, 2, 'INVALID_MESSAGE_TYPE');
      assert.match(ex.message, /message type/);
      // ...and the call after it is answered.
      assert.equal(out.received.readInt32BE(out.received.length - 5), 3);
    }
  });

  it('a known field of an unexpected wire type is INVALID_ARGUMENT naming the field', async () => {
    const mistyped = Buffer.concat([
      binaryCallHeader('add', 5),
      Buffer.from([11]),
      i16(1),
      i32(3),
      Buffer.from('two'),
      i32Field(2, 5),
      Buffer.from([0]),
    ]);
    const out = await sendRaw(server.port, [mistyped], 500);
    assert.ok(!out.closed);
    const h = replyHeader(out.received);
    // add declares InvalidArgument: a REPLY whose result struct holds field 1 = InvalidArgument.
    assert.equal(h.type, 2);
    const text = out.received.subarray(h.body).toString('latin1');
    assert.match(text, /'a'.*string.*i32/);
  });

  it('a method name that is not valid UTF-8 gets UNKNOWN_METHOD', async () => {
    const name = Buffer.from([0xff, 0xfe, 0x41]);
    const call = Buffer.concat([i32(0x80010001 | 0), i32(name.length), name, i32(3), Buffer.from([0])]);
    const out = await sendRaw(server.port, [call], 500);
    assert.ok(!out.closed);
    const h = replyHeader(out.received);
    assert.equal(h.type, 3);
    assert.equal(appException(out.received, h.body).type, 1);
  });

  it('many connections opened and abandoned (idle, half a message, mid-frame) all get released', async () => {
    const opened: net.Socket[] = [];
    for (let i = 0; i < 60; i++) {
      const s = net.connect({ port: server.port, host: '127.0.0.1' });
      s.on('error', () => undefined);
      opened.push(s);
    }
    await Promise.all(opened.map((s) => new Promise((r) => s.once('connect', r))));
    opened.forEach((s, i) => {
      if (i % 3 === 1) s.write(binaryCallHeader('add'));
      if (i % 3 === 2) s.write(binaryAdd(1, 2).subarray(0, 9));
    });
    for (let i = 0; i < 50 && server.connectionCount < 60; i++) await sleep(10);
    assert.equal(server.connectionCount, 60);
    for (const s of opened) s.destroy();
    for (let i = 0; i < 200 && server.connectionCount > 0; i++) await sleep(10);
    assert.equal(server.connectionCount, 0, 'connections leaked');
    await stillServes(server.port);
  });

  it('a 4 MiB list of empty structs in an unknown field, sent in small chunks, is walked once and answered', async () => {
    // Each chunk used to restart the walk from the message start: O(n^2) for many small
    // elements (a 16 MiB list of empty structs gave no reply within 20 s; now ~3 s).
    const count = 4 * 1024 * 1024;
    const call = Buffer.concat([
      binaryCallHeader('add', 9),
      addArgs(i32Field(1, 20), i32Field(2, 22)).subarray(0, 14),
      Buffer.from([15]),
      i16(9),
      Buffer.from([12]),
      i32(count),
      Buffer.alloc(count, 0),
      Buffer.from([0]),
    ]);
    const chunks = Array.from({ length: Math.ceil(call.length / 16384) }, (_, i) =>
      call.subarray(i * 16384, (i + 1) * 16384),
    );
    // The add reply is 23 bytes: resolve as soon as it is in.
    const reply = await new Promise<Buffer>((resolve, reject) => {
      const s = net.connect({ port: server.port, host: '127.0.0.1' });
      let got = Buffer.alloc(0);
      s.on('data', (c: Buffer) => {
        got = Buffer.concat([got, c]);
        if (got.length >= 23) {
          s.destroy();
          resolve(got);
        }
      });
      s.on('error', reject);
      s.on('close', () => reject(new Error(`closed after ${got.length} bytes`)));
      s.on('connect', () => {
        for (const c of chunks) s.write(c);
      });
    });
    assert.equal(reply.readInt32BE(reply.length - 5), 42);
  });

  it('a client that never reads its replies does not stop others', async () => {
    const s = net.connect({ port: server.port, host: '127.0.0.1' });
    s.on('error', () => undefined);
    s.pause();
    await new Promise((r) => s.once('connect', r));
    const big = Buffer.alloc(1024 * 1024, 1);
    const echo = Buffer.concat([
      binaryCallHeader('echo', 1),
      Buffer.from([11]),
      i16(1),
      i32(big.length),
      big,
      Buffer.from([0]),
    ]);
    for (let i = 0; i < 16; i++) s.write(echo);
    await sleep(100);
    await stillServes(server.port);
    s.destroy();
  });
});

describe('thrift server: stalled messages', () => {
  it('a message left unfinished is dropped after messageTimeoutMs; an idle connection is kept', async () => {
    const server = await serveThrift(calculatorContract, calculator, {
      port: 0,
      variant: { encoding: 'binary', framed: true },
      messageTimeoutMs: 200,
    });
    try {
      const half = framed(binaryAdd(1, 2)).subarray(0, 10);
      const stalled = await sendRaw(server.port, [half], 3_000);
      assert.ok(stalled.closed, 'a half-sent message held the connection');
      // A connection with nothing pending stays open past the timeout.
      const idle = await sendRaw(server.port, [], 500);
      assert.ok(!idle.closed, 'an idle connection was dropped');
      // Slow but steady: each byte resets nothing, the whole message has the deadline.
      const whole = framed(binaryAdd(20, 22));
      const slow = net.connect({ port: server.port, host: '127.0.0.1' });
      slow.on('error', () => undefined);
      const closed = new Promise<boolean>((r) => slow.once('close', () => r(true)));
      await new Promise((r) => slow.once('connect', r));
      for (let i = 0; i < whole.length - 1 && !slow.destroyed; i++) {
        slow.write(whole.subarray(i, i + 1));
        await sleep(20);
      }
      assert.equal(await Promise.race([closed, sleep(1_000).then(() => false)]), true);
      slow.destroy();
      await stillServes(server.port, 'binary-framed');
    } finally {
      await server.close();
    }
  });
});

describe('thrift server: compact oddities', () => {
  let server: RunningServerLike;
  interface RunningServerLike {
    port: number;
    close(): Promise<void>;
  }
  before(async () => {
    server = await thrift.serve(calculatorContract, calculator, { port: 0, variant: 'compact-buffered' });
  });
  after(async () => {
    await server?.close();
  });

  it('a varint longer than 10 bytes in an i64 field, or than 5 in an i32, closes the connection', async () => {
    // Field 1, type I64 (6): 11 continuation bytes.
    const i64Field = Buffer.concat([
      compactCallHeader('add'),
      Buffer.from([0x16]),
      Buffer.alloc(11, 0x80),
      Buffer.from([0]),
    ]);
    assert.ok((await sendRaw(server.port, [i64Field])).closed);
    const i32Value = Buffer.concat([
      compactCallHeader('add'),
      Buffer.from([0x15]),
      Buffer.alloc(6, 0x80),
      Buffer.from([1, 0]),
    ]);
    assert.ok((await sendRaw(server.port, [i32Value])).closed);
    // A seqid varint of 6 bytes.
    const seq = Buffer.concat([
      Buffer.from([0x82, 0x21]),
      Buffer.alloc(6, 0xff),
      varint(3),
      Buffer.from('add'),
      Buffer.from([0]),
    ]);
    assert.ok((await sendRaw(server.port, [seq])).closed);
    await stillServes(server.port, 'compact-buffered');
  });
});

/** A fake Thrift server: answers each received chunk with `reply(chunk)` (or nothing). */
async function fakeServer(reply: (chunk: Buffer, socket: net.Socket) => void) {
  const sockets = new Set<net.Socket>();
  const srv = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('data', (c: Buffer) => reply(c, s));
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return {
    port: (srv.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        srv.close(() => r());
      }),
  };
}

/** The seqid of a strict binary call (buffered). */
const seqOf = (call: Buffer) => replyHeader(call).seqid;

function binaryReply(name: string, seqid: number, body: Buffer, type = 2): Buffer {
  const n = Buffer.from(name);
  return Buffer.concat([i32(0x80010000 | type | 0), i32(n.length), n, i32(seqid), body]);
}

async function expectCode(promise: Promise<unknown>, codes: string[]): Promise<RpcError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof RpcError, `expected an RpcError, got ${String(err)}`);
    assert.ok(codes.includes(err.code), `expected ${codes.join('/')}, got ${err.code}: ${err.message}`);
    return err;
  }
  assert.fail(`expected ${codes.join('/')}`);
}

describe('thrift client: hostile replies', () => {
  const cases: { name: string; codes: string[]; reply: (call: Buffer) => Buffer }[] = [
    { name: 'garbage', codes: ['PROTOCOL'], reply: () => Buffer.from('HTTP/1.1 400 Bad Request\r\n\r\n') },
    {
      name: 'a reply to another seqid',
      codes: ['PROTOCOL'],
      reply: (call) => binaryReply('add', seqOf(call) + 1000, addArgs(i32Field(0, 7), Buffer.alloc(0))),
    },
    {
      name: 'a reply naming another method',
      codes: ['PROTOCOL'],
      reply: (call) => binaryReply('divide', seqOf(call), addArgs(i32Field(0, 7), Buffer.alloc(0))),
    },
    {
      name: 'a string length of 2^31-1',
      codes: ['MESSAGE_TOO_LARGE', 'PROTOCOL'],
      reply: (call) =>
        binaryReply('add', seqOf(call), Buffer.concat([Buffer.from([11]), i16(0), i32(2 ** 31 - 1)])),
    },
    {
      name: 'a method name length of 2^31-1',
      codes: ['MESSAGE_TOO_LARGE', 'PROTOCOL'],
      reply: () => Buffer.concat([i32(0x80010002 | 0), i32(2 ** 31 - 1), Buffer.from('add')]),
    },
    {
      name: 'a CALL instead of a reply',
      codes: ['PROTOCOL'],
      reply: (call) => binaryReply('add', seqOf(call), addArgs(i32Field(1, 7), Buffer.alloc(0)), 1),
    },
    {
      name: 'a result of the wrong type (string for i32)',
      codes: ['PROTOCOL'],
      reply: (call) =>
        binaryReply(
          'add',
          seqOf(call),
          Buffer.concat([Buffer.from([11]), i16(0), i32(1), Buffer.from('7'), Buffer.from([0])]),
        ),
    },
    {
      name: 'a truncated reply, then the connection closes',
      codes: ['TRANSPORT'],
      reply: (call) => binaryReply('add', seqOf(call), Buffer.from([8, 0])),
    },
  ];

  for (const { name, codes, reply } of cases) {
    it(`${name}: the call fails with ${codes.join('/')}, quickly, and the client recovers`, async () => {
      const close = name.startsWith('a truncated');
      const fake = await fakeServer((chunk, s) => {
        s.write(reply(chunk));
        if (close) s.end();
      });
      const c = await thrift.connect(calculatorContract, { port: fake.port, timeoutMs: 5_000 });
      try {
        const started = Date.now();
        await expectCode(c.add(3, 4), codes);
        assert.ok(Date.now() - started < 4_000, 'the call waited for its timeout');
      } finally {
        await c.close();
        await fake.close();
      }
    });
  }

  it('framed and compact clients fail fast too (2^31-1 frame, negative frame, garbage)', async () => {
    const replies: [string, Buffer, string[]][] = [
      ['binary-framed', i32(2 ** 31 - 1), ['MESSAGE_TOO_LARGE']],
      ['binary-framed', i32(-1), ['PROTOCOL']],
      ['compact-framed', framed(Buffer.from('not a compact message at all')), ['PROTOCOL']],
      [
        'compact-buffered',
        Buffer.from([0x82, 0x41, 0x01, 0xff, 0xff, 0xff, 0xff, 0x0f]),
        ['PROTOCOL', 'MESSAGE_TOO_LARGE'],
      ],
    ];
    for (const [variant, bytes, codes] of replies) {
      const fake = await fakeServer((_chunk, s) => s.write(bytes));
      const c = await thrift.connect(calculatorContract, { port: fake.port, variant, timeoutMs: 5_000 });
      try {
        const started = Date.now();
        await expectCode(c.add(3, 4), codes);
        assert.ok(Date.now() - started < 4_000, `${variant}: the call waited for its timeout`);
      } finally {
        await c.close();
        await fake.close();
      }
    }
  });

  it('a reply stalled mid-message does not poison the connection: later calls reconnect', async () => {
    let calls = 0;
    const fake = await fakeServer((chunk, s) => {
      calls++;
      // First call: a reply whose result string claims 1000 bytes, of which 3 arrive.
      if (calls === 1)
        s.write(
          binaryReply(
            'add',
            seqOf(chunk),
            Buffer.concat([Buffer.from([11]), i16(0), i32(1000), Buffer.from('abc')]),
          ),
        );
      else s.write(binaryReply('add', seqOf(chunk), addArgs(i32Field(0, 7), Buffer.alloc(0))));
    });
    const c = await thrift.connect(calculatorContract, { port: fake.port, timeoutMs: 1_000 });
    try {
      await expectCode(c.add(3, 4), ['TIMEOUT', 'PROTOCOL']);
      await sleep(1_100); // the stalled reply has now failed that connection
      assert.equal(await c.add(3, 4), 7);
    } finally {
      await c.close();
      await fake.close();
    }
  });

  it('a server that accepts and never answers gives TIMEOUT', async () => {
    const fake = await fakeServer(() => undefined);
    const c = await thrift.connect(calculatorContract, { port: fake.port, timeoutMs: 200 });
    try {
      await expectCode(c.add(1, 2), ['TIMEOUT']);
    } finally {
      await c.close();
      await fake.close();
    }
  });

  it('a late reply to a timed-out call is still dropped quietly (not a protocol error)', async () => {
    let first: Buffer | undefined;
    const fake = await fakeServer((chunk, s) => {
      if (!first) {
        first = chunk; // answer it only with the second call's reply
        return;
      }
      s.write(binaryReply('add', seqOf(first), addArgs(i32Field(0, 3), Buffer.alloc(0))));
      s.write(binaryReply('add', seqOf(chunk), addArgs(i32Field(0, 7), Buffer.alloc(0))));
    });
    const c = await thrift.connect(calculatorContract, { port: fake.port, timeoutMs: 1_000 });
    try {
      await expectCode(c.add(1, 2), ['TIMEOUT']);
      assert.equal(await c.add(3, 4), 7);
    } finally {
      await c.close();
      await fake.close();
    }
  });
});

describe('thrift server: why a connection was dropped', () => {
  it('each dropped connection is reported once, with the reason and the peer; a peer closing is not', async () => {
    const reports: { code: string; message: string; peer: string }[] = [];
    const server = await serveThrift(calculatorContract, calculator, {
      port: 0,
      variant: { encoding: 'binary', framed: true },
      messageTimeoutMs: 600,
      onConnectionError: (err, peer) => reports.push({ code: err.code, message: err.message, peer }),
    });
    try {
      assert.ok((await sendRaw(server.port, [i32(-5)])).closed);
      assert.ok((await sendRaw(server.port, [i32(2 ** 31 - 1)])).closed);
      assert.ok((await sendRaw(server.port, [framed(binaryAdd(1, 2)).subarray(0, 10)], 5_000)).closed);
      // A peer that sends half a message and leaves on its own is not the server's doing.
      await sendRaw(server.port, [framed(binaryAdd(1, 2)).subarray(0, 10)], 20);
      await stillServes(server.port, 'binary-framed');
      await sleep(700); // past messageTimeoutMs: the abandoned half message must not report late
      assert.deepEqual(
        reports.map((r) => r.code),
        ['PROTOCOL', 'MESSAGE_TOO_LARGE', 'PROTOCOL'],
      );
      assert.match(reports[0]!.message, /negative frame size -5/);
      assert.match(reports[2]!.message, /unfinished for 600 ms \(10 bytes of it received\)/);
      for (const r of reports) assert.match(r.peer, /^127\.0\.0\.1:\d+$/);
    } finally {
      await server.close();
    }
  });
});
