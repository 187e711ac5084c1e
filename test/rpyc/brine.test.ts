import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { RpcError } from '../../src/contract/errors.js';
import {
  BrineLimitError,
  type BrineValue,
  DEFAULT_MAX_DEPTH,
  dump,
  Ellipsis,
  isDumpable,
  load,
  PyFloat,
  PyFrozenSet,
  PySlice,
} from '../../src/protocols/rpyc/brine.js';
import { peersPython, requirePeers } from '../support/peers.js';
import { fromTagged, loadVectors } from './brine-vectors.js';

/** Uint8Array views and Buffers compare by content in these tests. */
function normalize(v: unknown): unknown {
  if (v instanceof Uint8Array) return { bytes: Buffer.from(v).toString('hex') };
  if (Array.isArray(v)) return v.map(normalize);
  if (typeof v === 'number' && Number.isNaN(v)) return 'NaN';
  if (v instanceof PyFloat)
    return { float: Number.isNaN(v.value) ? 'NaN' : Object.is(v.value, -0) ? '-0' : v.value };
  if (v !== null && typeof v === 'object' && !(v === Ellipsis)) {
    return { [v.constructor.name]: Object.fromEntries(Object.entries(v).map(([k, x]) => [k, normalize(x)])) };
  }
  return v;
}

describe('brine against vectors dumped by rpyc 6.0.2', () => {
  const vectors = loadVectors();
  it('has vectors for every tag', () => {
    const tags = new Set<number>();
    for (const v of vectors) for (const b of Buffer.from(v.hex, 'hex').subarray(0, 1)) tags.add(b);
    for (const tag of [0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x08, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f]) {
      assert.ok(tags.has(tag), `no vector starts with tag 0x${tag.toString(16)}`);
    }
    for (const tag of [0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b]) {
      assert.ok(tags.has(tag), `no vector starts with tag 0x${tag.toString(16)}`);
    }
  });

  for (const v of vectors) {
    it(`load + dump: ${v.name}`, () => {
      const bytes = Buffer.from(v.hex, 'hex');
      // load: the decoded value is the Python value
      assert.deepEqual(normalize(load(bytes)), normalize(fromTagged(v.value, false)));
      assert.deepEqual(
        normalize(load(bytes, { preserveFloats: true })),
        normalize(fromTagged(v.value, true)),
      );
      // dump: the TypeScript value encodes to Python's exact bytes
      assert.equal(dump(fromTagged(v.value, true)).toString('hex'), v.hex);
      // and what we load dumps back unchanged
      assert.equal(dump(load(bytes, { preserveFloats: true })).toString('hex'), v.hex);
    });
  }
});

describe('brine edge cases', () => {
  it('plain JS numbers: safe integers are ints, the rest floats', () => {
    assert.equal(dump(7).toString('hex'), '57');
    assert.equal(dump(1.5)[0], 0x18);
    assert.equal(dump(-0)[0], 0x18);
    assert.equal(dump(2 ** 53)[0], 0x18);
    assert.equal(dump(2n ** 53n)[0], 0x16);
    assert.equal(load(dump(2n ** 64n)), 2n ** 64n);
    assert.equal(load(dump(-(2 ** 40))), -(2 ** 40));
  });

  it('undefined dumps as None; unsupported values are refused', () => {
    assert.equal(dump(undefined).toString('hex'), '00');
    assert.throws(() => dump({} as never), TypeError);
    assert.throws(() => dump(Symbol('x') as never), TypeError);
  });

  const bad: Array<[string, string]> = [
    ['empty input', ''],
    ['unknown tag', '07'],
    ['truncated bytes', '0e05616263'],
    ['length past the end', '0fffffffff'],
    ['truncated float', '18000000'],
    ['tuple count past the end', '15ffffffff'],
    ['malformed int', '1602 3a41'.replace(' ', '')],
    ['unicode of a non-bytes', '0857'],
    ['invalid utf-8', '080aff'],
    ['slice of a 2-tuple', '19115152'],
    ['trailing bytes', '5050'],
  ];
  for (const [name, hex] of bad) {
    it(`rejects ${name} with a PROTOCOL error`, () => {
      assert.throws(
        () => load(Buffer.from(hex, 'hex')),
        (e: unknown) => e instanceof RpcError && e.code === 'PROTOCOL',
      );
    });
  }

  it('refuses ints of more than 4300 digits both ways, as Python does', () => {
    const limit = 10n ** 4300n - 1n; // 4300 digits
    assert.equal(load(dump(limit)), limit);
    assert.equal(load(dump(-limit)), -limit);
    assert.throws(() => dump(10n ** 4300n), TypeError);
    const huge = Buffer.concat([Buffer.from([0x17, 0, 0x0f, 0x42, 0x40]), Buffer.alloc(1_000_000, 0x37)]);
    assert.throws(
      () => load(huge),
      (e: unknown) => e instanceof RpcError && e.code === 'PROTOCOL' && /4300 digits/.test(e.message),
    );
  });

  it('bounds the objects one load allocates (ints cost nothing)', () => {
    const tupleOf = (n: number, item: Buffer) => {
      const head = Buffer.alloc(5);
      head[0] = 0x15;
      head.writeUInt32BE(n, 1);
      return Buffer.concat([head, Buffer.concat(Array.from({ length: n }, () => item))]);
    };
    // A million one-byte values that allocate nothing (ints, None) load fine...
    assert.equal((load(tupleOf(1_000_000, Buffer.of(0x50))) as unknown[]).length, 1_000_000);
    assert.equal((load(tupleOf(1_000_000, Buffer.of(0x00))) as unknown[]).length, 1_000_000);
    // ...a million one-byte strs, empty bytes or empty tuples do not (each is a JavaScript object).
    for (const item of [Buffer.of(0x0a, 0x61), Buffer.of(0x01), Buffer.of(0x02)])
      assert.throws(
        () => load(tupleOf(1_000_000, item)),
        (e: unknown) =>
          e instanceof RpcError && e.code === 'PROTOCOL' && /values in one message/.test(e.message),
      );
    const empties = load(tupleOf(2, Buffer.of(0x02))) as unknown[][];
    assert.notEqual(empties[0], empties[1], 'fresh, mutable arrays');
    empties[0]!.push(1);
    assert.equal(
      (load(tupleOf(1000, Buffer.of(0x0a, 0x61)), { maxObjects: 1001 }) as unknown[]).length,
      1000,
    );
    assert.throws(() => load(tupleOf(1000, Buffer.of(0x0a, 0x61)), { maxObjects: 1000 }), RpcError);
  });

  it('bounds nesting depth', () => {
    const deep = Buffer.concat([Buffer.alloc(10_000, 0x10), Buffer.from([0x50])]);
    assert.throws(
      () => load(deep),
      (e: unknown) => e instanceof BrineLimitError && e.code === 'PROTOCOL',
    );
    assert.throws(() => dump(nest(10_000, 1) as never), RpcError);
  });

  it('the deepest nesting accepted (1024) round-trips; one level deeper fails both ways', () => {
    assert.equal(DEFAULT_MAX_DEPTH, 1024);
    const leaves: unknown[] = [1, 'ü', [], new Uint8Array(300), 2n ** 100n];
    for (const leaf of leaves) {
      const deepest = nest(DEFAULT_MAX_DEPTH, leaf) as BrineValue;
      assert.equal(isDumpable(deepest), true);
      const bytes = dump(deepest);
      assert.deepEqual(normalize(load(bytes)), normalize(deepest));
      const deeper = nest(DEFAULT_MAX_DEPTH + 1, leaf) as BrineValue;
      assert.equal(isDumpable(deeper), false);
      assert.throws(() => dump(deeper), /nesting deeper than 1024/);
      assert.throws(
        () => load(Buffer.concat([Buffer.of(0x10), bytes])),
        (e: unknown) => e instanceof BrineLimitError && /nesting deeper than 1024/.test(e.message),
      );
    }
    // A slice and a frozenset are dumped as a tuple one level down: isDumpable agrees with dump.
    for (const wrap of [
      (v: BrineValue) => new PySlice(v, null, null),
      (v: BrineValue) => new PyFrozenSet([v]),
    ]) {
      const fits = wrap(nest(DEFAULT_MAX_DEPTH - 2, 0) as BrineValue);
      assert.equal(isDumpable(fits), true);
      assert.deepEqual(normalize(load(dump(fits))), normalize(fits));
      const over = wrap(nest(DEFAULT_MAX_DEPTH - 1, 0) as BrineValue);
      assert.equal(isDumpable(over), false);
      assert.throws(() => dump(over), /nesting deeper than 1024/);
    }
  });

  it('running out of stack while loading is a limit error, not a crash', () => {
    const deep = Buffer.concat([Buffer.alloc(200_000, 0x10), Buffer.from([0x50])]);
    assert.throws(
      () => load(deep, { maxDepth: Number.MAX_SAFE_INTEGER }),
      (e: unknown) => e instanceof BrineLimitError && /too deep for the stack/.test(e.message),
    );
  });

  it('a unicode tag must be followed by bytes', () => {
    assert.equal(load(Buffer.of(0x08, 0x0a, 0x61)), 'a');
    assert.equal(load(Buffer.of(0x08, 0x01)), '');
    for (const bad of [Buffer.of(0x08, 0x08, 0x0a, 0x61), Buffer.of(0x08, 0x02), Buffer.of(0x08, 0x50)])
      assert.throws(() => load(bad), /unicode tag not followed by bytes/);
    assert.throws(
      () => load(Buffer.of(0x11, 0x08, 0x0a, 0x61, 0x08, 0x0a, 0x62), { maxObjects: 3 }),
      BrineLimitError,
    );
    assert.deepEqual(load(Buffer.of(0x11, 0x08, 0x0a, 0x61, 0x08, 0x0a, 0x62), { maxObjects: 5 }), [
      'a',
      'b',
    ]);
  });
});

function nest(levels: number, leaf: unknown): unknown {
  let v = leaf;
  for (let i = 0; i < levels; i++) v = [v];
  return v;
}

describe('brine nesting against rpyc 6.0.2', () => {
  it('the deepest tuple rpyc can dump, we load (and dump back byte for byte)', async (t) => {
    if (!requirePeers(t)) return;
    // Nest until rpyc's own dump gives up (Python's recursion limit), keep the deepest it managed.
    const program = [
      'from rpyc.core import brine',
      "v, deepest = 'x', None",
      'for depth in range(5000):',
      '    try:',
      '        data = brine.dump(v)',
      '    except RecursionError:',
      '        break',
      '    deepest = (depth, data)',
      '    v = (v,)',
      'print(deepest[0], deepest[1].hex())',
    ].join('\n');
    const run = spawnSync(peersPython, ['-c', program], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(run.status, 0, run.stderr);
    const [depthText, hex] = run.stdout.trim().split(' ') as [string, string];
    const depth = Number(depthText);
    // rpyc 6.0.2 on CPython 3.11 stops at 498; anything in this range proves the point.
    assert.ok(depth > 256 && depth <= DEFAULT_MAX_DEPTH, `rpyc dumped ${depth} levels`);
    const bytes = Buffer.from(hex, 'hex');
    const value = load(bytes);
    assert.deepEqual(value, nest(depth, 'x'));
    assert.equal(dump(value).toString('hex'), hex);
  });
});
