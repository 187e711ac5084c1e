/**
 * Hostile bytes in both directions: a raw client against our server (it must answer or close
 * that connection, keep serving the others, and free what the connection held), and a raw
 * server against our client (each call must fail with a clear typed error, never hang).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import zlib from 'node:zlib';
import { calculator, calculatorContract, RpcError } from '../../src/contract/index.js';
import { dump, load, NotImplemented } from '../../src/protocols/rpyc/brine.js';
import { Handle, Label, Msg } from '../../src/protocols/rpyc/consts.js';
import { FrameDecoder } from '../../src/protocols/rpyc/framing.js';
import { connectRpyc, type RpycServer, serveRpyc } from '../../src/protocols/rpyc/index.js';
import { frame, RawPeer, rawServer, replyPayload } from './raw-peer.js';

function codeOf(e: unknown): string | undefined {
  return e instanceof RpcError ? e.code : undefined;
}

const request = (seq: number, handler: number, boxed: unknown): Buffer =>
  Buffer.concat([Buffer.of(Msg.REQUEST), dump([seq, [handler, boxed as never]])]);

/**
 * A zlib stream that would inflate to `mib` MiB of zeros: the zlib header, then one raw deflate
 * block of 1 MiB of zeros (sync-flushed, so byte-aligned and not final) repeated; each copy
 * decodes to the same zeros. About 1 KiB per MiB it stands for.
 */
function zlibBomb(mib: number): Buffer {
  const block = zlib.deflateRawSync(Buffer.alloc(1 << 20), {
    level: 9,
    finishFlush: zlib.constants.Z_SYNC_FLUSH,
  });
  return Buffer.concat([Buffer.of(0x78, 0xda), ...Array.from({ length: mib }, () => block)]);
}

/** A frame whose compressed flag is set, around the given (already compressed) bytes. */
function compressedFrame(body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(body.length, 0);
  head[4] = 1;
  return Buffer.concat([head, body, Buffer.of(0x0a)]);
}

const pingBody = (data: unknown) => [Label.VALUE, [data]];

describe('rpyc server: hostile requests', () => {
  let server: RpycServer;
  before(async () => {
    server = await serveRpyc(calculatorContract, calculator, { port: 0 });
  });
  after(async () => {
    await server.close();
  });

  async function stillServes(): Promise<void> {
    const c = await connectRpyc({ port: server.port, timeoutMs: 5_000 });
    try {
      assert.equal(await c.call('add', 2, 5), 7);
    } finally {
      await c.close();
    }
  }

  /** Every connection gone and everything it held freed (bounded wait for the close events). */
  async function drained(): Promise<void> {
    for (let i = 0; i < 1000 && server.stats().connections > 0; i++)
      await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(server.stats(), {
      connections: 0,
      localObjects: 0,
      remoteRefs: 0,
      pending: 0,
      unsentReplyBytes: 0,
    });
  }

  const closing: Array<[string, () => Buffer]> = [
    ['a compressed frame holding invalid zlib data', () => compressedFrame(Buffer.from('not zlib at all'))],
    [
      'a zlib bomb (4 GiB of zeros in 4 MiB), refused without inflating it all',
      () => compressedFrame(zlibBomb(4096)),
    ],
    [
      'a small compressed frame whose brine would allocate millions of objects',
      () => {
        // 5 million one-char strs: 15 MiB of brine (under the limit), 15 KiB compressed.
        const n = 5_000_000;
        const brine = Buffer.alloc(6 + 3 * n);
        brine.set([Msg.REQUEST, 0x15], 0);
        brine.writeUInt32BE(n, 2);
        for (let i = 0; i < n; i++) brine.set([0x08, 0x0a, 0x61], 6 + 3 * i);
        return compressedFrame(zlib.deflateSync(brine));
      },
    ],
    [
      'an int of a million digits',
      () =>
        frame(Buffer.concat([Buffer.of(Msg.REQUEST, 0x17, 0, 0x0f, 0x42, 0x40), Buffer.alloc(1e6, 0x31)])),
    ],
    ['truncated brine', () => frame(request(1, Handle.PING, pingBody('hello')).subarray(0, 8))],
    ['a message that is not a pair', () => frame(Buffer.concat([Buffer.of(Msg.REQUEST), dump([1, 2, 3])]))],
    ['an empty payload', () => frame(Buffer.alloc(0))],
  ];
  for (const [what, bytes] of closing) {
    it(`closes the connection on ${what}, and keeps serving others`, async () => {
      const peer = await RawPeer.connect(server.port);
      peer.socket.write(bytes());
      await peer.waitClosed();
      await stillServes();
      await drained();
    });
  }

  // rpyc reads its channel a frame at a time: requests framed ahead of a bad frame are answered
  // before the connection closes, however the bytes were split into TCP segments.
  const badAfterGood: Array<[string, () => Buffer]> = [
    [
      'a bad compression flag',
      () => {
        const bad = frame(request(3, Handle.PING, pingBody('never')));
        bad[4] = 7;
        return bad;
      },
    ],
    ['invalid zlib data', () => compressedFrame(Buffer.from('not zlib at all'))],
    [
      'an oversized frame whose start names no message',
      () => {
        const head = Buffer.alloc(5 + 64, 0xee);
        head.writeUInt32BE(16 * 1024 * 1024 + 1, 0);
        head[4] = 0;
        return head;
      },
    ],
  ];
  for (const [what, bad] of badAfterGood) {
    it(`answers the requests ahead of ${what} in the same chunk, then closes`, async () => {
      const peer = await RawPeer.connect(server.port);
      peer.socket.write(
        Buffer.concat([
          frame(request(1, Handle.PING, pingBody('one'))),
          frame(request(2, Handle.PING, pingBody('two'))),
          bad(),
        ]),
      );
      assert.deepEqual(await peer.next(), { msg: Msg.REPLY, seq: 1, body: [Label.VALUE, 'one'] });
      assert.deepEqual(await peer.next(), { msg: Msg.REPLY, seq: 2, body: [Label.VALUE, 'two'] });
      await peer.waitClosed();
      await drained();
    });
  }

  // Contract methods answer asynchronously; rpyc answers each request before reading the next.
  const addThen: Array<[string, () => Buffer]> = [
    ['a bad frame', () => compressedFrame(Buffer.from('not zlib at all'))],
    [
      'HANDLE_CLOSE (and nothing after it is answered)',
      () =>
        Buffer.concat([
          frame(request(2, Handle.CLOSE, [Label.VALUE, []])),
          frame(request(3, Handle.PING, pingBody('after close'))),
        ]),
    ],
  ];
  for (const [what, next] of addThen) {
    it(`answers a contract call (async) sent ahead of ${what} before closing, as rpyc would`, async () => {
      const peer = await RawPeer.connect(server.port);
      const root = await peer.getRoot(0);
      const add = request(1, Handle.CALLATTR, [
        Label.TUPLE,
        [
          [Label.LOCAL_REF, root],
          [Label.VALUE, 'add'],
          [Label.VALUE, [2, 5]],
          [Label.VALUE, []],
        ],
      ]);
      peer.socket.write(Buffer.concat([frame(add), next()]));
      assert.deepEqual(await peer.next(), { msg: Msg.REPLY, seq: 1, body: [Label.VALUE, 7] });
      await assert.rejects(peer.next(), /closed/);
      await drained();
    });
  }

  it('a frame announcing fewer bytes than it carries desynchronises only that connection', async () => {
    const peer = await RawPeer.connect(server.port);
    const ping = request(1, Handle.PING, pingBody('x'.repeat(100)));
    const lying = frame(ping);
    lying.writeUInt32BE(4, 0); // the rest reads as a frame header announcing ~1.5 GB: refused
    peer.socket.write(lying);
    await peer.waitClosed();
    await stillServes();
  });

  it("ignores the trailer byte's value, as rpyc does, and answers", async () => {
    const peer = await RawPeer.connect(server.port);
    const f = frame(request(1, Handle.PING, pingBody('hi')));
    f[f.length - 1] = 0x58;
    peer.socket.write(f);
    assert.deepEqual(await peer.next(), { msg: Msg.REPLY, seq: 1, body: [Label.VALUE, 'hi'] });
    peer.socket.destroy();
  });

  it('answers malformed but decodable requests with exceptions and keeps the connection', async () => {
    const peer = await RawPeer.connect(server.port);
    const root = await peer.getRoot(0);
    const attempts: Array<[string, number, unknown, string]> = [
      ['args that are not a box', Handle.PING, 5, 'ValueError'],
      ['an unknown box label', Handle.PING, [9, [1]], 'ValueError'],
      [
        'a malformed id pack in REMOTE_REF',
        Handle.PING,
        [Label.TUPLE, [[Label.REMOTE_REF, 7]]],
        'ValueError',
      ],
      [
        'GETATTR with an int name',
        Handle.GETATTR,
        [
          Label.TUPLE,
          [
            [Label.LOCAL_REF, root],
            [Label.VALUE, 42],
          ],
        ],
        'TypeError',
      ],
      [
        'GETATTR with a tuple name',
        Handle.GETATTR,
        [
          Label.TUPLE,
          [
            [Label.LOCAL_REF, root],
            [Label.VALUE, ['a']],
          ],
        ],
        'TypeError',
      ],
      [
        'CALL on an id never issued',
        Handle.CALL,
        [
          Label.TUPLE,
          [
            [Label.LOCAL_REF, ['x', 1, 987654]],
            [Label.VALUE, [1, 2]],
          ],
        ],
        'KeyError',
      ],
      [
        'CALL with a malformed id pack',
        Handle.CALL,
        [
          Label.TUPLE,
          [
            [Label.LOCAL_REF, 5],
            [Label.VALUE, []],
          ],
        ],
        'KeyError',
      ],
      [
        'DEL of an id never issued',
        Handle.DEL,
        [
          Label.TUPLE,
          [
            [Label.LOCAL_REF, ['x', 1, 987654]],
            [Label.VALUE, 1],
          ],
        ],
        'KeyError',
      ],
      [
        'DEL with a count of 2**100',
        Handle.DEL,
        [
          Label.TUPLE,
          [
            [Label.LOCAL_REF, root],
            [Label.VALUE, 2n ** 100n],
          ],
        ],
        'TypeError',
      ],
      [
        'DEL with a negative count',
        Handle.DEL,
        [
          Label.TUPLE,
          [
            [Label.LOCAL_REF, root],
            [Label.VALUE, -1],
          ],
        ],
        'TypeError',
      ],
      [
        'CALL with args that are not a tuple',
        Handle.CALLATTR,
        [
          Label.TUPLE,
          [
            [Label.LOCAL_REF, root],
            [Label.VALUE, 'add'],
            [Label.VALUE, 5],
            [Label.VALUE, []],
          ],
        ],
        'TypeError',
      ],
      [
        'CALL with malformed kwargs',
        Handle.CALLATTR,
        [
          Label.TUPLE,
          [
            [Label.LOCAL_REF, root],
            [Label.VALUE, 'add'],
            [Label.VALUE, [1, 2]],
            [Label.VALUE, [[1]]],
          ],
        ],
        'TypeError',
      ],
    ];
    let seq = 1;
    for (const [what, handler, boxed, pythonClass] of attempts) {
      peer.request(seq, handler, boxed);
      const reply = await peer.next();
      assert.equal(reply.msg, Msg.EXCEPTION, what);
      assert.equal(reply.seq, seq, what);
      assert.deepEqual((reply.body as unknown[])[0], ['builtins', pythonClass], what);
      seq++;
    }
    // A request body that is not (handler, args).
    peer.message(Msg.REQUEST, seq, 5);
    const notAPair = await peer.next();
    assert.equal(notAPair.seq, seq);
    assert.deepEqual((notAPair.body as unknown[])[0], ['builtins', 'TypeError']);
    seq++;
    // A reply, and an exception, for a request we never sent: ignored.
    peer.message(Msg.REPLY, 4242, [Label.VALUE, 1]);
    peer.message(Msg.EXCEPTION, 4243, 'not even a vinegar tuple');
    peer.request(seq, Handle.PING, pingBody('still here'));
    assert.deepEqual(await peer.next(), { msg: Msg.REPLY, seq, body: [Label.VALUE, 'still here'] });
    peer.socket.destroy();
    await drained();
  });

  it('50,000 references in one request are given back without a pending call each', async () => {
    const peer = await RawPeer.connect(server.port);
    const root = await peer.getRoot(0);
    const refs = Array.from({ length: 50_000 }, (_, i) => [Label.REMOTE_REF, ['evil.Thing', 7, i + 1]]);
    peer.request(1, Handle.CALLATTR, [
      Label.TUPLE,
      [
        [Label.LOCAL_REF, root],
        [Label.VALUE, 'add'],
        [Label.TUPLE, refs],
        [Label.VALUE, []],
      ],
    ]);
    const reply = await peer.next();
    assert.equal(reply.msg, Msg.EXCEPTION);
    assert.equal(server.stats().pending, 0, 'DELs are sent without waiting for answers');
    // Then one DEL per reference follows, as rpyc would send them.
    const del = await peer.next();
    assert.equal(del.msg, Msg.REQUEST);
    assert.equal((del.body as [number, unknown])[0], Handle.DEL);
    peer.socket.destroy();
    await drained();
  });

  it('a client that sends references and reads nothing is paused by the DELs it is owed', async () => {
    const peer = await RawPeer.connect(server.port);
    const root = await peer.getRoot(0);
    peer.socket.pause(); // read nothing
    const calls = 30;
    const perCall = 25_000; // ~1 MiB of DELs owed per call, 30 MiB in all
    for (let k = 0; k < calls; k++) {
      const refs = Array.from({ length: perCall }, (_, i) => [
        Label.REMOTE_REF,
        ['evil.Thing', 7, k * perCall + i + 1],
      ]);
      peer.request(k + 1, Handle.CALLATTR, [
        Label.TUPLE,
        [
          [Label.LOCAL_REF, root],
          [Label.VALUE, 'get_service_name'],
          [Label.TUPLE, refs],
          [Label.VALUE, []],
        ],
      ]);
    }
    // Unsent DELs count like unsent replies: the server stops reading instead of queueing them all.
    let peak = 0;
    for (let i = 0; i < 1500 && peak <= 4 * 1024 * 1024; i++) {
      await new Promise((r) => setTimeout(r, 10));
      peak = Math.max(peak, server.stats().unsentReplyBytes);
    }
    assert.ok(peak > 4 * 1024 * 1024, `the owed DELs reached the pause threshold (${peak})`);
    for (let i = 0; i < 20; i++) {
      await new Promise((r) => setTimeout(r, 10));
      peak = Math.max(peak, server.stats().unsentReplyBytes);
    }
    assert.ok(peak < 8 * 1024 * 1024, `the backlog stayed bounded (${peak} bytes)`);
    // Once the client reads, everything comes: every reply and one DEL per reference.
    peer.socket.resume();
    let replies = 0;
    let dels = 0;
    while (replies < calls || dels < calls * perCall) {
      const m = await peer.next();
      if (m.msg === Msg.REPLY) replies++;
      else if (m.msg === Msg.REQUEST && (m.body as [number])[0] === Handle.DEL) dels++;
    }
    assert.equal(replies, calls);
    assert.equal(dels, calls * perCall);
    peer.socket.destroy();
    await drained();
  });

  it('echoes any seq a request carries, as rpyc does (ints past 2**53, negative, str, None)', async () => {
    const peer = await RawPeer.connect(server.port);
    // rpyc replies with whatever seq the request had: it never does arithmetic on it.
    for (const seq of [2n ** 64n, 2n ** 53n + 1n, -(2n ** 70n), -1, 'x', null, 1.5]) {
      peer.message(Msg.REQUEST, seq, [Handle.PING, pingBody('hi')]);
      assert.deepEqual(await peer.next(), { msg: Msg.REPLY, seq, body: [Label.VALUE, 'hi'] }, String(seq));
    }
    // Replies and exceptions with such seqs match no request of ours: ignored, as rpyc ignores them.
    peer.message(Msg.REPLY, 2n ** 64n, [Label.VALUE, 1]);
    peer.message(Msg.EXCEPTION, 'x', 'whatever');
    peer.request(1, Handle.PING, pingBody('still here'));
    assert.deepEqual(await peer.next(), { msg: Msg.REPLY, seq: 1, body: [Label.VALUE, 'still here'] });
    peer.socket.destroy();
    await drained();
    await stillServes();
  });

  it("refuses a handler called with the wrong number of arguments with rpyc's TypeError", async () => {
    const peer = await RawPeer.connect(server.port);
    const root = await peer.getRoot(0);
    const ref = [Label.LOCAL_REF, root];
    const v = (x: unknown) => [Label.VALUE, x];
    // rpyc calls its handler with the unboxed args: a wrong count is Python's own TypeError.
    const wrong: Array<[string, number, unknown[]]> = [
      ['PING without data', Handle.PING, []],
      ['PING with two values', Handle.PING, [v(1), v(2)]],
      ['GETROOT with an argument', Handle.GETROOT, [v(1)]],
      ['CLOSE with an argument (not a close)', Handle.CLOSE, [v(1)]],
      ['GETATTR without a name', Handle.GETATTR, [ref]],
      ['CALL without args', Handle.CALL, [ref]],
      ['CALLATTR with five values', Handle.CALLATTR, [ref, v('add'), v([1, 2]), v([]), v(1)]],
      ['STR with two values', Handle.STR, [ref, v(1)]],
      ['CMP without other', Handle.CMP, [ref]],
      ['HASH without obj', Handle.HASH, []],
      ['DIR without obj', Handle.DIR, []],
      ['INSPECT without an id pack', Handle.INSPECT, []],
      ['INSTANCECHECK without other', Handle.INSTANCECHECK, [ref]],
      ['DEL with three values', Handle.DEL, [ref, v(1), v(1)]],
      ['PICKLE without proto', Handle.PICKLE, [ref]],
    ];
    let seq = 1;
    for (const [what, handler, args] of wrong) {
      peer.request(seq, handler, [Label.TUPLE, args]);
      const reply = await peer.next();
      assert.equal(reply.msg, Msg.EXCEPTION, what);
      assert.equal(reply.seq, seq, what);
      assert.deepEqual((reply.body as unknown[])[0], ['builtins', 'TypeError'], what);
      seq++;
    }
    // The optional ones, as rpyc's defaults: CALL's kwargs, CMP's op, DEL's count.
    peer.request(seq, Handle.CALLATTR, [Label.TUPLE, [ref, v('add'), v([2, 5])]]);
    assert.deepEqual(await peer.next(), { msg: Msg.REPLY, seq, body: [Label.VALUE, 7] });
    seq++;
    peer.request(seq, Handle.PING, pingBody('still here'));
    assert.deepEqual(await peer.next(), { msg: Msg.REPLY, seq, body: [Label.VALUE, 'still here'] });
    peer.socket.destroy();
    await drained();
  });

  it('OLDSLICING and CTXEXIT look their attribute up as rpyc does (AttributeError); DEL 0 is a no-op', async () => {
    const peer = await RawPeer.connect(server.port);
    const root = await peer.getRoot(0);
    const ref = [Label.LOCAL_REF, root];
    const v = (x: unknown) => [Label.VALUE, x];
    // rpyc's handlers fetch __getitem__/__getslice__ and __exit__ through the attribute check,
    // which refuses them on a service: an AttributeError, not a TypeError.
    const lookups: Array<[number, unknown[]]> = [
      [Handle.OLDSLICING, [ref, v('__getitem__'), v('__getslice__'), v(0), v(1), v([])]],
      [Handle.CTXEXIT, [ref, v(null)]],
    ];
    let seq = 1;
    for (const [handler, args] of lookups) {
      peer.request(seq, handler, [Label.TUPLE, args]);
      const reply = await peer.next();
      assert.equal(reply.msg, Msg.EXCEPTION);
      assert.deepEqual((reply.body as unknown[])[0], ['builtins', 'AttributeError']);
      seq++;
    }
    // rpyc's decref with a count of 0 changes nothing; the root is still there.
    peer.request(seq, Handle.DEL, [Label.TUPLE, [ref, v(0)]]);
    assert.deepEqual(await peer.next(), { msg: Msg.REPLY, seq, body: [Label.VALUE, null] });
    seq++;
    peer.request(seq, Handle.CALLATTR, [Label.TUPLE, [ref, v('add'), v([2, 5])]]);
    assert.deepEqual(await peer.next(), { msg: Msg.REPLY, seq, body: [Label.VALUE, 7] });
    peer.socket.destroy();
    await drained();
  });

  it("answers CMP as object's rich comparisons do, and refuses other operator names", async () => {
    const peer = await RawPeer.connect(server.port);
    const root = await peer.getRoot(0);
    const ref = [Label.LOCAL_REF, root];
    const v = (x: unknown) => [Label.VALUE, x];
    // type(obj).<op>(obj, other): object's __eq__/__ne__ decide only for the same object, and
    // say NotImplemented otherwise (Python then falls back to identity); the others never decide.
    const cases: Array<[unknown, string, unknown]> = [
      [ref, '__eq__', true],
      [ref, '__ne__', false],
      [v(5), '__eq__', NotImplemented],
      [v(5), '__ne__', NotImplemented],
      [ref, '__lt__', NotImplemented],
    ];
    let seq = 1;
    for (const [other, op, answer] of cases) {
      peer.request(seq, Handle.CMP, [Label.TUPLE, [ref, other, v(op)]]);
      assert.deepEqual(await peer.next(), { msg: Msg.REPLY, seq, body: [Label.VALUE, answer] }, op);
      seq++;
    }
    // rpyc checks the name like any attribute: '__init__' and py2's default '__cmp__' are refused.
    for (const args of [
      [ref, v(5), v('__init__')],
      [ref, v(5)],
    ]) {
      peer.request(seq, Handle.CMP, [Label.TUPLE, args]);
      const reply = await peer.next();
      assert.equal(reply.msg, Msg.EXCEPTION);
      assert.deepEqual((reply.body as unknown[])[0], ['builtins', 'AttributeError']);
      seq++;
    }
    peer.socket.destroy();
    await drained();
  });

  it('a well-formed request refused for its size (too many values, a huge int) fails alone', async () => {
    const peer = await RawPeer.connect(server.port);
    const root = await peer.getRoot(0);
    const callAdd = (seq: number, args: unknown) =>
      peer.request(seq, Handle.CALLATTR, [
        Label.TUPLE,
        [
          [Label.LOCAL_REF, root],
          [Label.VALUE, 'add'],
          [Label.VALUE, args],
          [Label.VALUE, []],
        ],
      ]);
    callAdd(
      300,
      Array.from({ length: 300_000 }, () => 'a'),
    );
    // An int of 5001 digits, spliced in by hand (our own dump refuses to write one).
    const withMarker = request(301, Handle.CALLATTR, [
      Label.TUPLE,
      [
        [Label.LOCAL_REF, root],
        [Label.VALUE, 'add'],
        [Label.VALUE, ['HUGE', 1]],
        [Label.VALUE, []],
      ],
    ]);
    const marker = withMarker.indexOf(Buffer.from('080d48554745', 'hex'));
    const hugeInt = Buffer.concat([Buffer.of(0x17, 0, 0, 0x13, 0x89), Buffer.from(`1${'0'.repeat(5000)}`)]);
    peer.sendPayload(
      Buffer.concat([withMarker.subarray(0, marker), hugeInt, withMarker.subarray(marker + 6)]),
    );
    for (const [seq, why] of [
      [300, /more than 262144 values/],
      [301, /more than 4300 digits/],
    ] as const) {
      const reply = await peer.next();
      assert.equal(reply.msg, Msg.EXCEPTION);
      assert.equal(reply.seq, seq);
      const [type, args] = reply.body as [unknown, [string]];
      assert.deepEqual(type, ['builtins', 'ValueError']);
      assert.match(args[0], why);
    }
    callAdd(302, [2, 5]);
    assert.deepEqual(await peer.next(), { msg: Msg.REPLY, seq: 302, body: [Label.VALUE, 7] });
    peer.socket.destroy();
    await drained();
  });

  it('a request nested deeper than we load (1024; rpyc dumps at most 498) fails alone', async () => {
    const peer = await RawPeer.connect(server.port);
    const ping = request(5, Handle.PING, pingBody(0)); // ends with the int 0 (0x50), 4 levels down
    // 1016 more levels (1020 deep, what rpyc could never send) still pass and echo back.
    peer.sendPayload(Buffer.concat([ping.subarray(0, -1), Buffer.alloc(1016, 0x10), Buffer.of(0x50)]));
    const echoed = await peer.next();
    assert.equal(echoed.msg, Msg.REPLY);
    let inner = (echoed.body as [unknown, unknown])[1];
    for (let i = 0; i < 1016; i++) inner = (inner as unknown[])[0];
    assert.equal(inner, 0);
    peer.sendPayload(Buffer.concat([ping.subarray(0, -1), Buffer.alloc(1100, 0x10), Buffer.of(0x50)]));
    const reply = await peer.next();
    assert.equal(reply.msg, Msg.EXCEPTION);
    assert.equal(reply.seq, 5);
    const [type, args] = reply.body as [unknown, [string]];
    assert.deepEqual(type, ['builtins', 'ValueError']);
    assert.match(args[0], /nesting deeper than 1024/);
    peer.request(6, Handle.PING, pingBody('still here'));
    assert.deepEqual(await peer.next(), { msg: Msg.REPLY, seq: 6, body: [Label.VALUE, 'still here'] });
    peer.socket.destroy();
    await drained();
  });

  it('a DEL with a huge count drops the object; a later GETROOT sends it again', async () => {
    const peer = await RawPeer.connect(server.port);
    const root = await peer.getRoot(0);
    assert.equal(server.stats().localObjects, 1);
    peer.request(1, Handle.DEL, [
      Label.TUPLE,
      [
        [Label.LOCAL_REF, root],
        [Label.VALUE, 2 ** 40],
      ],
    ]);
    assert.equal((await peer.next()).msg, Msg.REPLY);
    assert.equal(server.stats().localObjects, 0);
    peer.request(2, Handle.GETATTR, [
      Label.TUPLE,
      [
        [Label.LOCAL_REF, root],
        [Label.VALUE, 'add'],
      ],
    ]);
    assert.equal((await peer.next()).msg, Msg.EXCEPTION, 'the dropped root is no longer reachable');
    assert.deepEqual(await peer.getRoot(3), root);
    peer.socket.destroy();
    await drained();
  });

  it('a client that sends requests without reading replies is paused, then served in full', async () => {
    const peer = await RawPeer.connect(server.port);
    peer.socket.pause(); // read nothing
    const data = new Uint8Array(64 * 1024).map((_, i) => (i * 2654435761) >>> 24);
    const n = 500; // 32 MiB of replies
    for (let seq = 0; seq < n; seq++) peer.request(seq, Handle.PING, pingBody(data));
    // The server stops reading once 4 MiB of replies wait: its backlog stays bounded.
    let peak = 0;
    for (let i = 0; i < 1000 && peak <= 4 * 1024 * 1024; i++) {
      await new Promise((r) => setTimeout(r, 10));
      peak = Math.max(peak, server.stats().unsentReplyBytes);
    }
    assert.ok(peak > 4 * 1024 * 1024, `the backlog reached the pause threshold (${peak})`);
    for (let i = 0; i < 20; i++) {
      await new Promise((r) => setTimeout(r, 10));
      peak = Math.max(peak, server.stats().unsentReplyBytes);
    }
    assert.ok(peak < 6 * 1024 * 1024, `the backlog stayed bounded (${peak} bytes)`);
    peer.socket.resume();
    for (let seq = 0; seq < n; seq++) {
      const reply = await peer.next();
      assert.equal(reply.seq, seq);
      assert.deepEqual((reply.body as [number, Uint8Array])[1], data);
    }
    peer.socket.destroy();
    await drained();
  });

  it('a client that makes us call it back and never answers is refused past maxPendingCallbacks', async () => {
    // Each callback we wait on holds ~2 KB until it times out (30 s): 300,000 requests, sent in
    // 4 s by a client that reads nothing, held 555 MB. Past the cap a call fails at once instead.
    const capped = await serveRpyc(calculatorContract, calculator, {
      port: 0,
      maxPendingCallbacks: 5,
      extras: {
        apply: (fn: { call(...a: unknown[]): Promise<unknown> }, a: unknown, b: unknown) => fn.call(a, b),
      },
    });
    const peer = await RawPeer.connect(capped.port);
    try {
      const root = await peer.getRoot(0);
      const fn = [Label.REMOTE_REF, ['builtins.function', 7, 7]];
      for (let seq = 1; seq <= 8; seq++)
        peer.request(seq, Handle.CALLATTR, [
          Label.TUPLE,
          [
            [Label.LOCAL_REF, root],
            [Label.VALUE, 'apply'],
            [Label.TUPLE, [fn, [Label.VALUE, seq], [Label.VALUE, 0]]],
            [Label.VALUE, []],
          ],
        ]);
      const callbacks: Array<{ seq: unknown }> = [];
      const refused: unknown[] = [];
      while (callbacks.length + refused.length < 8) {
        const m = await peer.next();
        if (m.msg === Msg.REQUEST) {
          // A refused call gives the function reference back at once (DEL); the rest are CALLs.
          if ((m.body as [number])[0] === Handle.CALL) callbacks.push(m);
        } else {
          assert.equal(m.msg, Msg.EXCEPTION);
          const [type, , attrs] = m.body as [unknown, unknown, Array<[string, unknown]>];
          assert.deepEqual(type, ['builtins', 'ConnectionError']);
          assert.ok(attrs.some(([k, v]) => k === 'rpclab_code' && v === 'TRANSPORT'));
          refused.push(m.seq);
        }
      }
      assert.equal(callbacks.length, 5);
      assert.deepEqual(refused, [6, 7, 8]);
      assert.equal(capped.stats().pending, 5);
      // Answering the callbacks makes room again, and their calls complete.
      for (const cb of callbacks) peer.message(Msg.REPLY, cb.seq, [Label.VALUE, 'called']);
      const done: unknown[] = [];
      while (done.length < 5) {
        const m = await peer.next();
        if (m.msg === Msg.REPLY) done.push(m.seq);
      }
      assert.deepEqual(done.sort(), [1, 2, 3, 4, 5]);
      assert.equal(capped.stats().pending, 0);
    } finally {
      peer.socket.destroy();
      await capped.close();
    }
  });

  it('many connections opened, given objects, and abandoned: every count returns to zero', async () => {
    const peers = await Promise.all(Array.from({ length: 60 }, () => RawPeer.connect(server.port)));
    await Promise.all(
      peers.map(async (peer, i) => {
        if (i % 3 === 0) return; // some never say a word
        const root = await peer.getRoot(0);
        peer.request(1, Handle.GETATTR, [
          Label.TUPLE,
          [
            [Label.LOCAL_REF, root],
            [Label.VALUE, 'add'],
          ],
        ]);
        await peer.next();
        if (i % 3 === 2) peer.socket.write(Buffer.from('0000ffff00', 'hex')); // half a frame
      }),
    );
    assert.equal(server.stats().connections, 60);
    assert.equal(server.stats().localObjects, 80);
    for (const peer of peers) peer.socket.destroy();
    await drained();
    await stillServes();
  });
});

describe('rpyc client: a hostile server', () => {
  /** Runs one call against a raw server answering CALLATTR with `bytes(seq)`; returns the error. */
  async function callAgainst(
    bytes: (seq: number) => Buffer | undefined,
    options: { timeoutMs?: number; maxMessageBytes?: number } = {},
  ): Promise<{ error: unknown; closed: boolean }> {
    const server = await rawServer((req, socket) => {
      const b = bytes(req.seq);
      if (b !== undefined) socket.write(b);
    });
    const c = await connectRpyc({ port: server.port, timeoutMs: options.timeoutMs ?? 5_000, ...options });
    try {
      const error = await c.call('add', 2, 5).then(
        () => undefined,
        (e: unknown) => e,
      );
      return { error, closed: c.connection.closed };
    } finally {
      await c.close();
      await server.close();
    }
  }

  const cases: Array<[string, (seq: number) => Buffer | undefined, string, boolean]> = [
    ['a length prefix over the limit', () => Buffer.from('7fffffff00', 'hex'), 'MESSAGE_TOO_LARGE', true],
    ['invalid zlib data', () => compressedFrame(Buffer.from('garbage')), 'PROTOCOL', true],
    [
      'a zlib bomb (4 GiB of zeros in 4 MiB)',
      () => compressedFrame(zlibBomb(4096)),
      'MESSAGE_TOO_LARGE',
      true,
    ],
    ['an unknown message type', (seq) => frame(replyPayload(7, seq, [Label.VALUE, 7])), 'PROTOCOL', true],
    ['brine with an unknown tag', () => frame(Buffer.of(Msg.REPLY, 0x11, 0x20, 0x07)), 'PROTOCOL', true],
    [
      'truncated brine',
      (seq) => frame(replyPayload(Msg.REPLY, seq, [Label.VALUE, 'seven']).subarray(0, 6)),
      'PROTOCOL',
      true,
    ],
    [
      'a brine length past the frame',
      () => frame(Buffer.of(Msg.REPLY, 0x11, 0x20, 0x0f, 0xff, 0xff, 0xff, 0x00)),
      'PROTOCOL',
      true,
    ],
    [
      'deeply nested tuples whose seq cannot be read',
      () => frame(Buffer.concat([Buffer.of(Msg.REPLY), Buffer.alloc(5000, 0x10), Buffer.of(0x50)])),
      'PROTOCOL',
      true,
    ],
    [
      // Past our 1024 levels (rpyc itself dumps at most 498): too deep for us fails the call only.
      'a reply of tuples nested 1100 deep',
      (seq) => {
        const p = replyPayload(Msg.REPLY, seq, [Label.VALUE, 0]); // ends with the int 0 (0x50)
        return frame(Buffer.concat([p.subarray(0, -1), Buffer.alloc(1100, 0x10), Buffer.of(0x50)]));
      },
      'PROTOCOL',
      false,
    ],
    [
      'a malformed vinegar payload',
      (seq) => frame(replyPayload(Msg.EXCEPTION, seq, [1, 2, 3])),
      'PROTOCOL',
      false,
    ],
    [
      'a vinegar tuple of the wrong types',
      (seq) => frame(replyPayload(Msg.EXCEPTION, seq, [[1, 2], 'x', [], 5])),
      'PROTOCOL',
      false,
    ],
    [
      'a reply of more values than one message may hold',
      (seq) =>
        frame(replyPayload(Msg.REPLY, seq, [Label.VALUE, Array.from({ length: 300_000 }, () => 'a')]), true),
      'PROTOCOL',
      false,
    ],
    [
      'a reply with an unknown box label',
      (seq) => frame(replyPayload(Msg.REPLY, seq, [9, 7])),
      'PROTOCOL',
      false,
    ],
    [
      'a reply with a malformed id pack',
      (seq) => frame(replyPayload(Msg.REPLY, seq, [Label.REMOTE_REF, 'x'])),
      'PROTOCOL',
      false,
    ],
    [
      'a reply naming one of our objects we never sent',
      (seq) => frame(replyPayload(Msg.REPLY, seq, [Label.LOCAL_REF, ['x', 1, 99999]])),
      'NO_SUCH_METHOD',
      false,
    ],
  ];
  for (const [what, bytes, code, closes] of cases) {
    it(`${what}: the call fails with ${code}${closes ? ' and the connection closes' : ''}`, async () => {
      const { error, closed } = await callAgainst(bytes);
      assert.equal(codeOf(error), code, String(error));
      assert.equal(closed, closes);
    });
  }

  it('a server that closes mid-frame fails the call with TRANSPORT', async () => {
    const server = await rawServer((_req, socket) => {
      socket.write(Buffer.from('000000100001', 'hex'));
      socket.destroy();
    });
    const c = await connectRpyc({ port: server.port, timeoutMs: 5_000 });
    await assert.rejects(c.call('add', 2, 5), (e: unknown) => codeOf(e) === 'TRANSPORT');
    await c.close();
    await server.close();
  });

  it('replies arriving in another order than the calls, mixed with an exception, reach their own calls', async () => {
    const waiting: Array<{ seq: number; n: unknown }> = [];
    const server = await rawServer((req, socket) => {
      // CALLATTR(root, 'f', (n,), ()): hold the calls, then answer them last first, and the
      // middle one with an exception.
      if (req.handler !== Handle.CALLATTR) return; // CLOSE, at the end
      const n = ((req.args as [number, unknown[]])[1][2] as [number, unknown[]])[1][0];
      waiting.push({ seq: req.seq, n });
      if (waiting.length < 3) return;
      for (const w of waiting.reverse())
        socket.write(
          frame(
            w.n === 2
              ? replyPayload(Msg.EXCEPTION, w.seq, [['builtins', 'KeyError'], ['two'], [], 'KeyError: two'])
              : replyPayload(Msg.REPLY, w.seq, [Label.VALUE, `answer ${String(w.n)}`]),
          ),
        );
    });
    const c = await connectRpyc({ port: server.port, timeoutMs: 5_000 });
    try {
      const results = await Promise.allSettled([c.call('f', 1), c.call('f', 2), c.call('f', 3)]);
      assert.deepEqual(results[0], { status: 'fulfilled', value: 'answer 1' });
      assert.equal(results[1].status, 'rejected');
      assert.equal((results[1] as PromiseRejectedResult).reason.remoteType, 'KeyError');
      assert.deepEqual(results[2], { status: 'fulfilled', value: 'answer 3' });
    } finally {
      await c.close();
      await server.close();
    }
  });

  it('a reply followed by a corrupt frame in the same chunk still answers its call', async () => {
    const { error, closed } = await callAgainst((seq) =>
      Buffer.concat([
        frame(replyPayload(Msg.REPLY, seq, [Label.VALUE, 7])),
        compressedFrame(Buffer.from('garbage')),
      ]),
    );
    assert.equal(error, undefined);
    assert.equal(closed, true);
  });

  it('a reply for an unknown seq is ignored; the real call times out', async () => {
    const { error, closed } = await callAgainst(
      (seq) => frame(replyPayload(Msg.REPLY, seq + 1000, [Label.VALUE, 7])),
      {
        timeoutMs: 300,
      },
    );
    assert.equal(codeOf(error), 'TIMEOUT');
    assert.equal(closed, false);
  });

  it('a frame without its trailing newline is not taken as complete: TIMEOUT, not a hang', async () => {
    const { error } = await callAgainst(
      (seq) => frame(replyPayload(Msg.REPLY, seq, [Label.VALUE, 7])).subarray(0, -1),
      {
        timeoutMs: 300,
      },
    );
    assert.equal(codeOf(error), 'TIMEOUT');
  });

  it('requests from the server on our objects we never sent get exceptions, and the client lives on', async () => {
    const answers: Array<{ msg: number; seq: unknown; body: unknown }> = [];
    const decoder = new FrameDecoder(1 << 20);
    const server = await rawServer((req, socket) => {
      socket.on('data', (chunk: Buffer) => {
        for (const p of decoder.push(chunk)) {
          if (p[0] === Msg.REQUEST) continue;
          const [seq, body] = load(p.subarray(1)) as [unknown, unknown];
          answers.push({ msg: p[0]!, seq, body });
          if (answers.length === 3) socket.write(frame(replyPayload(Msg.REPLY, req.seq, [Label.VALUE, 7])));
        }
      });
      socket.write(
        frame(
          request(100, Handle.CALL, [
            Label.TUPLE,
            [
              [Label.LOCAL_REF, ['x', 1, 31337]],
              [Label.VALUE, []],
            ],
          ]),
        ),
      );
      socket.write(
        frame(
          request(101, Handle.DEL, [
            Label.TUPLE,
            [
              [Label.LOCAL_REF, ['x', 1, 31337]],
              [Label.VALUE, 10 ** 9],
            ],
          ]),
        ),
      );
      socket.write(frame(request(102, 77, [Label.VALUE, []])));
    });
    const c = await connectRpyc({ port: server.port, timeoutMs: 5_000 });
    try {
      assert.equal(await c.call('add', 2, 5), 7);
      assert.deepEqual(
        answers.map((a) => [a.msg, a.seq]),
        [
          [Msg.EXCEPTION, 100],
          [Msg.EXCEPTION, 101],
          [Msg.EXCEPTION, 102],
        ],
      );
    } finally {
      await c.close();
      await server.close();
    }
  });
});
