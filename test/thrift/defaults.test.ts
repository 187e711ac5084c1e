/**
 * IDL default values (`1: i32 count = 42`): converted to the field's type when the IDL is
 * loaded, carried by a struct read without the field, and written for a field left undefined,
 * as thriftpy2 and generated code do; checked byte for byte against thriftpy2's encoding.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { defineContract } from '../../src/contract/index.js';
import { readStruct, writeStruct } from '../../src/protocols/thrift/codec.js';
import { IdlError, parseIdl, type ThriftIdl } from '../../src/protocols/thrift/idl.js';
import { thrift } from '../../src/protocols/thrift/index.js';
import { encodeMessage, messageReader } from '../../src/protocols/thrift/library.js';
import { peersPython, requirePeers } from '../support/peers.js';
import { binaryCallHeader, i16, i32, sendRaw } from './raw.js';

const IDL = `
enum Op { ADD = 1, MUL = 0x10 }
const i32 ANSWER = 42
const Op FAVOURITE = Op.MUL
struct Inner { 1: string label = "in", 2: i32 n }
struct Defaults {
  1: i32 count = ANSWER,
  2: i64 big = 9007199254740993,
  3: double ratio = 0.5,
  4: string name = "tea",
  5: binary raw = "ab",
  6: bool on = true,
  7: Op op = Op.MUL,
  8: Op fav = FAVOURITE,
  9: list<i16> small = [1, 2],
  10: set<string> tags = ["a"],
  11: map<string, i64> counts = {"x": 1},
  12: Inner inner = {"n": 3},
  13: optional i32 none,
  14: required i32 must = 7,
}
service Defaulted {
  Defaults get(1: Defaults d),
  i32 sum(1: i32 a, 2: i32 b = 40),
}
`;

const dir = mkdtempSync(path.join(os.tmpdir(), 'rpclab-thrift-defaults-'));
const idlPath = path.join(dir, 'defaults.thrift');
writeFileSync(idlPath, IDL);
after(() => rmSync(dir, { recursive: true, force: true }));

const EXPECTED = {
  count: 42,
  big: 9007199254740993n,
  ratio: 0.5,
  name: 'tea',
  raw: new Uint8Array(Buffer.from('ab')),
  on: true,
  op: 16,
  fav: 16,
  small: [1, 2],
  tags: ['a'],
  counts: new Map([['x', 1n]]),
  inner: { label: 'in', n: 3 },
  must: 7,
};

function struct(idl: ThriftIdl, name: string) {
  const s = idl.structs.get(name);
  assert.ok(s);
  return s;
}

/** A bare struct in the binary protocol, written by our writer. */
function written(idl: ThriftIdl, values: Record<string, unknown>): Buffer {
  const s = struct(idl, 'Defaults');
  return encodeMessage('binary', false, (p) =>
    writeStruct(p, 'Defaults', s.fields, values, (n) => idl.structs.get(n)),
  );
}

function read(idl: ThriftIdl, bytes: Buffer): Record<string, unknown> {
  const values = readStruct(messageReader('binary', bytes), struct(idl, 'Defaults').fields, (n) =>
    idl.structs.get(n),
  ).values;
  // Buffers and Uint8Arrays compare alike.
  return { ...values, raw: values.raw instanceof Uint8Array ? new Uint8Array(values.raw) : values.raw };
}

describe('thrift IDL default values', () => {
  const idl = parseIdl(IDL, idlPath);

  it('are converted to the field type, constants and enum members resolved', () => {
    const values = Object.fromEntries(
      struct(idl, 'Defaults')
        .fields.filter((f) => f.default !== undefined)
        .map((f) => [f.name, f.default]),
    );
    assert.deepEqual({ ...values, raw: new Uint8Array(values.raw as Uint8Array) }, EXPECTED);
    assert.equal(
      struct(idl, 'Defaults').fields.find((f) => f.name === 'none')?.default,
      undefined,
      'no default, none carried',
    );
  });

  it('a struct read without the fields carries the defaults (each read its own copy)', () => {
    const empty = Buffer.from([0]); // just STOP
    const first = read(idl, empty);
    assert.deepEqual(first, { ...EXPECTED });
    (first.small as number[]).push(99);
    assert.deepEqual(read(idl, empty).small, [1, 2]);
    // A field present on the wire wins over its default.
    const some = read(idl, Buffer.concat([Buffer.from([8]), i16(1), i32(5), Buffer.from([0])]));
    assert.equal(some.count, 5);
    assert.equal(some.name, 'tea');
  });

  it('a struct written without the fields sends the defaults; null leaves a field out', () => {
    const explicit = written(idl, { ...EXPECTED });
    assert.deepEqual(written(idl, {}), explicit);
    assert.deepEqual(written(idl, { count: undefined }), explicit);
    assert.ok(written(idl, { count: null }).length < explicit.length);
  });

  it('a required field with a default may be left out by the caller', async () => {
    const contract = defineContract({
      name: 'Defaulted',
      namespace: 'defaults',
      methods: {
        get: { params: [{ name: 'd', type: 'dynamic' }], result: 'dynamic' },
        sum: {
          params: [
            { name: 'a', type: 'i32' },
            { name: 'b', type: 'i32' },
          ],
          result: 'i32',
        },
      },
    });
    const server = await thrift.serve(
      contract,
      { get: (d: unknown) => d, sum: (a: number, b: number) => a + b },
      { port: 0, schemaPath: idlPath },
    );
    try {
      const c = await thrift.connect(contract, { port: server.port, schemaPath: idlPath, timeoutMs: 2_000 });
      const got = (await c.get({ count: 1 })) as Record<string, unknown>;
      assert.equal(got.count, 1);
      assert.equal(got.must, 7);
      assert.deepEqual(got.inner, { label: 'in', n: 3 });
      await c.close();
      // A call whose argument 2 is absent (another client's, built by hand) gets b's default.
      const call = Buffer.concat([
        binaryCallHeader('sum', 9),
        Buffer.from([8]),
        i16(1),
        i32(2),
        Buffer.from([0]),
      ]);
      const out = await sendRaw(server.port, [call], 1_000);
      assert.equal(out.received.readInt32BE(out.received.length - 5), 42, out.received.toString('hex'));
    } finally {
      await server.close();
    }
  });

  it('a default that does not fit its type, or names an unknown constant, is an IdlError', () => {
    assert.throws(() => parseIdl('struct S { 1: i32 n = "x" }'), IdlError);
    assert.throws(() => parseIdl('struct S { 1: list<i32> n = {"a": 1} }'), IdlError);
    assert.throws(() => parseIdl('struct S { 1: i32 n = NOPE }'), /unknown constant NOPE/);
    assert.throws(() => parseIdl('struct T { 1: i32 a } struct S { 1: T t = {"b": 1} }'), /unknown field/);
  });

  it('are the bytes thriftpy2 writes for a struct built with no arguments', (t) => {
    if (!requirePeers(t)) return;
    const script = [
      'import sys, thriftpy2',
      'from thriftpy2.utils import serialize',
      'from thriftpy2.protocol import TBinaryProtocolFactory',
      'm = thriftpy2.load(sys.argv[1], module_name="defaults_thrift")',
      'sys.stdout.write(serialize(m.Defaults(), TBinaryProtocolFactory()).hex())',
    ].join('\n');
    const run = spawnSync(peersPython, ['-c', script, idlPath], { encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    const theirs = Buffer.from(run.stdout.trim(), 'hex');
    assert.equal(written(idl, {}).toString('hex'), theirs.toString('hex'));
    assert.deepEqual(read(idl, theirs), { ...EXPECTED });
  });
});
