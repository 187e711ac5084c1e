/**
 * Hostile input against the Thrift server: declared lengths far beyond the limit, negative
 * lengths, deep nesting, garbage, oversized frames and abrupt disconnects. Each must close
 * that connection without buffering what was declared, and the server must keep serving.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { type CalculatorClient, calculator, calculatorContract } from '../../src/contract/index.js';
import { thrift } from '../../src/protocols/thrift/index.js';
import type { RunningServer } from '../../src/protocols/types.js';
import {
  binaryAdd,
  binaryCallHeader,
  binaryEcho,
  compactCallHeader,
  framed,
  i16,
  i32,
  sendRaw,
  varint,
} from './raw.js';

const MiB = 1024 * 1024;

async function stillServes(port: number, variant: string): Promise<void> {
  const c = await thrift.connect(calculatorContract, { port, variant, timeoutMs: 10_000 });
  try {
    assert.equal(await c.add(2, 5), 7);
  } finally {
    await c.close();
  }
}

describe('thrift robustness [binary-buffered]', () => {
  let server: RunningServer;
  let bystander: CalculatorClient;
  before(async () => {
    server = await thrift.serve(calculatorContract, calculator, { port: 0 });
    // A client connected throughout: bad input elsewhere must not disturb it.
    bystander = await thrift.connect(calculatorContract, { port: server.port, timeoutMs: 10_000 });
  });
  after(async () => {
    await bystander?.close();
    await server?.close();
  });

  it('a string header declaring 2^31-1 bytes is closed at once, without allocating it; the next client gets 7', async () => {
    const before = process.memoryUsage().arrayBuffers;
    const header = Buffer.concat([binaryCallHeader('echo'), Buffer.from([11]), i16(1), i32(2 ** 31 - 1)]);
    const out = await sendRaw(server.port, [header, Buffer.alloc(64 * 1024, 0x41)]);
    assert.ok(out.closed, 'the server kept the connection open');
    // The acceptance bound from the issue; on loopback the close takes well under a millisecond.
    assert.ok(out.closedAfterMs < 2_500, `closed only after ${out.closedAfterMs} ms`); // the server waits 60 s for a stalled message
    const grown = process.memoryUsage().arrayBuffers - before;
    assert.ok(grown < 64 * MiB, `buffer memory grew by ${grown} bytes`);
    await stillServes(server.port, 'binary-buffered');
    assert.equal(await bystander.add(3, 4), 7);
  });

  it('a method name declaring 2^31-1 bytes is closed at once', async () => {
    const out = await sendRaw(server.port, [
      Buffer.concat([i32(0x80010001 | 0), i32(2 ** 31 - 1), Buffer.from('add')]),
    ]);
    assert.ok(out.closed);
    await stillServes(server.port, 'binary-buffered');
  });

  it('a negative string length closes the connection', async () => {
    const bad = Buffer.concat([
      binaryCallHeader('echo'),
      Buffer.from([11]),
      i16(1),
      i32(-5),
      Buffer.alloc(16),
    ]);
    const out = await sendRaw(server.port, [bad]);
    assert.ok(out.closed);
    await stillServes(server.port, 'binary-buffered');
  });

  it('a negative list size closes the connection', async () => {
    const bad = Buffer.concat([
      binaryCallHeader('echo'),
      Buffer.from([15]),
      i16(1),
      Buffer.from([8]),
      i32(-1),
    ]);
    assert.ok((await sendRaw(server.port, [bad])).closed);
    await stillServes(server.port, 'binary-buffered');
  });

  it('a list declaring 2^30 i32 elements is closed without waiting for them', async () => {
    const bad = Buffer.concat([
      binaryCallHeader('echo'),
      Buffer.from([15]),
      i16(1),
      Buffer.from([8]),
      i32(2 ** 30),
    ]);
    const out = await sendRaw(server.port, [bad]);
    assert.ok(out.closed);
    await stillServes(server.port, 'binary-buffered');
  });

  it('nesting deeper than 64 levels closes the connection', async () => {
    // 100 nested structs in field 1 of the args struct.
    const parts: Buffer[] = [binaryCallHeader('add')];
    for (let i = 0; i < 100; i++) parts.push(Buffer.from([12]), i16(1));
    for (let i = 0; i < 101; i++) parts.push(Buffer.from([0]));
    const out = await sendRaw(server.port, [Buffer.concat(parts)]);
    assert.ok(out.closed);
    await stillServes(server.port, 'binary-buffered');
  });

  it('nesting within the limit is skipped and answered', async () => {
    // Unknown field 9 holding 30 nested lists: skipped, then add(2, 5) answers.
    const parts: Buffer[] = [binaryCallHeader('add', 9)];
    parts.push(Buffer.from([8]), i16(1), i32(2), Buffer.from([8]), i16(2), i32(5));
    parts.push(Buffer.from([15]), i16(9));
    for (let i = 0; i < 29; i++) parts.push(Buffer.from([15]), i32(1));
    parts.push(Buffer.from([8]), i32(0), Buffer.from([0]));
    const out = await sendRaw(server.port, [Buffer.concat(parts)], 500);
    assert.ok(!out.closed, 'a valid message was refused');
    assert.ok(out.received.length > 0, 'no reply');
    // REPLY header, name "add", seqid 9, then success field 0 = 7.
    assert.equal(out.received.readInt32BE(0), 0x80010002 | 0);
    assert.equal(out.received.readInt32BE(out.received.length - 5), 7);
  });

  it('garbage bytes close the connection', async () => {
    const out = await sendRaw(server.port, [Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')]);
    assert.ok(out.closed);
    const noise = Buffer.from(Array.from({ length: 512 }, (_, i) => (i * 73 + 11) & 0xff));
    assert.ok((await sendRaw(server.port, [Buffer.from([0x80, 0x01, 0x00, 0x01]), noise])).closed);
    await stillServes(server.port, 'binary-buffered');
  });

  it('an unknown field type closes the connection', async () => {
    const bad = Buffer.concat([binaryCallHeader('add'), Buffer.from([99]), i16(1), i32(1)]);
    assert.ok((await sendRaw(server.port, [bad])).closed);
    await stillServes(server.port, 'binary-buffered');
  });

  it('an abrupt disconnect mid-message leaves the server serving', async () => {
    const whole = binaryAdd(2, 5);
    const socket = net.connect({ port: server.port, host: '127.0.0.1' });
    await new Promise<void>((r) => socket.once('connect', () => r()));
    socket.write(whole.subarray(0, whole.length - 6));
    await new Promise((r) => setTimeout(r, 20));
    socket.destroy();
    await stillServes(server.port, 'binary-buffered');
    assert.equal(await bystander.add(1, 1), 2);
  });

  it('a message split into 1-byte writes is still understood', async () => {
    const whole = binaryAdd(20, 22, 3);
    const chunks = [...whole].map((b) => Buffer.from([b]));
    const out = await sendRaw(server.port, chunks, 500);
    assert.ok(out.received.length > 0, 'no reply');
    assert.equal(out.received.readInt32BE(out.received.length - 5), 42);
  });

  it('a client that floods calls without reading is throttled, then gets every reply', async () => {
    const calls = 200;
    const data = Buffer.alloc(64 * 1024, 0x5a);
    // REPLY header (4 + 4 + "echo" + 4), field header 3, length 4, data, stop 1.
    const replySize = 16 + 3 + 4 + data.length + 1;
    const socket = net.connect({ port: server.port, host: '127.0.0.1' });
    socket.pause(); // read nothing while the calls go out: the server must stop reading too
    await new Promise<void>((r) => socket.once('connect', () => r()));
    const payload = Buffer.concat(Array.from({ length: calls }, (_, i) => binaryEcho(data, i + 1)));
    socket.write(payload);
    await new Promise((r) => setTimeout(r, 200));
    const received = await new Promise<number>((resolve, reject) => {
      let n = 0;
      socket.on('data', (c: Buffer) => {
        n += c.length;
        if (n >= calls * replySize) resolve(n);
      });
      socket.once('close', () => reject(new Error(`closed after ${n} bytes`)));
      socket.resume();
    });
    socket.destroy();
    assert.equal(received, calls * replySize);
    assert.equal(await bystander.add(2, 2), 4);
  });

  it('two messages in one write are both answered', async () => {
    const out = await sendRaw(server.port, [Buffer.concat([binaryAdd(1, 2, 1), binaryAdd(3, 4, 2)])], 500);
    assert.ok(!out.closed);
    // Two replies of equal length: REPLY "add" seqid, success i32.
    const half = out.received.length / 2;
    assert.equal(out.received.readInt32BE(half - 5), 3);
    assert.equal(out.received.readInt32BE(out.received.length - 5), 7);
  });
});

describe('thrift robustness [binary-framed]', () => {
  let server: RunningServer;
  before(async () => {
    server = await thrift.serve(calculatorContract, calculator, {
      port: 0,
      variant: 'binary-framed',
      maxMessageBytes: 1 * MiB,
    });
  });
  after(async () => {
    await server?.close();
  });

  it('a frame larger than the limit is closed before its bytes arrive', async () => {
    const before = process.memoryUsage().arrayBuffers;
    const out = await sendRaw(server.port, [i32(2 ** 31 - 1), binaryCallHeader('echo')]);
    assert.ok(out.closed);
    assert.ok(out.closedAfterMs < 2_500, `closed only after ${out.closedAfterMs} ms`); // the server waits 60 s for a stalled message
    assert.ok(process.memoryUsage().arrayBuffers - before < 64 * MiB);
    await stillServes(server.port, 'binary-framed');
  });

  it('a frame one byte over the limit is refused', async () => {
    assert.ok((await sendRaw(server.port, [i32(MiB + 1), binaryCallHeader('echo')])).closed);
    await stillServes(server.port, 'binary-framed');
  });

  it('a negative frame size closes the connection', async () => {
    assert.ok((await sendRaw(server.port, [i32(-4), Buffer.alloc(8)])).closed);
    await stillServes(server.port, 'binary-framed');
  });

  it('a string longer than its frame closes the connection at once', async () => {
    const payload = Buffer.concat([binaryCallHeader('echo'), Buffer.from([11]), i16(1), i32(500_000)]);
    // The frame claims 600 000 bytes, only the header is sent: the declared string cannot fit.
    const out = await sendRaw(server.port, [i32(payload.length + 10), payload]);
    assert.ok(out.closed);
    await stillServes(server.port, 'binary-framed');
  });

  it('a frame whose message ends early (trailing bytes) closes the connection', async () => {
    const out = await sendRaw(server.port, [framed(Buffer.concat([binaryAdd(1, 2), Buffer.alloc(3)]))]);
    assert.ok(out.closed);
    await stillServes(server.port, 'binary-framed');
  });

  it('a message without a frame header (a buffered client) closes the connection', async () => {
    const out = await sendRaw(server.port, [binaryAdd(2, 5)]);
    assert.ok(out.closed);
    await stillServes(server.port, 'binary-framed');
  });
});

describe('thrift robustness [compact]', () => {
  let buffered: RunningServer;
  let framedServer: RunningServer;
  before(async () => {
    buffered = await thrift.serve(calculatorContract, calculator, { port: 0, variant: 'compact-buffered' });
    framedServer = await thrift.serve(calculatorContract, calculator, { port: 0, variant: 'compact-framed' });
  });
  after(async () => {
    await buffered?.close();
    await framedServer?.close();
  });

  it('a binary field declaring 2^31-1 bytes is closed at once', async () => {
    // Field header: delta 1, type BINARY (8); then the varint length.
    const bad = Buffer.concat([compactCallHeader('echo'), Buffer.from([0x18]), varint(2 ** 31 - 1)]);
    const out = await sendRaw(buffered.port, [bad, Buffer.alloc(4096)]);
    assert.ok(out.closed);
    assert.ok(out.closedAfterMs < 2_500, `closed only after ${out.closedAfterMs} ms`); // the server waits 60 s for a stalled message
    await stillServes(buffered.port, 'compact-buffered');
  });

  it('a negative (>= 2^31 as varint32) length closes the connection', async () => {
    const bad = Buffer.concat([compactCallHeader('echo'), Buffer.from([0x18]), varint(2 ** 32 - 3)]);
    assert.ok((await sendRaw(buffered.port, [bad])).closed);
    await stillServes(buffered.port, 'compact-buffered');
  });

  it('an over-long varint closes the connection', async () => {
    const bad = Buffer.concat([compactCallHeader('echo'), Buffer.from([0x18]), Buffer.alloc(12, 0xff)]);
    assert.ok((await sendRaw(buffered.port, [bad])).closed);
    await stillServes(buffered.port, 'compact-buffered');
  });

  it('nesting deeper than 64 levels closes the connection', async () => {
    const parts: Buffer[] = [compactCallHeader('add')];
    // Field 1 is a list of one list of one list ... (type LIST = 9, one element).
    parts.push(Buffer.from([0x19]));
    for (let i = 0; i < 100; i++) parts.push(Buffer.from([0x19]));
    assert.ok((await sendRaw(buffered.port, [Buffer.concat(parts)])).closed);
    await stillServes(buffered.port, 'compact-buffered');
  });

  it('garbage closes the connection (buffered and framed)', async () => {
    assert.ok((await sendRaw(buffered.port, [Buffer.from('\x00\x01garbage garbage')])).closed);
    assert.ok((await sendRaw(framedServer.port, [i32(20), Buffer.from('not a compact message')])).closed);
    await stillServes(buffered.port, 'compact-buffered');
    await stillServes(framedServer.port, 'compact-framed');
  });

  it('an oversized frame closes the connection', async () => {
    assert.ok((await sendRaw(framedServer.port, [i32(17 * MiB), compactCallHeader('echo')])).closed);
    await stillServes(framedServer.port, 'compact-framed');
  });
});

describe('thrift server limits', () => {
  it('a request above maxMessageBytes is refused; the same size within the limit is served', async () => {
    const small = await thrift.serve(calculatorContract, calculator, { port: 0, maxMessageBytes: 64 * 1024 });
    try {
      const c = await thrift.connect(calculatorContract, { port: small.port, timeoutMs: 10_000 });
      try {
        await assert.rejects(c.echo(new Uint8Array(100 * 1024)), (err: unknown) => {
          assert.ok(err instanceof Error && 'code' in err);
          assert.equal(err.code, 'TRANSPORT');
          return true;
        });
      } finally {
        await c.close();
      }
      const c2 = await thrift.connect(calculatorContract, { port: small.port, timeoutMs: 10_000 });
      try {
        assert.equal((await c2.echo(new Uint8Array(32 * 1024))).byteLength, 32 * 1024);
      } finally {
        await c2.close();
      }
    } finally {
      await small.close();
    }
  });
});
