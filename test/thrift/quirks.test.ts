/**
 * What other Thrift implementations send that the calculator's own peers do not, found by
 * replaying the same bytes against Apache Thrift's Python server: functions declared `oneway`
 * (no reply whatever the message type; a server's UNKNOWN_METHOD answer to a oneway call),
 * and uuid fields (type 16, compact 13) in argument structs, which must be skipped.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { calculator, calculatorContract, defineContract } from '../../src/contract/index.js';
import { thrift } from '../../src/protocols/thrift/index.js';
import { messageReader } from '../../src/protocols/thrift/library.js';
import { scanMessage } from '../../src/protocols/thrift/scan.js';
import { serveThrift } from '../../src/protocols/thrift/server.js';
import { binaryAdd, binaryCallHeader, compactCallHeader, i16, i32, sendRaw, varint } from './raw.js';

const IDL = `
service Tools {
  oneway void ping(1: i32 n),
  i32 count(),
  oneway void gone(1: i32 n),
}
`;

const tools = defineContract({
  name: 'Tools',
  namespace: 'tools',
  methods: {
    // A oneway function has no result: the contract calls it ad hoc (dynamic result).
    ping: { params: [{ name: 'n', type: 'i32' }], result: 'dynamic' },
    count: { params: [], result: 'i32' },
    gone: { params: [{ name: 'n', type: 'i32' }], result: 'dynamic' },
  },
});

let dir: string;
let schemaPath: string;
before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rpclab-thrift-quirks-'));
  schemaPath = path.join(dir, 'tools.thrift');
  fs.writeFileSync(schemaPath, IDL);
});
after(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A binary CALL (message type 1) of ping(n): what a client whose IDL lacks `oneway` sends. */
function pingAsCall(n: number, seqid: number): Buffer {
  return Buffer.concat([binaryCallHeader('ping', seqid), Buffer.from([8]), i16(1), i32(n), Buffer.from([0])]);
}

/** Splits strict binary messages received back to back. */
function messages(buf: Buffer): { type: number; name: string; seqid: number }[] {
  const out: { type: number; name: string; seqid: number }[] = [];
  let at = 0;
  while (at < buf.length) {
    const scanned = scanMessage('binary', buf, 1 << 20, at);
    assert.ok(scanned.complete, 'a reply ends mid-message');
    const nameLength = buf.readInt32BE(at + 4);
    out.push({
      type: buf.readInt32BE(at) & 0xff,
      name: buf.subarray(at + 8, at + 8 + nameLength).toString('utf8'),
      seqid: buf.readInt32BE(at + 8 + nameLength),
    });
    at += scanned.length;
  }
  return out;
}

describe('thrift server: oneway functions', () => {
  it('a function declared oneway gets no reply even when called with message type CALL', async () => {
    let total = 0;
    const server = await serveThrift(
      tools,
      {
        ping: (n) => {
          total += n;
        },
        count: () => total,
        gone: () => undefined,
      },
      { port: 0, variant: { encoding: 'binary', framed: false }, schemaPath },
    );
    try {
      const count = Buffer.concat([binaryCallHeader('count', 9), Buffer.from([0])]);
      // One reply only, to count: a reply to ping would be read by its caller as the answer
      // to its next call (generated processors decide by the declaration, not the message type).
      const out = await sendRaw(server.port, [pingAsCall(5, 8), count], 1_500);
      const replies = messages(out.received);
      assert.deepEqual(
        replies.map((r) => [r.name, r.seqid, r.type]),
        [['count', 9, 2]],
      );
      assert.equal(total, 5);
    } finally {
      await server.close();
    }
  });

  it('our client calls a oneway function and the server runs it (compact-framed)', async () => {
    let total = 0;
    const variant = 'compact-framed';
    const server = await thrift.serve(
      tools,
      {
        ping: (n) => {
          total += n;
        },
        count: () => total,
        gone: () => undefined,
      },
      { port: 0, variant, schemaPath },
    );
    try {
      const c = await thrift.connect(tools, { port: server.port, variant, schemaPath, timeoutMs: 5_000 });
      try {
        assert.equal(await c.ping(1), undefined);
        await c.ping(2);
        assert.equal(await c.count(), 3);
      } finally {
        await c.close();
      }
    } finally {
      await server.close();
    }
  });
});

describe('thrift client: oneway calls', () => {
  it("a server's UNKNOWN_METHOD answer to a oneway call is dropped, not a stray reply failing other calls", async () => {
    // Answers as Apache Thrift's and thriftpy2's processors do: an EXCEPTION for a function it
    // lacks, even when the call was oneway; count() returns 42.
    const sockets = new Set<net.Socket>();
    const fake = net.createServer((s) => {
      sockets.add(s);
      let buf = Buffer.alloc(0);
      s.on('error', () => undefined);
      s.on('data', (chunk: Buffer) => {
        buf = Buffer.concat([buf, chunk]);
        for (;;) {
          const scanned = buf.length > 0 ? scanMessage('binary', buf, 1 << 20) : undefined;
          if (!scanned?.complete) break;
          const [call] = messages(buf.subarray(0, scanned.length));
          buf = buf.subarray(scanned.length);
          const name = Buffer.from(call!.name);
          const head = (type: number) =>
            Buffer.concat([i32(0x80010000 | type), i32(name.length), name, i32(call!.seqid)]);
          if (call!.name === 'count')
            s.write(Buffer.concat([head(2), Buffer.from([8]), i16(0), i32(42), Buffer.from([0])]));
          else {
            const message = Buffer.from(`Unknown function ${call!.name}`);
            s.write(
              Buffer.concat([
                head(3),
                Buffer.from([11]),
                i16(1),
                i32(message.length),
                message,
                Buffer.from([8]),
                i16(2),
                i32(1),
                Buffer.from([0]),
              ]),
            );
          }
        }
      });
    });
    await new Promise<void>((r) => fake.listen(0, '127.0.0.1', r));
    const port = (fake.address() as net.AddressInfo).port;
    const c = await thrift.connect(tools, { port, schemaPath, timeoutMs: 5_000 });
    try {
      const [gone, first, second] = await Promise.all([c.gone(1), c.count(), c.count()]);
      assert.equal(gone, undefined);
      assert.equal(first, 42);
      assert.equal(second, 42);
      assert.equal(await c.count(), 42);
    } finally {
      await c.close();
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => fake.close(() => r()));
    }
  });
});

describe('thrift server: uuid fields', () => {
  let binary: Awaited<ReturnType<typeof serveThrift>>;
  let compact: Awaited<ReturnType<typeof serveThrift>>;
  before(async () => {
    binary = await serveThrift(calculatorContract, calculator, {
      port: 0,
      variant: { encoding: 'binary', framed: false },
    });
    compact = await serveThrift(calculatorContract, calculator, {
      port: 0,
      variant: { encoding: 'compact', framed: false },
    });
  });
  after(async () => {
    await binary?.close();
    await compact?.close();
  });

  // Any 16 bytes are a Thrift uuid; these are not an RFC 4122 one (version nibble 0), which
  // the library's reader refused, closing the connection instead of skipping the field.
  const uuid = Buffer.alloc(16, 0x01);

  it('an unknown uuid argument field is skipped (binary)', async () => {
    const add = binaryAdd(2, 5, 3);
    const header = binaryCallHeader('add', 3).length;
    const call = Buffer.concat([
      add.subarray(0, header),
      Buffer.from([16]),
      i16(9),
      uuid,
      add.subarray(header),
    ]);
    const out = await sendRaw(binary.port, [call], 1_500);
    const [reply] = messages(out.received);
    assert.deepEqual(reply, { type: 2, name: 'add', seqid: 3 });
    // field 0, i32 7
    assert.deepEqual([...out.received.subarray(-8)], [8, 0, 0, 0, 0, 0, 7, 0]);
  });

  it('an unknown uuid argument field is skipped (compact)', async () => {
    const zigzag = (n: number) => varint((n << 1) ^ (n >> 31));
    const call = Buffer.concat([
      compactCallHeader('add', 3),
      Buffer.from([0x9d]), // field 9 (delta 9), uuid
      uuid,
      Buffer.from([0x05]), // long form: field id as zigzag varint, then type i32
      zigzag(1),
      zigzag(2),
      Buffer.from([0x15]), // field 2 (delta 1), i32
      zigzag(5),
      Buffer.from([0]),
    ]);
    const out = await sendRaw(compact.port, [call], 1_500);
    assert.ok(out.received.length > 0, 'no reply: the connection was closed');
    const p = messageReader('compact', out.received);
    assert.deepEqual(p.readMessageBegin(), { fname: 'add', mtype: 2, rseqid: 3 });
    p.readStructBegin();
    assert.deepEqual(p.readFieldBegin(), { fname: null, ftype: 8, fid: 0 });
    assert.equal(p.readI32(), 7);
  });
});
