/**
 * The incremental framing: messages split at every byte boundary, many per chunk, declared
 * lengths and nesting refused from the header alone, old-spec raw str retyped as bin.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encode } from '@msgpack/msgpack';
import { decodeMessage } from '../../src/protocols/msgpackrpc/codec.js';
import { FramingError, MessageReader } from '../../src/protocols/msgpackrpc/framing.js';

const MiB = 1024 * 1024;

function collect(reader: MessageReader, chunks: readonly Buffer[]): Buffer[] {
  const out: Buffer[] = [];
  for (const c of chunks) reader.push(c, (m) => out.push(Buffer.from(m)));
  return out;
}

function throwsKind(fn: () => void, kind: FramingError['kind']): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof FramingError, String(err));
    assert.equal(err.kind, kind, err.message);
    return true;
  });
}

const samples: unknown[] = [
  [0, 1, 'add', [2, 5]],
  [1, 4294967295, null, 7],
  [2, 'note', ['x'.repeat(40), new Uint8Array(300), { a: [1, { b: 'c' }] }]],
  [1, 3, { code: 'DIVIDE_BY_ZERO', message: 'division by zero' }, null],
  [0, 70000, 'echo', [new Uint8Array(70_000).fill(9)]],
  [2, 'big', [Array.from({ length: 20 }, (_, i) => i * 1e9), 'é'.repeat(100), -1, 2 ** 40, 0.5, true, false]],
  [1, 1, null, 'x'.repeat(70_000)],
];

describe('msgpackrpc framing', () => {
  const stream = Buffer.concat(samples.map((s) => Buffer.from(encode(s))));

  it('finds every message in one chunk', () => {
    const got = collect(new MessageReader({ maxMessageBytes: MiB }), [stream]);
    // Compared as re-encoded bytes: decoded bin values are Buffer views here, Uint8Array there.
    const hex = (v: unknown) => Buffer.from(encode(v, { useBigInt64: true })).toString('hex');
    assert.deepEqual(
      got.map((m) => hex(decodeMessage(m))),
      samples.map((s) => hex(decodeMessage(encode(s)))),
    );
  });

  it('finds every message whatever the chunk size, byte by byte included', () => {
    const want = samples.map((s) => Buffer.from(encode(s)).toString('hex'));
    for (const size of [1, 2, 3, 7, 64, 1000, 65_536]) {
      const chunks: Buffer[] = [];
      for (let i = 0; i < stream.length; i += size) chunks.push(stream.subarray(i, i + size));
      const got = collect(new MessageReader({ maxMessageBytes: MiB }), chunks);
      assert.deepEqual(
        got.map((m) => m.toString('hex')),
        want,
        `chunk size ${size}`,
      );
    }
  });

  it('a message completing exactly at a chunk end is delivered at once', () => {
    const one = Buffer.from(encode([0, 1, 'echo', [new Uint8Array(1000)]]));
    const reader = new MessageReader({ maxMessageBytes: MiB });
    const got: Buffer[] = [];
    reader.push(one.subarray(0, 20), (m) => got.push(m));
    reader.push(one.subarray(20), (m) => got.push(m));
    assert.equal(got.length, 1);
    assert.equal(reader.pendingBytes, 0);
  });

  it('bin values of delivered messages are not overwritten by later chunks', () => {
    const reader = new MessageReader({ maxMessageBytes: MiB });
    const values: Uint8Array[] = [];
    const a = Buffer.from(encode([2, 'n', [new Uint8Array(100).fill(1)]]));
    const b = Buffer.from(encode([2, 'n', [new Uint8Array(100).fill(2)]]));
    const both = Buffer.concat([a, b, a]);
    for (let i = 0; i < both.length; i += 30) {
      reader.push(both.subarray(i, i + 30), (m) => {
        values.push(((decodeMessage(m) as unknown[])[2] as Uint8Array[])[0]!);
      });
    }
    assert.deepEqual(
      values.map((v) => [v[0], v[99]]),
      [
        [1, 1],
        [2, 2],
        [1, 1],
      ],
    );
  });

  it('refuses a declared 4 GiB array, a 2^32-1-byte str, bin and ext from the header alone', () => {
    for (const header of [
      [0xdd, 0xff, 0xff, 0xff, 0xff], // array32 of 2^32-1
      [0x94, 0x00, 0x01, 0xa3, 0x61, 0x64, 0x64, 0xdd, 0xff, 0xff, 0xff, 0xff], // as params
      [0xdb, 0xff, 0xff, 0xff, 0xff], // str32
      [0xc6, 0xff, 0xff, 0xff, 0xff], // bin32
      [0xc9, 0x7f, 0xff, 0xff, 0xff, 0x01], // ext32
      [0xdf, 0x80, 0x00, 0x00, 0x00], // map32 of 2^31 pairs
    ]) {
      const reader = new MessageReader({ maxMessageBytes: 16 * MiB });
      throwsKind(() => reader.push(Buffer.from(header), () => assert.fail('delivered')), 'size');
    }
  });

  it('refuses a message whose parts add up past the limit before it has all arrived', () => {
    const reader = new MessageReader({ maxMessageBytes: 1000 });
    // An array of 3 bins of 400 bytes: each fits, together they do not.
    const head = Buffer.from([0x93, 0xc5, 0x01, 0x90]);
    throwsKind(() => {
      reader.push(head, () => undefined);
      reader.push(Buffer.alloc(400), () => undefined);
      reader.push(Buffer.from([0xc5, 0x01, 0x90]), () => undefined);
      reader.push(Buffer.alloc(400), () => undefined);
      reader.push(Buffer.from([0xc5, 0x01, 0x90]), () => undefined);
    }, 'size');
  });

  it('refuses nesting past the limit and too many containers', () => {
    throwsKind(
      () => new MessageReader({ maxMessageBytes: MiB }).push(Buffer.alloc(200, 0x91), () => undefined),
      'depth',
    );
    const many = Buffer.concat([Buffer.from([0xdc, 0x00, 0xff]), Buffer.alloc(255, 0x90)]);
    throwsKind(
      () => new MessageReader({ maxMessageBytes: MiB, maxContainers: 100 }).push(many, () => undefined),
      'containers',
    );
    throwsKind(
      () => new MessageReader({ maxMessageBytes: MiB }).push(Buffer.from([0xc1]), () => undefined),
      'format',
    );
  });

  it('a raw str that is not UTF-8 (old-spec bytes) arrives as bytes; valid text stays text', () => {
    const bytes = Buffer.from([0xff, 0x00, 0xfe, 0x80]);
    const long = Buffer.alloc(300, 0xff);
    // [2, "n", [<fixstr ff00fe80>, <str16 of 300 x ff>, "ok"]]
    const msg = Buffer.concat([
      Buffer.from([0x93, 0x02, 0xa1, 0x6e, 0x93, 0xa4]),
      bytes,
      Buffer.from([0xda, 0x01, 0x2c]),
      long,
      Buffer.from([0xa2, 0x6f, 0x6b]),
    ]);
    for (const size of [1, 5, msg.length]) {
      const got: unknown[] = [];
      const reader = new MessageReader({ maxMessageBytes: MiB });
      for (let i = 0; i < msg.length; i += size) {
        reader.push(Buffer.from(msg.subarray(i, i + size)), (m) => got.push(decodeMessage(m)));
      }
      const params = (got[0] as unknown[])[2] as unknown[];
      assert.ok(params[0] instanceof Uint8Array);
      assert.deepEqual([...(params[0] as Uint8Array)], [...bytes]);
      assert.ok(params[1] instanceof Uint8Array);
      assert.equal((params[1] as Uint8Array).length, 300);
      assert.equal(params[2], 'ok');
    }
  });
});
