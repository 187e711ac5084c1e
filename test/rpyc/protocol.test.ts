/**
 * The RPyC protocol between our own client and server: callbacks, references and their
 * release, attribute refusal, exceptions, timeouts, and hostile bytes on a raw socket.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it, mock } from 'node:test';
import v8 from 'node:v8';
import vm from 'node:vm';
import {
  calculator,
  calculatorContract,
  DivideByZeroError,
  NoSuchMethodError,
  RpcError,
} from '../../src/contract/index.js';
import { dump } from '../../src/protocols/rpyc/brine.js';
import { Handle, Label, Msg } from '../../src/protocols/rpyc/consts.js';
import { encodeFrame } from '../../src/protocols/rpyc/framing.js';
import {
  asMethods,
  connectRpyc,
  expose,
  RemoteRef,
  type RpycServer,
  serveRpyc,
} from '../../src/protocols/rpyc/index.js';
import { RawPeer } from './raw-peer.js';

function codeOf(e: unknown): string | undefined {
  return e instanceof RpcError ? e.code : undefined;
}

describe('rpyc: our client against our server', () => {
  let server: RpycServer;
  before(async () => {
    server = await serveRpyc(calculatorContract, calculator, {
      port: 0,
      // Callbacks must answer within this; generous, since a loaded CI machine can stall a while.
      timeoutMs: 2_000,
      extras: {
        apply: (fn: RemoteRef, a: unknown, b: unknown) => fn.call(a, b),
        twice: async (fn: RemoteRef, x: unknown) => fn.call(await fn.call(x)),
        huge: () => 10n ** 5000n,
        counter: () => {
          let n = 0;
          return expose('Counter', { increment: (by: number) => (n += by), value: () => n });
        },
      },
    });
  });
  after(async () => {
    await server.close();
  });

  it('the server calls TypeScript callbacks back, also nested and concurrently', async () => {
    const c = await connectRpyc({ port: server.port, timeoutMs: 5_000 });
    try {
      assert.equal(await c.call('apply', (a: number, b: number) => a * b, 6, 7), 42);
      assert.equal(await c.call('twice', (x: number) => x + 1, 1), 3);
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, i) => c.call('apply', async (a: number, b: number) => a + b, i, i)),
      );
      assert.deepEqual(
        results,
        Array.from({ length: 50 }, (_, i) => 2 * i),
      );
      // Every callback reference the server took was given back (its DELs follow each reply, so
      // they have all arrived once a later round trip completes).
      await c.ping();
      assert.equal(c.stats().localObjects, 0);
    } finally {
      await c.close();
    }
  });

  it('keyword arguments to an extra are refused as Python does: a TypeError (INVALID_ARGUMENT)', async () => {
    const peer = await RawPeer.connect(server.port);
    try {
      const root = await peer.getRoot(0);
      peer.request(1, Handle.CALLATTR, [
        Label.TUPLE,
        [
          [Label.LOCAL_REF, root],
          [Label.VALUE, 'apply'],
          [Label.VALUE, []],
          [Label.VALUE, [['a', 1]]],
        ],
      ]);
      const reply = await peer.next();
      assert.equal(reply.msg, Msg.EXCEPTION);
      const [type, args, attrs] = reply.body as [unknown, [string], Array<[string, unknown]>];
      assert.deepEqual(type, ['builtins', 'TypeError']);
      assert.equal(args[0], 'apply() takes no keyword arguments');
      assert.deepEqual(
        attrs.find(([k]) => k === 'rpclab_code'),
        ['rpclab_code', 'INVALID_ARGUMENT'],
      );
    } finally {
      peer.socket.destroy();
    }
  });

  it('an exposed object returned by reference: its methods are callable, and DEL drops it', async () => {
    const c = await connectRpyc({ port: server.port, timeoutMs: 5_000 });
    try {
      await c.root();
      const before = server.stats().localObjects;
      const counter = (await c.call('counter')) as RemoteRef;
      assert.equal(counter.typeName, 'rpclab.Counter');
      const methods = asMethods<{ increment(by: number): Promise<number>; value(): Promise<number> }>(
        counter,
      );
      await methods.increment(2);
      await methods.increment(3);
      assert.equal(await methods.value(), 5);
      await assert.rejects(counter.callAttr('reset'), NoSuchMethodError);
      assert.equal(server.stats().localObjects, before + 1);
      await counter.release();
      assert.equal(server.stats().localObjects, before);
    } finally {
      await c.close();
    }
  });

  it('a callback that never answers makes the server call TIMEOUT, reported to the caller', async () => {
    const c = await connectRpyc({ port: server.port, timeoutMs: 5_000 });
    try {
      await assert.rejects(
        c.call('apply', () => new Promise(() => undefined), 1, 2),
        (e: unknown) => codeOf(e) === 'TIMEOUT',
      );
    } finally {
      await c.close();
    }
  });

  it('by default the server waits for a callback as long as rpyc does (sync_request_timeout, 30 s)', async () => {
    const plain = await serveRpyc(calculatorContract, calculator, {
      port: 0,
      extras: { apply: (fn: RemoteRef, a: unknown, b: unknown) => fn.call(a, b) },
    });
    const peer = await RawPeer.connect(plain.port);
    try {
      const root = await peer.getRoot(0);
      // Our timers only: the callback request's timeout is created after this.
      mock.timers.enable({ apis: ['setTimeout'] });
      peer.request(1, Handle.CALLATTR, [
        Label.TUPLE,
        [
          [Label.LOCAL_REF, root],
          [Label.VALUE, 'apply'],
          [
            Label.TUPLE,
            [
              [Label.REMOTE_REF, ['builtins.function', 7, 7]],
              [Label.VALUE, 1],
              [Label.VALUE, 2],
            ],
          ],
          [Label.VALUE, []],
        ],
      ]);
      const callback = await peer.next();
      assert.equal(callback.msg, Msg.REQUEST);
      assert.equal(plain.stats().pending, 1);
      mock.timers.tick(29_000);
      assert.equal(plain.stats().pending, 1, 'still waiting after 29 s (rpyc waits 30 s)');
      mock.timers.tick(1_001);
      assert.equal(plain.stats().pending, 0);
      const answer = await peer.next();
      assert.equal(answer.msg, Msg.EXCEPTION);
      assert.equal(answer.seq, 1);
      assert.deepEqual((answer.body as unknown[])[0], ['builtins', 'TimeoutError']);
    } finally {
      mock.timers.reset();
      peer.socket.destroy();
      await plain.close();
    }
  });

  it("the root's service names and dir() are rpyc.Service's, for the class name Python sees", async () => {
    const named = await serveRpyc(calculatorContract, calculator, { port: 0, serviceName: 'MathService' });
    const c = await connectRpyc({ port: named.port, timeoutMs: 5_000 });
    try {
      const root = await c.root();
      assert.equal(root.typeName, 'rpclab.MathService');
      // rpyc: the class name upper-cased, less a trailing SERVICE.
      assert.equal(await root.callAttr('get_service_name'), 'MATH');
      assert.deepEqual(await root.callAttr('get_service_aliases'), ['MATH']);
      // A Service's dir() lists both names of the two classmethods, and exposed_ ones for the rest.
      assert.deepEqual(await root.dir(), [
        'exposed_add',
        'exposed_divide',
        'exposed_echo',
        'exposed_get_service_aliases',
        'exposed_get_service_name',
        'get_service_aliases',
        'get_service_name',
      ]);
    } finally {
      await c.close();
      await named.close();
    }
  });

  it('GETATTR hands out a bound method reference that DEL removes from the table', async () => {
    const c = await connectRpyc({ port: server.port, timeoutMs: 5_000 });
    try {
      const root = await c.root();
      assert.equal(root.typeName, 'rpclab.CalculatorService');
      assert.deepEqual((await root.inspect()).sort(), [
        'exposed_add',
        'exposed_apply',
        'exposed_counter',
        'exposed_divide',
        'exposed_echo',
        'exposed_get_service_aliases',
        'exposed_get_service_name',
        'exposed_huge',
        'exposed_twice',
      ]);
      const before = server.stats().localObjects;
      const add = await root.getAttr('add');
      assert.ok(add instanceof RemoteRef);
      assert.equal(add.typeName, 'builtins.method');
      assert.equal(server.stats().localObjects, before + 1);
      assert.equal(await add.call(2, 5), 7);
      // f"{root.add}" in Python: __format__ with an empty spec is str().
      assert.equal(await add.callAttr('__format__', ''), '<bound method CalculatorService.add>');
      await assert.rejects(
        add.callAttr('__format__', '>20'),
        (e: unknown) => codeOf(e) === 'INVALID_ARGUMENT',
      );
      assert.equal(await add.callWithKeywords([], { a: 1, b: 2 }), 3);
      assert.equal(await await root.getAttr('exposed_add'), add, 'the same reference comes back');
      await add.release();
      assert.equal(server.stats().localObjects, before);
      assert.equal(await root.callAttr('get_service_name'), 'CALCULATOR');
      assert.equal(await root.str(), '<rpclab.CalculatorService object>');
    } finally {
      await c.close();
    }
  });

  it('a reference dropped without release() is given back (DEL) once garbage-collected', async () => {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const c = await connectRpyc({ port: server.port, timeoutMs: 5_000 });
    try {
      const root = await c.root();
      const before = server.stats().localObjects;
      await (async () => {
        const add = (await root.getAttr('divide')) as RemoteRef;
        assert.equal(await add.call(1, 4), 0.25);
      })();
      assert.equal(server.stats().localObjects, before + 1);
      for (let i = 0; i < 50 && server.stats().localObjects > before; i++) {
        gc();
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal(server.stats().localObjects, before);
    } finally {
      await c.close();
    }
  });

  it('refuses every attribute that is not an exposed method', async () => {
    const c = await connectRpyc({ port: server.port, timeoutMs: 5_000 });
    try {
      const root = await c.root();
      for (const name of [
        '__class__',
        '_private',
        '__dict__',
        'constructor',
        '__proto__',
        'toString',
        'exposed_',
      ]) {
        await assert.rejects(root.getAttr(name), (e: unknown) => {
          assert.ok(e instanceof NoSuchMethodError, `${name}: ${String(e)}`);
          assert.equal(e.remoteType, 'AttributeError');
          return true;
        });
      }
      const add = (await root.getAttr('add')) as RemoteRef;
      await assert.rejects(add.getAttr('__self__'), NoSuchMethodError);
      await assert.rejects(root.setAttr('x', 1), NoSuchMethodError);
      await assert.rejects(root.call(), (e: unknown) => codeOf(e) === 'INVALID_ARGUMENT');
    } finally {
      await c.close();
    }
  });

  it('typed errors cross as Python exceptions and come back typed', async () => {
    const c = await connectRpyc({ port: server.port, timeoutMs: 5_000 });
    try {
      await assert.rejects(c.call('divide', 1, 0), (e: unknown) => {
        assert.ok(e instanceof DivideByZeroError);
        assert.equal(e.remoteType, 'ZeroDivisionError');
        return true;
      });
      await assert.rejects(c.call('add', 'x', 1), (e: unknown) => codeOf(e) === 'INVALID_ARGUMENT');
      await assert.rejects(c.call('add', 1), (e: unknown) => codeOf(e) === 'INVALID_ARGUMENT');
      await assert.rejects(c.call('add', { a: 1 }, 1), (e: unknown) => codeOf(e) === 'INVALID_ARGUMENT');
    } finally {
      await c.close();
    }
  });

  it('a result that cannot be written (an int Python would refuse) is still answered, as an error', async () => {
    const c = await connectRpyc({ port: server.port, timeoutMs: 5_000 });
    try {
      await assert.rejects(
        c.call('huge'),
        (e: unknown) => e instanceof RpcError && /4300 digits/.test(e.message),
      );
      assert.equal(await c.call('add', 2, 5), 7);
    } finally {
      await c.close();
    }
  });

  it('close() fails pending calls with TRANSPORT', async () => {
    const c = await connectRpyc({ port: server.port, timeoutMs: 5_000 });
    const pending = c.call('apply', () => new Promise(() => undefined), 1, 2);
    // Handled at once: the server may answer it (failing the callback it waits on) before close()
    // returns, as rpyc answers what came before a HANDLE_CLOSE.
    const failed = pending.then(
      () => undefined,
      (e: unknown) => e,
    );
    await new Promise((r) => setTimeout(r, 20));
    await c.close();
    assert.equal(codeOf(await failed), 'TRANSPORT');
  });
});

describe('rpyc server: hostile and odd input on a raw socket', () => {
  let server: RpycServer;
  before(async () => {
    server = await serveRpyc(calculatorContract, calculator, { port: 0, maxMessageBytes: 64 * 1024 });
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

  it('answers a well-formed raw GETROOT + CALLATTR exactly as rpyc would', async () => {
    const peer = await RawPeer.connect(server.port);
    peer.request(0, Handle.GETROOT, [Label.VALUE, []]);
    const root = await peer.next();
    assert.equal(root.msg, Msg.REPLY);
    const [label, idPack] = root.body as [number, [string, number, number]];
    assert.equal(label, Label.REMOTE_REF);
    assert.equal(idPack[0], 'rpclab.CalculatorService');
    peer.request(1, Handle.CALLATTR, [
      Label.TUPLE,
      [
        [Label.LOCAL_REF, idPack],
        [Label.VALUE, 'add'],
        [Label.VALUE, [2, 5]],
        [Label.VALUE, []],
      ],
    ]);
    assert.deepEqual(await peer.next(), { msg: Msg.REPLY, seq: 1, body: [Label.VALUE, 7] });
    peer.request(2, Handle.PING, [Label.VALUE, ['hello']]);
    assert.deepEqual(await peer.next(), { msg: Msg.REPLY, seq: 2, body: [Label.VALUE, 'hello'] });
    peer.socket.destroy();
  });

  it('answers an unknown handler and an unknown object id with an exception, and keeps the connection', async () => {
    const peer = await RawPeer.connect(server.port);
    peer.request(5, 99, [Label.VALUE, []]);
    const a = await peer.next();
    assert.equal(a.msg, Msg.EXCEPTION);
    assert.deepEqual((a.body as unknown[])[0], ['builtins', 'KeyError']);
    peer.request(6, Handle.GETATTR, [
      Label.TUPLE,
      [
        [Label.LOCAL_REF, ['x', 1, 424242]],
        [Label.VALUE, 'add'],
      ],
    ]);
    const b = await peer.next();
    assert.equal(b.msg, Msg.EXCEPTION);
    assert.equal(b.seq, 6);
    peer.request(7, Handle.PING, [Label.VALUE, [1]]);
    assert.deepEqual(await peer.next(), { msg: Msg.REPLY, seq: 7, body: [Label.VALUE, 1] });
    peer.socket.destroy();
  });

  const closing: Array<[string, Buffer]> = [
    ['an oversized frame', Buffer.from('7fffffff00', 'hex')],
    ['undecodable brine', Buffer.concat(encodeFrame(Buffer.from([Msg.REQUEST, 0x07, 0x07])))],
    [
      'a brine length past the frame',
      Buffer.concat(encodeFrame(Buffer.from([Msg.REQUEST, 0x0f, 0xff, 0xff, 0xff, 0x00]))),
    ],
    [
      'deeply nested tuples',
      Buffer.concat(
        encodeFrame(Buffer.concat([Buffer.of(Msg.REQUEST), Buffer.alloc(5000, 0x10), Buffer.of(0x50)])),
      ),
    ],
    ['an unknown message type', Buffer.concat(encodeFrame(Buffer.concat([Buffer.of(9), dump([1, 2])])))],
  ];
  for (const [what, bytes] of closing) {
    it(`closes the connection on ${what}, and keeps serving others`, async () => {
      const peer = await RawPeer.connect(server.port);
      peer.socket.write(bytes);
      await peer.waitClosed();
      await stillServes();
    });
  }

  it('a client that vanishes mid-request does not disturb the server', async () => {
    const peer = await RawPeer.connect(server.port);
    peer.socket.write(Buffer.from('0000100000', 'hex'));
    peer.socket.write(Buffer.alloc(100));
    peer.socket.destroy();
    await stillServes();
  });
});

describe('rpyc size limits', () => {
  // Incompressible bytes: the frame itself is announced over the limit.
  const random = (n: number) => new Uint8Array(randomBytes(n));

  it('a reply over the limit fails its call with MESSAGE_TOO_LARGE; the connection goes on', async () => {
    const server = await serveRpyc(calculatorContract, calculator, { port: 0 });
    const c = await connectRpyc({ port: server.port, timeoutMs: 5_000, maxMessageBytes: 64 * 1024 });
    try {
      // Announced over the limit (incompressible), and inflating past it (zeros).
      for (const data of [random(100_000), new Uint8Array(100_000)]) {
        await assert.rejects(c.call('echo', data), (e: unknown) => codeOf(e) === 'MESSAGE_TOO_LARGE');
        assert.equal(c.connection.closed, false);
        assert.equal(await c.call('add', 2, 5), 7);
      }
    } finally {
      await c.close();
      await server.close();
    }
  });

  it('a request over the limit is answered MESSAGE_TOO_LARGE; the connection goes on', async () => {
    const server = await serveRpyc(calculatorContract, calculator, { port: 0, maxMessageBytes: 64 * 1024 });
    for (const rpycVersion of [5, 6] as const) {
      const c = await connectRpyc({ port: server.port, timeoutMs: 5_000, rpycVersion });
      for (const data of [random(100_000), new Uint8Array(100_000)]) {
        await assert.rejects(c.call('echo', data), (e: unknown) => codeOf(e) === 'MESSAGE_TOO_LARGE');
        assert.equal(await c.call('add', 2, 5), 7);
      }
      await c.close();
    }
    const c = await connectRpyc({ port: server.port, timeoutMs: 5_000 });
    try {
      // More than 4 times the limit is not read past: the connection closes.
      await assert.rejects(c.call('echo', random(300_000)), (e: unknown) =>
        ['MESSAGE_TOO_LARGE', 'TRANSPORT'].includes(codeOf(e) ?? ''),
      );
      assert.ok(c.connection.closed);
    } finally {
      await c.close();
      await server.close();
    }
  });
});

describe('rpyc server lifecycle', () => {
  it('a taken port is a TRANSPORT error; close() frees the port and drops connections', async () => {
    const a = await serveRpyc(calculatorContract, calculator, { port: 0 });
    await assert.rejects(
      serveRpyc(calculatorContract, calculator, { port: a.port }),
      (e: unknown) => codeOf(e) === 'TRANSPORT',
    );
    const c = await connectRpyc({ port: a.port, timeoutMs: 5_000 });
    assert.equal(await c.call('add', 1, 2), 3);
    assert.equal(a.stats().connections, 1);
    await a.close();
    await assert.rejects(c.call('add', 1, 2), (e: unknown) => codeOf(e) === 'TRANSPORT');
    await c.close();
  });
});
