/**
 * Defects found by the fuzz harness (scripts/fuzz/capnp.ts), each reduced to a fixed input.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import * as capnp from 'capnp-es';
import * as rpc from 'capnp-es/capnp/rpc';
import { calculator, calculatorContract, RpcError } from '../../src/contract/index.js';
import { CALCULATOR_INTERFACE_ID } from '../../src/protocols/capnp/calculator-schema.js';
import { checkPointers, FrameReader, FramingError } from '../../src/protocols/capnp/framing.js';
import { type CapnpServer, connectCapnp, openCapnp, serveCapnp } from '../../src/protocols/capnp/index.js';

function frame(fill: (m: rpc.Message) => void): Buffer {
  const message = new capnp.Message();
  fill(message.initRoot(rpc.Message));
  return Buffer.from(message.toArrayBuffer());
}

const bootstrap = frame((root) => {
  root._initBootstrap().questionId = 0;
});

/**
 * add(2, 5) on the bootstrap capability (pipelined) whose params carry a cap table of one descriptor,
 * then the table's tag rewritten to declare `elements` empty structs: 16 bytes on the wire
 * whatever the count.
 */
function callWithAmplifiedCapTable(elements: number): Buffer {
  const bytes = frame((root) => {
    const c = root._initCall();
    c.questionId = 1;
    c.interfaceId = CALCULATOR_INTERFACE_ID;
    c.methodId = 0;
    c._initTarget()._initPromisedAnswer().questionId = 0; // pipelined on the Bootstrap
    c._initParams()._initCapTable(1).get(0).senderHosted = 9;
  });
  // The only list of structs in the message is the cap table: its tag is the word whose
  // struct size is CapDescriptor's (1 data word, 1 pointer) and whose count is 1.
  for (let at = 8; at + 8 <= bytes.length; at += 8) {
    if (bytes.readUInt32LE(at) === 1 << 2 && bytes.readUInt32LE(at + 4) === (1 | (1 << 16))) {
      bytes.writeUInt32LE(elements << 2, at);
      bytes.writeUInt32LE(0, at + 4);
      return bytes;
    }
  }
  throw new Error('no cap table tag found');
}

/**
 * Writes `bytes` on a fresh connection and collects the RPC messages the server sends, until
 * it closes the connection or `enough` says so.
 */
function exchange(
  port: number,
  bytes: Buffer,
  enough: (got: rpc.Message[]) => boolean = () => false,
): Promise<rpc.Message[]> {
  return new Promise((resolve, reject) => {
    const reader = new FrameReader({ maxMessageBytes: 1 << 20 });
    const got: rpc.Message[] = [];
    const socket = net.connect(port, '127.0.0.1', () => socket.write(bytes));
    socket.on('data', (chunk: Buffer) => {
      for (const f of reader.push(chunk)) got.push(new capnp.Message(f, false).getRoot(rpc.Message));
      if (enough(got)) socket.destroy();
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(got));
  });
}

const ab = (b: Buffer): ArrayBuffer => new Uint8Array(b).buffer;

/** A frame from little-endian u32s (segment table first). */
function words(u32s: readonly number[]): ArrayBuffer {
  const b = Buffer.alloc(u32s.length * 4);
  u32s.forEach((w, i) => {
    b.writeUInt32LE(w >>> 0, i * 4);
  });
  return ab(b);
}

describe('capnp server: fuzz regressions', () => {
  let server: CapnpServer;
  before(async () => {
    server = await serveCapnp(calculatorContract, calculator, { port: 0 });
  });
  after(() => server.close());

  it('a cap table declaring 2^20 empty structs is refused with an Abort before it is read', async () => {
    // capnp-es resizes a list of structs to the schema's element size when it is first read:
    // this 16-byte list used to allocate 16 MiB and take 1.4 s of the server's event loop,
    // and a few of them at once ran the server out of memory.
    const got = await exchange(server.port, Buffer.concat([bootstrap, callWithAmplifiedCapTable(2 ** 20)]));
    const abort = got.find((m) => m.which() === rpc.Message.ABORT);
    assert.ok(abort, `an Abort (got message types ${got.map((m) => m.which()).join(', ')})`);
    assert.match(abort.abort.reason, /PROTOCOL: .*list longer than what was sent/);
    const client = await connectCapnp(calculatorContract, { port: server.port });
    try {
      assert.equal(await client.add(2, 5), 7);
    } finally {
      await client.close();
    }
  });

  it('the same call with a cap table of one empty struct is answered', async () => {
    const returned = (got: rpc.Message[]) =>
      got.some((m) => m.which() === rpc.Message.RETURN && m.return.answerId === 1);
    const got = await exchange(
      server.port,
      Buffer.concat([bootstrap, callWithAmplifiedCapTable(1)]),
      returned,
    );
    const answer = got.find((m) => m.which() === rpc.Message.RETURN && m.return.answerId === 1);
    assert.ok(answer, `a Return (got message types ${got.map((m) => m.which()).join(', ')})`);
    assert.equal(
      answer.return.which(),
      rpc.Return.RESULTS,
      answer.return.which() === rpc.Return.EXCEPTION ? answer.return.exception.reason : '',
    );
  });
});

describe('capnp framing: checkPointers', () => {
  it('passes what capnp-es writes, multi-segment messages included', () => {
    checkPointers(ab(bootstrap), 1 << 20);
    const message = new capnp.Message();
    const c = message.initRoot(rpc.Message)._initCall();
    c._initParams()._initCapTable(3);
    const ops = c._initTarget()._initPromisedAnswer()._initTransform(200);
    for (let i = 0; i < 200; i++) ops.get(i).getPointerField = i;
    checkPointers(message.toArrayBuffer(), 1 << 20);
    // Two segments; the root reaches a struct of one data word in segment 0 through a
    // double-far landing pad in segment 1, then the same struct through a single far pointer.
    const header = [1, 2, 2, 0];
    checkPointers(words([...header, 6, 1, 42, 0, 10, 0, 0, 1]), 1 << 20);
    checkPointers(words([...header, 2, 1, 0, 0, 0, 1, 7, 0]), 1 << 20);
  });

  // Each a frame of one segment: the segment table (0 = one segment, its size in words), then
  // the words as (lo, hi) pairs, the root pointer first.
  const refused: [string, number[]][] = [
    ['a struct past the end of its segment', [0, 2, 0x0, 0x10001, 0, 0]],
    ['a far pointer to a segment that does not exist', [0, 1, 0x2, 5]],
    ['a far pointer landing on a far pointer', [0, 1, 0x2, 0]],
    ['a pointer loop (a struct whose pointer points at itself)', [0, 1, 0xfffffffc, 0x10000]],
    ['a list of Void longer than what was sent', [0, 1, 0x1, 0xfffffff8]],
    [
      'a list of structs whose tag declares more than the list holds',
      [0, 3, 0x1, 0x7 | (1 << 3), 2 << 2, 0x1, 0, 0],
    ],
  ];
  for (const [what, bytes] of refused) {
    it(`refuses ${what}`, () => {
      assert.throws(() => checkPointers(words(bytes), 1 << 20), FramingError);
    });
  }
});

/**
 * A server that answers Bootstrap (with its capability, or with `bootstrapCap` false a
 * Return holding none) and every Call with what `answer` makes of its question ID.
 */
function fakeServer(
  answer: (question: number) => Buffer | undefined,
  bootstrapCap = true,
): Promise<net.Server> {
  const server = net.createServer((socket) => {
    const reader = new FrameReader({ maxMessageBytes: 1 << 20 });
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      for (const f of reader.push(chunk)) {
        const m = new capnp.Message(f, false).getRoot(rpc.Message);
        if (m.which() === rpc.Message.BOOTSTRAP) {
          const q = m.bootstrap.questionId;
          socket.write(
            frame((root) => {
              const r = root._initReturn();
              r.answerId = q;
              const results = r._initResults();
              if (bootstrapCap) {
                capnp.utils.setInterfacePointer(0, results.content);
                results._initCapTable(1).get(0).senderHosted = 0;
              }
            }),
          );
        } else if (m.which() === rpc.Message.CALL) {
          const reply = answer(m.call.questionId);
          if (reply !== undefined) socket.write(reply);
        }
      }
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

describe('capnp client: fuzz regressions', () => {
  let server: net.Server;
  before(async () => {
    // The Return names the call, but its results content is a capability, not a struct:
    // reading it fails, and the connection is aborted.
    server = await fakeServer((q) =>
      frame((root) => {
        const r = root._initReturn();
        r.answerId = q;
        capnp.utils.setInterfacePointer(0, r._initResults().content);
      }),
    );
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('a Return that cannot be read fails its call with TRANSPORT (it used to stay pending past its timeout)', {
    timeout: 30_000,
  }, async () => {
    // The question was marked returned (its timer cleared) before the results were read; the
    // abort that followed skipped returned questions, so the call never settled.
    const port = (server.address() as net.AddressInfo).port;
    const client = await connectCapnp(calculatorContract, { port, timeoutMs: 20_000 });
    try {
      await assert.rejects(client.add(2, 5), (err: unknown) => {
        assert.ok(err instanceof RpcError);
        assert.equal(err.code, 'TRANSPORT');
        assert.match(err.message, /malformed RPC message/);
        return true;
      });
    } finally {
      await client.close();
    }
  });
});

describe('capnp client: a call held by an embargo', () => {
  let server: net.Server;
  before(async () => {
    // The Bootstrap's Return holds no capability (the promise resolves broken, not to the
    // peer), calls are never answered, and the Disembargo is never sent back.
    server = await fakeServer(() => undefined, false);
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('a promise resolved to an error holds nothing back: the next call fails at once (it used to wait for ever)', {
    timeout: 30_000,
  }, async () => {
    const port = (server.address() as net.AddressInfo).port;
    const session = await openCapnp({ port, timeoutMs: 200 });
    try {
      const calc = session.bootstrap();
      // Pipelined before the Return: it went to the peer, which never answers it.
      await assert.rejects(calc.call('add', { a: 2, b: 5 }).result, { code: 'TIMEOUT' });
      // The promise resolved broken (no capability in the Return): no embargo, no Disembargo
      // to wait for, the call fails with the resolution's error well before any timeout.
      const started = Date.now();
      await assert.rejects(calc.call('add', { a: 2, b: 5 }).result, (err: unknown) => {
        assert.ok(err instanceof RpcError);
        assert.notEqual(err.code, 'TIMEOUT', err.message);
        assert.doesNotMatch(err.message, /held by an embargo/);
        return true;
      });
      assert.ok(Date.now() - started < 150, 'failed at once, not after the 200 ms timeout');
      calc.release();
    } finally {
      await session.close();
    }
  });
});
