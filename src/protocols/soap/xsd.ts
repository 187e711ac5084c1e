/**
 * XSD simple types: which ones carry which contract type, and their lexical forms, checked
 * strictly (XML Schema Part 2). A value that does not match its type is an error the caller
 * turns into a Client Fault, so "abc" for an xs:int never reaches a handler as NaN or null.
 */
import { InvalidArgumentError } from '../../contract/errors.js';
import type { ValueType } from '../../contract/spec.js';
import type { SchemaType } from '../types.js';

export const XSD_NS = 'http://www.w3.org/2001/XMLSchema';

/** An XSD built-in simple type by local name, e.g. "int", "double", "base64Binary". */
export type XsdType = string;

/** The XSD type a contract value type is declared as in our WSDL. */
export function xsdFor(type: ValueType): XsdType {
  switch (type) {
    case 'i32':
      return 'int';
    case 'i64':
      return 'long';
    case 'double':
      return 'double';
    case 'bool':
      return 'boolean';
    case 'string':
      return 'string';
    case 'binary':
      return 'base64Binary';
    case 'dynamic':
      return 'anyType';
  }
}

const INTEGER_RANGES: Readonly<Record<string, readonly [bigint, bigint] | undefined>> = {
  byte: [-128n, 127n],
  short: [-32768n, 32767n],
  int: [-2147483648n, 2147483647n],
  long: [-(2n ** 63n), 2n ** 63n - 1n],
  unsignedByte: [0n, 255n],
  unsignedShort: [0n, 65535n],
  unsignedInt: [0n, 4294967295n],
  unsignedLong: [0n, 2n ** 64n - 1n],
  integer: undefined,
  nonNegativeInteger: [0n, 2n ** 4096n],
  positiveInteger: [1n, 2n ** 4096n],
};

export function isIntegerType(t: XsdType): boolean {
  return Object.hasOwn(INTEGER_RANGES, t) || t === 'negativeInteger' || t === 'nonPositiveInteger';
}

/** The schema type a tool (the CLI's call --schema) should read an XSD type's values as. */
export function schemaTypeOf(t: XsdType): SchemaType {
  switch (t) {
    case 'byte':
      return { kind: 'i8' };
    case 'short':
    case 'unsignedByte':
      return { kind: 'i16' };
    case 'int':
    case 'unsignedShort':
      return { kind: 'i32' };
    case 'double':
    case 'float':
    case 'decimal':
      return { kind: 'double' };
    case 'boolean':
      return { kind: 'bool' };
    case 'base64Binary':
    case 'hexBinary':
      return { kind: 'binary' };
    default:
      return isIntegerType(t) ? { kind: 'i64' } : { kind: 'string' };
  }
}

/** XML whitespace collapsing for non-string types (leading and trailing blanks are allowed). */
function collapse(text: string): string {
  return text.replace(/^[ \t\r\n]+|[ \t\r\n]+$/g, '');
}

/**
 * Canonical-enough base64: only the alphabet, a length that is a multiple of 4, and "=" only as
 * the last one or two characters. Written without a repeated regex group, which overflows V8's
 * regex stack on a multi-megabyte value.
 */
function isBase64(text: string): boolean {
  if (text.length % 4 !== 0 || /[^A-Za-z0-9+/=]/.test(text)) return false;
  const pad = text.indexOf('=');
  return pad < 0 || (pad >= text.length - 2 && /^=+$/.test(text.slice(pad)));
}

/**
 * Reads an element's text as XSD type `t`. Integers come back as numbers when `wantBigint` is
 * false and they are safe integers (xs:int always is), else as bigints; doubles as numbers;
 * binaries as Uint8Array; strings unchanged. Throws InvalidArgumentError naming `what`.
 */
export function parseXsd(t: XsdType, text: string, what: string, wantBigint = false): unknown {
  const bad = (why: string) => new InvalidArgumentError(`${what}: ${why}`);
  if (t === 'string' || t === 'anyType' || t === 'normalizedString' || t === 'token' || t === 'anySimpleType')
    return text;
  const v = collapse(text);
  if (isIntegerType(t)) {
    if (!/^[+-]?[0-9]+$/.test(v) || v.length > 1300)
      throw bad(`${JSON.stringify(short(v))} is not an xs:${t}`);
    const n = BigInt(v);
    const range = INTEGER_RANGES[t];
    if (range && (n < range[0] || n > range[1])) throw bad(`${v} is out of range for xs:${t}`);
    if (t === 'negativeInteger' && n >= 0n) throw bad(`${v} is not an xs:negativeInteger`);
    if (t === 'nonPositiveInteger' && n > 0n) throw bad(`${v} is not an xs:nonPositiveInteger`);
    if (!wantBigint && n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER))
      return Number(n);
    return n;
  }
  switch (t) {
    case 'double':
    case 'float':
      if (v === 'INF' || v === '+INF') return Number.POSITIVE_INFINITY;
      if (v === '-INF') return Number.NEGATIVE_INFINITY;
      if (v === 'NaN') return Number.NaN;
      if (!/^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/.test(v))
        throw bad(`${JSON.stringify(short(v))} is not an xs:${t}`);
      return Number(v);
    case 'decimal':
      if (!/^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)$/.test(v))
        throw bad(`${JSON.stringify(short(v))} is not an xs:decimal`);
      return Number(v);
    case 'boolean':
      if (v === 'true' || v === '1') return true;
      if (v === 'false' || v === '0') return false;
      throw bad(`${JSON.stringify(short(v))} is not an xs:boolean`);
    case 'base64Binary': {
      // Line breaks and blanks are allowed anywhere (MIME-style wrapping, as some peers send).
      const compact = v.replace(/[ \t\r\n]+/g, '');
      if (!isBase64(compact)) throw bad('not valid xs:base64Binary');
      const buf = Buffer.from(compact, 'base64');
      return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
    }
    case 'hexBinary': {
      if (!/^(?:[0-9A-Fa-f]{2})*$/.test(v)) throw bad('not valid xs:hexBinary');
      const buf = Buffer.from(v, 'hex');
      return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
    }
    default:
      return text;
  }
}

function short(text: string): string {
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}

/**
 * Writes a value as XSD type `t` (escaping is the caller's). Values are written as given when
 * they fit the lexical space loosely (a string for an xs:int is written as is), so that the
 * receiving side, whose job it is, checks them: a client does not validate its arguments.
 */
export function formatXsd(t: XsdType, value: unknown): string {
  if (value instanceof Uint8Array) {
    const buf = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
    return t === 'hexBinary' ? buf.toString('hex') : buf.toString('base64');
  }
  if (typeof value === 'number') {
    if (Number.isNaN(value)) return 'NaN';
    if (value === Number.POSITIVE_INFINITY) return 'INF';
    if (value === Number.NEGATIVE_INFINITY) return '-INF';
    // String(n) gives the shortest text that reads back as the same double ("1e+308" included,
    // which xs:double accepts); -0 keeps its sign.
    return Object.is(value, -0) ? '-0' : String(value);
  }
  if (typeof value === 'bigint' || typeof value === 'boolean') return String(value);
  if (typeof value === 'string') return value;
  if (value === null || value === undefined) return '';
  return JSON.stringify(value) ?? String(value);
}
