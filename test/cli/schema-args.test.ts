/** Words typed by a schema (`rpclab call ... --schema`): the values handed to the protocol's writer. */
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { UsageError } from '../../src/cli/options.js';
import { methodUsage, parseSchemaArgs } from '../../src/cli/schema-args.js';
import { repoRoot } from '../../src/peers/python.js';
import { thrift } from '../../src/protocols/thrift/index.js';

const schema = thrift.describe!({
  schemaPath: path.join(repoRoot, 'test', 'cli', 'fixtures', 'toolbox.thrift'),
});
const toolbox = schema.services.get('Toolbox')!;

function parse(method: string, ...words: string[]): unknown[] {
  return parseSchemaArgs(schema, toolbox.methods.get(method)!, words);
}

function refuses(method: string, words: string[], pattern: RegExp): void {
  assert.throws(
    () => parse(method, ...words),
    (err: unknown) => err instanceof UsageError && pattern.test(err.message),
  );
}

describe('schema-typed call arguments', () => {
  it('strings as is, whatever they look like', () => {
    assert.deepEqual(parse('echoS', '123'), ['123']);
    assert.deepEqual(parse('add', 'true', '-1'), ['true', '-1']);
  });

  it('integers by their width, range-checked; i64 as bigint', () => {
    assert.deepEqual(parse('half', '-32768'), [-32768]);
    refuses('half', ['32768'], /i16 integer in \[-32768, 32767\]/);
    refuses('half', ['0x10'], /i16 integer/);
    assert.deepEqual(
      parse('summarize', '["-9223372036854775808", "9223372036854775807", 5]', '{}', '[]')[0],
      [-(2n ** 63n), 2n ** 63n - 1n, 5n],
    );
    refuses(
      'summarize',
      ['["9223372036854775808"]', '{}', '[]'],
      /argument 'values'\[0\] must be an i64 integer/,
    );
  });

  it('bytes as text, hex: or base64:', () => {
    assert.deepEqual(parse('flip', 'hi'), [new Uint8Array([104, 105])]);
    assert.deepEqual(parse('flip', 'hex:00ff'), [new Uint8Array([0, 255])]);
    assert.deepEqual(parse('flip', 'base64:AAE='), [new Uint8Array([0, 1])]);
    refuses('flip', ['hex:0g'], /is not hex/);
  });

  it('doubles including inf and nan; bools as true/false', () => {
    const [x] = parse('scale', 'nan', 'true');
    assert.ok(Number.isNaN(x));
    assert.deepEqual(parse('scale', '-inf', 'false'), [Number.NEGATIVE_INFINITY, false]);
    assert.deepEqual(parse('scale', '1e3', 'true'), [1000, true]);
    refuses('scale', ['x', 'true'], /argument 'x' must be a number/);
  });

  it('structs and enums from JSON: enum members by name or number, nested types converted', () => {
    assert.deepEqual(parse('compute', '{"num1":1,"num2":null,"op":"MUL","comment":"c"}', 'SUB'), [
      { num1: 1, op: 16, comment: 'c' },
      2,
    ]);
    assert.deepEqual(parse('compute', '{"num1":1,"op":7}', '99'), [{ num1: 1, op: 7 }, 99]);
    refuses('compute', ['{"num1":"x"}', 'ADD'], /argument 'work'\.num1 must be an i32 integer/);
    refuses('compute', ['[1]', 'ADD'], /argument 'work' must be a JSON object \(Work\)/);
  });

  it('lists as arrays, sets as Sets (duplicates dropped), maps as Maps with typed keys', () => {
    const [values, weights, labels] = parse('summarize', '[1,"2"]', '{"a":1}', '["x","x","y"]');
    assert.deepEqual(values, [1n, 2n]);
    assert.deepEqual(weights, new Map([['a', 1]]));
    assert.deepEqual(labels, new Set(['x', 'y']));
    // The [[key, value], ...] form, for keys JSON objects cannot carry.
    assert.deepEqual(
      parse('summarize', '[]', '[["a",1],["b",2]]', '[]')[1],
      new Map([
        ['a', 1],
        ['b', 2],
      ]),
    );
    refuses('summarize', ['[]', '[["a"]]', '[]'], /must be a \[key, value\] pair/);
    refuses('summarize', ['[9007199254740993]', '{}', '[]'], /beyond 2\^53/);
  });

  it('the wrong number of words shows the signature', () => {
    assert.equal(
      methodUsage(toolbox.methods.get('summarize')!),
      'summarize <values:list<i64>> <weights:map<string,i32>> <labels:set<string>>',
    );
    refuses('compute', ['{"num1":1}'], /compute takes 2 argument\(s\): compute <work:Work> <mode:Op>/);
  });
});
