/**
 * Turns command-line words into call arguments typed by a schema (Protocol.describe()), for
 * `rpclab call <protocol> <method> ... --schema FILE`. A word is read by its parameter's type:
 * strings as is, integers with their range checked, bytes as text / hex: / base64:, enums by
 * member name or number, and structs, lists, sets and maps from JSON. The values are those the
 * protocol's writer takes: numbers, bigint for i64, Uint8Array, plain objects, arrays, Maps.
 */
import type { SchemaDescription, SchemaField, SchemaMethod, SchemaType } from '../protocols/types.js';
import { UsageError } from './options.js';

const INT_RANGES = {
  i8: [-(2 ** 7), 2 ** 7 - 1],
  i16: [-(2 ** 15), 2 ** 15 - 1],
  i32: [-(2 ** 31), 2 ** 31 - 1],
} as const;

const I64_MIN = -(2n ** 63n);
const I64_MAX = 2n ** 63n - 1n;

/** Short form of a type for messages and usage lines: "i32", "list<Work>", "map<string,i64>". */
export function schemaTypeName(t: SchemaType): string {
  switch (t.kind) {
    case 'enum':
    case 'struct':
      return t.name;
    case 'list':
    case 'set':
      return `${t.kind}<${schemaTypeName(t.elem)}>`;
    case 'map':
      return `map<${schemaTypeName(t.key)},${schemaTypeName(t.value)}>`;
    default:
      return t.kind;
  }
}

/** "add <a:i32> <b:i32>" */
export function methodUsage(method: SchemaMethod): string {
  return [method.name, ...method.params.map((p) => `<${p.name}:${schemaTypeName(p.type)}>`)].join(' ');
}

/** Where a bad value sits, for messages: "argument 'work'", "argument 'work'.num1", "...[2]". */
type Where = string;

class Reader {
  constructor(private readonly schema: SchemaDescription) {}

  /** A command-line word: scalars and enums as written, containers and structs as JSON. */
  word(t: SchemaType, word: string, where: Where): unknown {
    switch (t.kind) {
      case 'struct':
      case 'list':
      case 'set':
      case 'map': {
        let json: unknown;
        try {
          json = JSON.parse(word);
        } catch (err) {
          throw new UsageError(
            `${where} is ${schemaTypeName(t)}: give it as JSON (${(err as Error).message}), got ${word}`,
          );
        }
        return this.json(t, json, where);
      }
      default:
        return this.text(t, word, where);
    }
  }

  /** A scalar or enum given as text (a word, a JSON map key, or a JSON string). */
  private text(t: SchemaType, word: string, where: Where): unknown {
    switch (t.kind) {
      case 'i8':
      case 'i16':
      case 'i32': {
        const [min, max] = INT_RANGES[t.kind];
        const n = Number(word);
        if (!/^[+-]?\d+$/.test(word) || n < min || n > max)
          throw new UsageError(`${where} must be an ${t.kind} integer in [${min}, ${max}], got "${word}"`);
        return n;
      }
      case 'i64': {
        const n = /^[+-]?\d+$/.test(word) ? BigInt(word) : undefined;
        if (n === undefined || n < I64_MIN || n > I64_MAX)
          throw new UsageError(`${where} must be an i64 integer, got "${word}"`);
        return n;
      }
      case 'double': {
        const n = Number(word.replace(/^([+-]?)inf$/i, '$1Infinity').replace(/^nan$/i, 'NaN'));
        if (word.trim() === '' || (Number.isNaN(n) && !/^nan$/i.test(word)))
          throw new UsageError(`${where} must be a number, got "${word}"`);
        return n;
      }
      case 'bool':
        if (word !== 'true' && word !== 'false')
          throw new UsageError(`${where} must be true or false, got "${word}"`);
        return word === 'true';
      case 'string':
        return word;
      case 'binary':
        return bytes(word, where);
      case 'enum':
        return this.enumValue(t.name, word, where);
      default:
        throw new UsageError(`${where} is ${schemaTypeName(t)}: give it as JSON, got "${word}"`);
    }
  }

  private enumValue(name: string, word: string, where: Where): number {
    const members = this.schema.enums.get(name);
    const named = members?.get(word);
    if (named !== undefined) return named;
    if (/^[+-]?\d+$/.test(word)) {
      const n = Number(word);
      // Peers may know members this schema lacks, so any i32 goes; names must exist.
      if (n >= INT_RANGES.i32[0] && n <= INT_RANGES.i32[1]) return n;
    }
    const known = members ? [...members].map(([k, v]) => `${k}=${v}`).join(', ') : 'none';
    throw new UsageError(`${where} must be a member of enum ${name} (${known}) or its number, got "${word}"`);
  }

  /** A value inside JSON: numbers and booleans as JSON has them, the rest as for words. */
  json(t: SchemaType, value: unknown, where: Where): unknown {
    const wrong = (what: string) =>
      new UsageError(`${where} must be ${what} (${schemaTypeName(t)}), got ${JSON.stringify(value)}`);
    switch (t.kind) {
      case 'i8':
      case 'i16':
      case 'i32':
        if (typeof value !== 'number' && typeof value !== 'string') throw wrong('an integer');
        return this.text(t, String(value), where);
      case 'i64':
        if (typeof value === 'number' && Number.isInteger(value) && !Number.isSafeInteger(value))
          throw new UsageError(
            `${where}: ${value} is beyond 2^53, where JSON numbers lose digits; give it as a string ("...")`,
          );
        if (typeof value !== 'number' && typeof value !== 'string') throw wrong('an integer');
        return this.text(t, String(value), where);
      case 'double':
        if (typeof value === 'number') return value;
        // JSON has no NaN or Infinity: those come as strings.
        if (typeof value === 'string') return this.text(t, value, where);
        throw wrong('a number');
      case 'bool':
        if (typeof value !== 'boolean') throw wrong('true or false');
        return value;
      case 'string':
        if (typeof value !== 'string') throw wrong('a string');
        return value;
      case 'binary':
        if (typeof value !== 'string') throw wrong('a string (text, hex:.. or base64:..)');
        return bytes(value, where);
      case 'enum':
        if (typeof value !== 'string' && typeof value !== 'number') throw wrong('a member name or number');
        return this.enumValue(t.name, String(value), where);
      case 'list':
      case 'set': {
        if (!Array.isArray(value)) throw wrong('a JSON array');
        const items = value.map((v, i) => this.json(t.elem, v, `${where}[${i}]`));
        // A set on the wire must not repeat an element: ["x","x"] is the set {"x"}.
        return t.kind === 'set' ? new Set(items) : items;
      }
      case 'map': {
        // An object when keys are text; [[key, value], ...] for any key type (structs, lists).
        if (Array.isArray(value)) {
          return new Map(
            value.map((pair, i) => {
              if (!Array.isArray(pair) || pair.length !== 2)
                throw new UsageError(`${where}[${i}] must be a [key, value] pair`);
              return [
                this.json(t.key, pair[0], `${where} key ${i}`),
                this.json(t.value, pair[1], `${where}[${i}]`),
              ];
            }),
          );
        }
        if (typeof value !== 'object' || value === null) throw wrong('a JSON object or [[key, value], ...]');
        return new Map(
          Object.entries(value).map(([k, v]) => [
            this.key(t.key, k, `${where} key "${k}"`),
            this.json(t.value, v, `${where}["${k}"]`),
          ]),
        );
      }
      case 'struct':
        return this.struct(t.name, value, where);
      case 'void':
        throw wrong('nothing');
    }
  }

  private key(t: SchemaType, key: string, where: Where): unknown {
    if (t.kind === 'struct' || t.kind === 'list' || t.kind === 'set' || t.kind === 'map')
      throw new UsageError(`${where}: ${schemaTypeName(t)} keys need the [[key, value], ...] form`);
    return this.text(t, key, where);
  }

  private struct(name: string, value: unknown, where: Where): Record<string, unknown> {
    const def = this.schema.structs.get(name);
    if (!def) throw new UsageError(`${where}: the schema has no struct ${name}`);
    if (typeof value !== 'object' || value === null || Array.isArray(value))
      throw new UsageError(`${where} must be a JSON object (${name}), got ${JSON.stringify(value)}`);
    const fields = new Map<string, SchemaField>(def.fields.map((f) => [f.name, f]));
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      const field = fields.get(k);
      if (!field)
        throw new UsageError(
          `${where}: ${name} has no field "${k}" (fields: ${def.fields.map((f) => `${f.name}:${schemaTypeName(f.type)}`).join(', ')})`,
        );
      // null leaves an optional field out, as the writers do.
      if (v !== null) out[k] = this.json(field.type, v, `${where}.${k}`);
    }
    const missing = def.fields.find((f) => f.required && out[f.name] === undefined);
    if (missing) throw new UsageError(`${where}: ${name}.${missing.name} is required`);
    return out;
  }
}

function bytes(word: string, where: Where): Uint8Array {
  if (word.startsWith('hex:')) {
    const hex = word.slice(4);
    if (!/^([0-9a-fA-F]{2})*$/.test(hex)) throw new UsageError(`${where}: "${hex}" is not hex`);
    return new Uint8Array(Buffer.from(hex, 'hex'));
  }
  if (word.startsWith('base64:')) return new Uint8Array(Buffer.from(word.slice(7), 'base64'));
  return new Uint8Array(Buffer.from(word, 'utf8'));
}

/** Reads one word per parameter of `method`, typed by the schema. */
export function parseSchemaArgs(
  schema: SchemaDescription,
  method: SchemaMethod,
  words: readonly string[],
): unknown[] {
  if (words.length !== method.params.length) {
    throw new UsageError(`${method.name} takes ${method.params.length} argument(s): ${methodUsage(method)}`);
  }
  const reader = new Reader(schema);
  return method.params.map((p, i) => reader.word(p.type, words[i]!, `argument '${p.name}'`));
}
