/**
 * Turns command-line words into typed call arguments. A method of the contract is parsed by
 * its declared parameter types; any other method (a dynamic protocol can call anything) takes
 * typed words — `i32:5`, `i64:5`, `double:2.5`, `bool:true`, `str:text`, `hex:00ff`,
 * `base64:AAE=` — or untyped ones guessed as integer, number, boolean or string.
 */
import type { MethodSpec, ParamSpec, ValueType } from '../contract/spec.js';
import { UsageError } from './options.js';

const prefixes: Record<string, ValueType> = {
  i32: 'i32',
  i64: 'i64',
  double: 'double',
  bool: 'bool',
  str: 'string',
  hex: 'binary',
  base64: 'binary',
  bytes: 'binary',
};

function parseAs(type: ValueType, word: string, what: string, encoding = 'text'): unknown {
  switch (type) {
    case 'i32':
    case 'i64': {
      if (!/^[+-]?\d+$/.test(word)) throw new UsageError(`${what} must be an integer, got "${word}"`);
      return type === 'i64' ? BigInt(word) : Number(word);
    }
    case 'double': {
      const n = Number(word);
      if (word.trim() === '' || Number.isNaN(n))
        throw new UsageError(`${what} must be a number, got "${word}"`);
      return n;
    }
    case 'bool':
      if (word !== 'true' && word !== 'false')
        throw new UsageError(`${what} must be true or false, got "${word}"`);
      return word === 'true';
    case 'string':
      return word;
    case 'binary':
      if (encoding === 'hex') {
        if (!/^([0-9a-fA-F]{2})*$/.test(word)) throw new UsageError(`${what}: "${word}" is not hex`);
        return new Uint8Array(Buffer.from(word, 'hex'));
      }
      if (encoding === 'base64') return new Uint8Array(Buffer.from(word, 'base64'));
      return new Uint8Array(Buffer.from(word, 'utf8'));
  }
}

function splitPrefix(word: string): { type?: ValueType; encoding: string; rest: string } {
  const colon = word.indexOf(':');
  if (colon > 0) {
    const prefix = word.slice(0, colon);
    const type = prefixes[prefix];
    if (type) return { type, encoding: prefix, rest: word.slice(colon + 1) };
  }
  return { encoding: 'text', rest: word };
}

function guess(word: string): { type: ValueType; value: unknown } {
  if (/^[+-]?\d+$/.test(word)) {
    const n = Number(word);
    if (n >= -(2 ** 31) && n < 2 ** 31) return { type: 'i32', value: n };
    return { type: 'i64', value: BigInt(word) };
  }
  if (word !== '' && !Number.isNaN(Number(word))) return { type: 'double', value: Number(word) };
  if (word === 'true' || word === 'false') return { type: 'bool', value: word === 'true' };
  return { type: 'string', value: word };
}

export interface ParsedCall {
  readonly spec: MethodSpec;
  readonly args: unknown[];
}

export function parseCallArgs(
  method: string,
  spec: MethodSpec | undefined,
  words: readonly string[],
): ParsedCall {
  if (spec) {
    if (words.length !== spec.params.length) {
      const names = spec.params.map((p) => `<${p.name}:${p.type}>`).join(' ');
      throw new UsageError(`${method} takes ${spec.params.length} argument(s): ${method} ${names}`);
    }
    const args = spec.params.map((param, i) => {
      const { type, encoding, rest } = splitPrefix(words[i]!);
      const what = `argument '${param.name}'`;
      if (type !== undefined && type !== param.type) {
        throw new UsageError(`${what} is ${param.type}, but was given as ${type}`);
      }
      return parseAs(param.type, rest, what, encoding);
    });
    return { spec, args };
  }
  const params: ParamSpec[] = [];
  const args = words.map((word, i) => {
    const { type, encoding, rest } = splitPrefix(word);
    const name = `arg${i + 1}`;
    if (type !== undefined) {
      params.push({ name, type });
      return parseAs(type, rest, `argument ${i + 1}`, encoding);
    }
    const guessed = guess(word);
    params.push({ name, type: guessed.type });
    return guessed.value;
  });
  // An ad-hoc method's result type is unknown: whatever the protocol decodes is printed.
  return { spec: { params, result: 'dynamic' }, args };
}
