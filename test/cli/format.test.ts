/** How `rpclab call` prints results: text for a person, --json for scripts, exact either way. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatValue, jsonValue } from '../../src/cli/format.js';

const big = 2n ** 53n + 1n;

describe('formatValue', () => {
  it('prints top-level scalars as they are', () => {
    assert.equal(formatValue('plain text'), 'plain text');
    assert.equal(formatValue(big), '9007199254740993');
    assert.equal(formatValue(7), '7');
    assert.equal(formatValue(-0), '-0');
    assert.equal(formatValue(Number.NaN), 'NaN');
    assert.equal(formatValue(Number.NEGATIVE_INFINITY), '-Infinity');
    assert.equal(formatValue(true), 'true');
    assert.equal(formatValue(null), 'null');
  });

  it('prints nothing for a void or oneway result', () => {
    assert.equal(formatValue(undefined), '');
  });

  it('prints bytes as text when printable, else as a count and hex', () => {
    assert.equal(formatValue(new Uint8Array(Buffer.from('hello'))), 'hello');
    assert.equal(formatValue(new Uint8Array([0, 255, 16])), '<3 bytes> 00ff10');
    assert.equal(formatValue(new Uint8Array(65)), `<65 bytes> ${'00'.repeat(64)}…`);
  });

  it('renders a struct holding an i64, a map, a set, bytes and non-finite numbers', () => {
    const value = {
      value: big,
      counts: new Map<string, bigint>([
        ['a', 1n],
        ['b', -(2n ** 62n)],
      ]),
      byId: new Map<number, string>([[3, 'three']]),
      tags: new Set([1, 3]),
      raw: new Uint8Array([0, 255]),
      name: new Uint8Array(Buffer.from('ok')),
      ratio: Number.POSITIVE_INFINITY,
      nested: [{ x: [1n, 2n] }, []],
      missing: undefined,
    };
    assert.equal(
      formatValue(value),
      '{"value": 9007199254740993, "counts": {"a": 1, "b": -4611686018427387904}, "byId": {3: "three"}, ' +
        '"tags": [1, 3], "raw": <2 bytes> 00ff, "name": "ok", "ratio": Infinity, "nested": [{"x": [1, 2]}, []]}',
    );
  });

  it('quotes nested strings, so "1" and 1 differ', () => {
    assert.equal(formatValue(['1', 1, 'a "q"']), '["1", 1, "a \\"q\\""]');
  });

  it('survives a cycle', () => {
    const a: { self?: unknown } = {};
    a.self = a;
    assert.equal(formatValue(a), '{"self": <cycle>}');
  });
});

describe('jsonValue', () => {
  const roundTrip = (v: unknown) =>
    JSON.parse(JSON.stringify({ result: jsonValue(v) })) as { result: unknown };

  it('is null for a void or oneway result', () => {
    assert.deepEqual(roundTrip(undefined), { result: null });
  });

  it('keeps i64 exact as strings, bytes as base64, non-finite numbers as strings, recursively', () => {
    const value = {
      value: big,
      raw: new Uint8Array([0, 255]),
      ratio: Number.NaN,
      list: [Number.NEGATIVE_INFINITY, 1.5, [big]],
      skipped: undefined,
    };
    assert.deepEqual(roundTrip(value).result, {
      value: '9007199254740993',
      raw: { base64: 'AP8=' },
      ratio: 'NaN',
      list: ['-Infinity', 1.5, ['9007199254740993']],
    });
  });

  it('turns maps into objects, sets into arrays', () => {
    const value = {
      counts: new Map<string, bigint>([['a', big]]),
      byId: new Map<number, Set<string>>([[3, new Set(['x', 'y'])]]),
    };
    assert.deepEqual(roundTrip(value).result, {
      counts: { a: '9007199254740993' },
      byId: { '3': ['x', 'y'] },
    });
  });

  it('turns a map with keys JSON cannot name into [key, value] pairs', () => {
    const structKeys = new Map<unknown, number>([[{ id: 1n }, 10]]);
    assert.deepEqual(roundTrip(structKeys).result, [[{ id: '1' }, 10]]);
    // 1 and "1" would collide as object keys.
    const colliding = new Map<unknown, string>([
      [1, 'number'],
      ['1', 'string'],
    ]);
    assert.deepEqual(roundTrip(colliding).result, [
      [1, 'number'],
      ['1', 'string'],
    ]);
  });
});
