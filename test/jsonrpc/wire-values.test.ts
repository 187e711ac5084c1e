/** The JSON forms of contract values, and the parser that accepts Python's bare Infinity/NaN. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidArgumentError } from '../../src/contract/errors.js';
import { parseJson } from '../../src/protocols/jsonrpc/lenient-json.js';
import { decodeParams, decodeValue, encodeValue } from '../../src/protocols/jsonrpc/wire-values.js';

describe('jsonrpc wire values', () => {
  it('binary is standard padded base64 both ways', () => {
    const bytes = Uint8Array.from([0, 1, 2, 250, 251, 252, 253, 254, 255]);
    assert.equal(encodeValue('binary', bytes), 'AAEC+vv8/f7/');
    assert.deepEqual([...(decodeValue('binary', 'AAEC+vv8/f7/', 'x') as Uint8Array)], [...bytes]);
    assert.deepEqual([...(decodeValue('binary', '', 'x') as Uint8Array)], []);
    // A subarray view encodes only its own bytes.
    assert.equal(encodeValue('binary', bytes.subarray(3, 6)), '+vv8');
  });

  it('rejects text that is not base64 as INVALID_ARGUMENT', () => {
    for (const bad of ['abc!', 'A', 'AA=A', 'a b c']) {
      assert.throws(() => decodeValue('binary', bad, 'echo: data'), InvalidArgumentError, bad);
    }
  });

  it('non-finite doubles travel as strings', () => {
    assert.equal(encodeValue('double', Number.POSITIVE_INFINITY), 'Infinity');
    assert.equal(encodeValue('double', Number.NEGATIVE_INFINITY), '-Infinity');
    assert.equal(encodeValue('double', Number.NaN), 'NaN');
    assert.equal(encodeValue('double', 0.5), 0.5);
    assert.equal(decodeValue('double', '-Infinity', 'x'), Number.NEGATIVE_INFINITY);
    assert.ok(Number.isNaN(decodeValue('double', 'NaN', 'x')));
    // Any other string is left for validation to reject.
    assert.equal(decodeValue('double', 'inf', 'x'), 'inf');
  });

  it('i64 is a number when safe, else a decimal string', () => {
    assert.equal(encodeValue('i64', 42n), 42);
    assert.equal(encodeValue('i64', 2n ** 62n), '4611686018427387904');
    assert.equal(decodeValue('i64', '4611686018427387904', 'x'), 2n ** 62n);
    assert.equal(decodeValue('i64', 7, 'x'), 7n);
  });

  it('params by position or by name', () => {
    const spec = {
      params: [
        { name: 'a', type: 'i32' },
        { name: 'b', type: 'double' },
      ],
      result: 'double',
    } as const;
    assert.deepEqual(decodeParams('m', spec, [1, 'Infinity']), [1, Number.POSITIVE_INFINITY]);
    assert.deepEqual(decodeParams('m', spec, { b: 2, a: 1 }), [1, 2]);
    assert.deepEqual(decodeParams('m', spec, undefined), []);
    assert.throws(() => decodeParams('m', spec, { a: 1 }), /missing argument 'b'/);
    assert.throws(() => decodeParams('m', spec, { a: 1, b: 2, c: 3 }), /no parameter 'c'/);
  });

  it('parseJson accepts the bare tokens Python writes, outside strings only', () => {
    assert.deepEqual(parseJson('[1, 2]'), [1, 2]);
    assert.deepEqual(parseJson('{"r": Infinity, "s": -Infinity, "t": NaN}'), {
      r: 'Infinity',
      s: '-Infinity',
      t: 'NaN',
    });
    assert.deepEqual(parseJson('["say \\"NaN\\" Infinity", NaN]'), ['say "NaN" Infinity', 'NaN']);
    assert.throws(() => parseJson('{"a": Infinityx}'), SyntaxError);
    assert.throws(() => parseJson('{"a": 1'), SyntaxError);
  });
});
