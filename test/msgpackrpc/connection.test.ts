/**
 * The symmetric connection end to end: replies out of order, calls back on one connection in
 * both directions, notifications both ways, msgids wrapping at 2^32, the per-connection cap,
 * timeouts and late replies, abrupt disconnects, and broken responses from a scripted server.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { encode } from '@msgpack/msgpack';
import { calculator, calculatorContract, defineContract, RpcError } from '../../src/contract/index.js';
import {
  connectMsgpackRpc,
  type MsgpackRpcConnection,
  type MsgpackRpcServer,
  msgpackRpcClient,
  openMsgpackRpc,
  serveMsgpackRpc,
} from '../../src/protocols/msgpackrpc/index.js';
import { RawPeer, startRawServer } from './raw-peer.js';

async function expectCode(promise: Promise<unknown>, code: string): Promise<RpcError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof RpcError, `expected an RpcError, got ${String(err)}`);
    assert.equal(err.code, code, `expected ${code}, got ${err.code}: ${err.message}`);
    return err;
  }
  assert.fail(`expected the call to fail with ${code}`);
}

/** A promise with its resolve, for handlers that finish when a test says so. */
function gate<T = void>(): { promise: Promise<T>; open: (v: T) => void } {
  let open!: (v: T) => void;
  const promise = new Promise<T>((r) => {
    open = r;
  });
  return { promise, open };
}

const heldContract = defineContract({
  name: 'Held',
  namespace: 'held',
  methods: {
    held: { params: [{ name: 'i', type: 'i32' }], result: 'i32' },
    add: calculatorContract.methods.add,
  },
});

describe('msgpackrpc: 1,000 requests answered in reverse order on one connection', () => {
  it('every reply reaches its own caller', async () => {
    const N = 1000;
    const waiting: { i: number; resolve: (v: number) => void }[] = [];
    const all = gate();
    const server = await serveMsgpackRpc(
      heldContract,
      {
        held: (i: number) =>
          new Promise<number>((resolve) => {
            waiting.push({ i, resolve });
            if (waiting.length === N) all.open();
          }),
        add: (a: number, b: number) => a + b,
      },
      { port: 0 },
    );
    const client = await connectMsgpackRpc(heldContract, { port: server.port, timeoutMs: 30_000 });
    try {
      const calls = Array.from({ length: N }, (_, i) => client.held(i));
      await all.promise;
      // Answer the last arrival first: the server writes each reply as its handler finishes.
      for (const w of [...waiting].reverse()) w.resolve(w.i * 3);
      assert.deepEqual(
        await Promise.all(calls),
        Array.from({ length: N }, (_, i) => i * 3),
      );
    } finally {
      await client.close();
      await server.close();
    }
  });
});

describe('msgpackrpc: calls both ways on one connection', () => {
  let server: MsgpackRpcServer;
  const serverNotes: unknown[] = [];
  const served: MsgpackRpcConnection[] = [];
  before(async () => {
    server = await serveMsgpackRpc(calculatorContract, calculator, {
      port: 0,
      onNotification: (method, params) => serverNotes.push([method, params]),
      onConnection: (peer) => served.push(peer),
      extras: {
        // Inside this request, call the client's `mul` on the same connection and use the answer.
        apply: async (peer: MsgpackRpcConnection, a: number, b: number) =>
          ((await peer.call('mul', [a, b])) as number) + 1,
        nested: async (peer: MsgpackRpcConnection, depth: number) => peer.call('down', [depth]),
        notifyMe: (peer: MsgpackRpcConnection, text: string) => {
          peer.notify('told', [text]);
          return 'sent';
        },
      },
    });
  });
  after(async () => {
    await server?.close();
  });

  it('the server, inside a request, calls a method the client serves and uses its answer in its reply', async () => {
    const conn = await openMsgpackRpc({
      port: server.port,
      timeoutMs: 10_000,
      handlers: { mul: (a: number, b: number) => a * b },
    });
    try {
      assert.equal(await conn.call('apply', [6, 7]), 43);
      const many = await Promise.all(Array.from({ length: 100 }, (_, i) => conn.call('apply', [i, 2])));
      assert.deepEqual(
        many,
        Array.from({ length: 100 }, (_, i) => 2 * i + 1),
      );
    } finally {
      await conn.close();
    }
  });

  it('calls nest: client -> server -> client -> server on one connection', async () => {
    const conn = await openMsgpackRpc({
      port: server.port,
      timeoutMs: 10_000,
      handlers: {
        down(this: MsgpackRpcConnection, depth: number) {
          return this.call('add', [depth, 100]); // back into the server, from inside its call
        },
      },
    });
    try {
      assert.equal(await conn.call('nested', [5]), 105);
    } finally {
      await conn.close();
    }
  });

  it("a client without the method answers the server's call with NO_SUCH_METHOD", async () => {
    const conn = await openMsgpackRpc({ port: server.port, timeoutMs: 10_000 });
    try {
      await expectCode(conn.call('apply', [1, 2]), 'NO_SUCH_METHOD');
      const client = msgpackRpcClient(calculatorContract, conn);
      assert.equal(await client.add(2, 5), 7);
    } finally {
      await conn.close();
    }
  });

  it('notifications both ways', async () => {
    const clientNotes: unknown[] = [];
    served.length = 0;
    const conn = await openMsgpackRpc({
      port: server.port,
      timeoutMs: 10_000,
      onNotification: (method, params) => clientNotes.push([method, params]),
    });
    try {
      conn.notify('hello', ['from client', 1]);
      assert.equal(await conn.call('add', [1, 1]), 2); // the notification was read first
      assert.deepEqual(serverNotes, [['hello', ['from client', 1]]]);
      assert.equal(await conn.call('notifyMe', ['ping']), 'sent');
      served.at(-1)!.notify('pushed', [new Uint8Array([1, 2])]);
      assert.equal(await conn.call('add', [2, 2]), 4);
      assert.equal(clientNotes.length, 2);
      assert.deepEqual(clientNotes[0], ['told', ['ping']]);
      const [method, [data]] = clientNotes[1] as [string, [Uint8Array]];
      assert.equal(method, 'pushed');
      assert.deepEqual([...data], [1, 2]);
    } finally {
      await conn.close();
    }
  });

  it("the server's call into a client that disconnects fails with TRANSPORT", async () => {
    served.length = 0;
    const entered = gate();
    const conn = await openMsgpackRpc({
      port: server.port,
      timeoutMs: 10_000,
      handlers: {
        mul: () => {
          entered.open();
          return new Promise(() => undefined); // never answers
        },
      },
    });
    const call = conn.call('add', [0, 0]);
    await call;
    const peer = served.at(-1)!;
    const back = peer.call('mul', [1, 2], { timeoutMs: 30_000 });
    await entered.promise;
    await conn.close();
    await expectCode(back, 'TRANSPORT');
  });
});

describe('msgpackrpc: msgids', () => {
  it('wrap from 2^32-1 to 0, and replies are still matched', async () => {
    const seen: number[] = [];
    const raw = await startRawServer((peer) => {
      peer.socket.on('data', () => {
        for (const m of peer.messages.splice(0)) {
          const [, msgid, , params] = m as [number, number, string, number[]];
          seen.push(msgid);
          peer.write(encode([1, msgid, null, params[0]! + params[1]!]));
        }
      });
    });
    const conn = await openMsgpackRpc({ port: raw.port, timeoutMs: 10_000, firstMsgid: 2 ** 32 - 3 });
    try {
      const sums = [];
      for (let i = 0; i < 6; i++) sums.push(await conn.call('add', [i, 10]));
      assert.deepEqual(sums, [10, 11, 12, 13, 14, 15]);
      assert.deepEqual(seen, [4294967293, 4294967294, 4294967295, 0, 1, 2]);
      // In flight across the wrap too.
      const together = await Promise.all(Array.from({ length: 10 }, (_, i) => conn.call('add', [i, 0])));
      assert.deepEqual(
        together,
        Array.from({ length: 10 }, (_, i) => i),
      );
    } finally {
      await conn.close();
      await raw.close();
    }
  });

  it('our server echoes any uint32 msgid, 0 and 2^32-1 included', async () => {
    const server = await serveMsgpackRpc(calculatorContract, calculator, { port: 0 });
    const peer = await RawPeer.connect(server.port);
    try {
      peer.write(encode([0, 0, 'add', [1, 2]]));
      peer.write(encode([0, 4294967295, 'add', [3, 4]]));
      peer.write(encode([0, 65536, 'add', [5, 6]]));
      assert.deepEqual(await peer.message(1), [1, 0, null, 3]);
      assert.deepEqual(await peer.message(2), [1, 4294967295, null, 7]);
      assert.deepEqual(await peer.message(3), [1, 65536, null, 11]);
    } finally {
      peer.destroy();
      await server.close();
    }
  });
});

describe('msgpackrpc: per-connection cap on calls in progress', () => {
  it('calls past the cap get TRANSPORT "busy" at once; other connections are served; the rest finish', async () => {
    const release = gate();
    let started = 0;
    const server = await serveMsgpackRpc(
      heldContract,
      {
        held: async (i: number) => {
          started++;
          await release.promise;
          return i;
        },
        add: (a: number, b: number) => a + b,
      },
      { port: 0, maxConnectionRequests: 5 },
    );
    const flooder = await connectMsgpackRpc(heldContract, { port: server.port, timeoutMs: 30_000 });
    const other = await connectMsgpackRpc(heldContract, { port: server.port, timeoutMs: 30_000 });
    try {
      const calls = Array.from({ length: 8 }, (_, i) =>
        flooder.held(i).then(
          (v) => ({ ok: v }),
          (e: unknown) => ({ err: (e as RpcError).code }),
        ),
      );
      const busy = await Promise.race([
        Promise.all(calls.slice(5)),
        new Promise((r) => setTimeout(() => r('not answered'), 10_000)),
      ]);
      assert.deepEqual(busy, [{ err: 'TRANSPORT' }, { err: 'TRANSPORT' }, { err: 'TRANSPORT' }]);
      assert.equal(started, 5);
      assert.equal(await other.add(2, 5), 7, 'another connection is not held up');
      await expectCode(flooder.add(1, 1), 'TRANSPORT'); // still at its cap: not run
      release.open();
      assert.deepEqual(
        (await Promise.all(calls)).slice(0, 5),
        [0, 1, 2, 3, 4].map((ok) => ({ ok })),
      );
      assert.equal(await flooder.add(1, 1), 2, 'under its cap again, the flooder is served');
    } finally {
      await flooder.close();
      await other.close();
      await server.close();
    }
  });
});

describe('msgpackrpc: timeouts and disconnects', () => {
  it('a call not answered in time is TIMEOUT; its late reply is dropped and the connection keeps working', async () => {
    const late = gate<number>();
    const server = await serveMsgpackRpc(
      heldContract,
      { held: () => late.promise, add: (a: number, b: number) => a + b },
      { port: 0 },
    );
    const conn = await openMsgpackRpc({ port: server.port, timeoutMs: 10_000 });
    try {
      await expectCode(conn.call('held', [1], { timeoutMs: 100 }), 'TIMEOUT');
      late.open(5); // the reply to the timed-out call arrives now
      assert.equal(await conn.call('add', [2, 5]), 7);
      assert.equal(conn.closed, false);
      assert.equal(conn.stats().lateMsgids, 0, 'the late reply was recognised');
    } finally {
      await conn.close();
      await server.close();
    }
  });

  it('a peer that half-closes after its requests still gets every reply, then the connection closes', async () => {
    const slow = gate<number>();
    const server = await serveMsgpackRpc(
      heldContract,
      { held: () => slow.promise, add: (a: number, b: number) => a + b },
      { port: 0 },
    );
    const peer = await RawPeer.connect(server.port);
    try {
      peer.write(encode([0, 1, 'add', [2, 5]]));
      peer.write(encode([0, 2, 'held', [0]]));
      peer.write(encode([0, 3, 'add', [1, 1]]));
      peer.socket.end(); // as `printf ... | nc -N` does
      await peer.until(() => peer.messages.length >= 2, 10_000, 'the two quick replies');
      assert.equal(peer.closed, false, 'the held call is still to be answered');
      slow.open(9);
      await peer.waitClosed(10_000);
      assert.deepEqual(
        [...peer.messages].sort((a, b) => (a as number[])[1]! - (b as number[])[1]!),
        [
          [1, 1, null, 7],
          [1, 2, null, 9],
          [1, 3, null, 2],
        ],
      );
    } finally {
      peer.destroy();
      await server.close();
    }
  });

  it('a server that drops the connection fails every call in flight with TRANSPORT', async () => {
    const raw = await startRawServer((peer) => {
      peer.socket.once('data', () => setTimeout(() => peer.destroy(), 20));
    });
    const client = await connectMsgpackRpc(calculatorContract, { port: raw.port, timeoutMs: 10_000 });
    try {
      const calls = Array.from({ length: 10 }, (_, i) => expectCode(client.add(i, i), 'TRANSPORT'));
      await Promise.all(calls);
      await expectCode(client.add(1, 1), 'TRANSPORT');
    } finally {
      await client.close();
      await raw.close();
    }
  });

  it('a refused connection is TRANSPORT naming the address', async () => {
    const raw = await startRawServer(() => undefined);
    const port = raw.port;
    await raw.close();
    const err = await expectCode(
      connectMsgpackRpc(calculatorContract, { port, timeoutMs: 5_000 }),
      'TRANSPORT',
    );
    assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
  });
});

describe('msgpackrpc client: broken responses are PROTOCOL for that connection', () => {
  const cases: [string, (msgid: number) => unknown][] = [
    ['a response to a msgid never sent', (id) => [1, id + 1000, null, 7]],
    ['a response of 3 elements', (id) => [1, id, null]],
    ['a response of 5 elements', (id) => [1, id, null, 7, 8]],
    ['an unknown message type', (id) => [9, id, null, 7]],
    ['a response whose msgid is a str', () => [1, '0', null, 7]],
    ['a message that is a map', (id) => ({ msgid: id })],
  ];
  for (const [what, reply] of cases) {
    it(`${what}: calls in flight fail with PROTOCOL, never with another call's result`, async () => {
      const raw = await startRawServer((peer) => {
        peer.socket.once('data', () => {
          const [, msgid] = peer.messages[0] as [number, number];
          peer.write(encode(reply(msgid)));
        });
      });
      const conn = await openMsgpackRpc({ port: raw.port, timeoutMs: 10_000 });
      try {
        const calls = [conn.call('add', [1, 2]), conn.call('add', [3, 4])];
        await expectCode(calls[0]!, 'PROTOCOL');
        await expectCode(calls[1]!, 'PROTOCOL');
        assert.equal(conn.closed, true);
        assert.equal(conn.error?.code, 'PROTOCOL');
      } finally {
        await conn.close();
        await raw.close();
      }
    });
  }

  it("a peer's error as a plain str, [code, message] or a map becomes a sensible RpcError", async () => {
    const errors: unknown[] = [
      'something broke',
      "'add' method not found",
      'integer division or modulo by zero',
      [0, 'Invalid method: add'],
      [1, 'Wrong number of arguments: expecting 1 but got 2'],
      { code: 'DIVIDE_BY_ZERO', message: 'division by zero' },
      { message: 'map message' },
      { code: 42, message: 'numbered' },
      new Uint8Array(Buffer.from('raw bytes error')),
      'INVALID_ARGUMENT: our own form',
      17,
    ];
    const raw = await startRawServer((peer) => {
      peer.socket.on('data', () => {
        for (const m of peer.messages.splice(0)) {
          const [, msgid, , params] = m as [number, number, string, number[]];
          peer.write(encode([1, msgid, errors[params[0]!], null]));
        }
      });
    });
    const conn = await openMsgpackRpc({ port: raw.port, timeoutMs: 10_000 });
    try {
      const got: string[] = [];
      for (let i = 0; i < errors.length; i++) {
        try {
          await conn.call('add', [i, 0]);
          got.push('no error');
        } catch (err) {
          assert.ok(err instanceof RpcError);
          got.push(`${err.code}: ${err.message}`);
        }
      }
      assert.deepEqual(got, [
        'INTERNAL: something broke',
        "NO_SUCH_METHOD: no such method: add (peer said: 'add' method not found)",
        'DIVIDE_BY_ZERO: integer division or modulo by zero',
        'NO_SUCH_METHOD: no such method: add (peer said: Invalid method: add)',
        'INVALID_ARGUMENT: Wrong number of arguments: expecting 1 but got 2',
        'DIVIDE_BY_ZERO: division by zero',
        'INTERNAL: map message',
        'INTERNAL: 42: numbered',
        'INTERNAL: raw bytes error',
        'INVALID_ARGUMENT: our own form',
        'INTERNAL: peer error: 17',
      ]);
      assert.equal(conn.closed, false);
    } finally {
      await conn.close();
      await raw.close();
    }
  });
});

describe('msgpackrpc replies to a chunk of requests', () => {
  it('leave in one write per chunk read when the handler answers synchronously', async () => {
    const net = await import('node:net');
    const { MsgpackRpcConnection } = await import('../../src/protocols/msgpackrpc/connection.js');
    let writes = 0;
    let chunks = 0;
    const server = net.createServer((socket) => {
      const write = socket.write.bind(socket) as (...a: unknown[]) => boolean;
      socket.write = ((...a: unknown[]) => {
        writes++;
        return write(...a);
      }) as typeof socket.write;
      socket.on('data', () => chunks++);
      new MsgpackRpcConnection(socket, {
        maxMessageBytes: 1 << 20,
        timeoutMs: 5_000,
        onRequest: (_method, params) => ({ value: (params[0] as number) + 1 }),
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as import('node:net').AddressInfo;
    const client = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve) => client.once('connect', resolve));
    const requests = Array.from({ length: 64 }, (_, i) => Buffer.from(encode([0, i, 'inc', [i]])));
    let received = Buffer.alloc(0);
    client.on('data', (c: Buffer) => {
      received = Buffer.concat([received, c]);
    });
    client.write(Buffer.concat(requests));
    const { decodeMulti } = await import('@msgpack/msgpack');
    const deadline = Date.now() + 5_000;
    let replies: unknown[] = [];
    while (Date.now() < deadline) {
      try {
        replies = [...decodeMulti(received)];
      } catch {
        replies = [];
      }
      if (replies.length === 64) break;
      await new Promise((r) => setTimeout(r, 5));
    }
    client.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    assert.equal(replies.length, 64);
    for (const [i, r] of replies.entries()) assert.deepEqual(r, [1, i, null, i + 1]);
    assert.ok(chunks >= 1);
    assert.equal(writes, chunks, `${writes} writes for ${chunks} chunks of requests`);
  });
});
