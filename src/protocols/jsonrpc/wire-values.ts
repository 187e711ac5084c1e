/**
 * How contract values travel inside JSON-RPC's JSON. JSON has no bytes, no 64-bit integers and
 * no non-finite numbers, so the method table decides how each value is written and read back:
 * - `binary`: a standard base64 string (RFC 4648 §4, padded), the usual JSON convention and
 *   what the Python peers send with base64.b64encode;
 * - `double`: a JSON number, or the strings "Infinity", "-Infinity", "NaN" for non-finite
 *   values (JSON.stringify would turn them into null);
 * - `i64`: a JSON number when it is a safe integer, else its decimal string (a JSON number
 *   beyond 2^53 is refused when read: JSON.parse has already rounded it);
 * - `i32`, `bool`, `string`: as themselves.
 * Decoding is lenient about *shape* only: a value of the wrong type is passed through unchanged
 * so the shared contract validation (src/contract/validate.ts) rejects it with its usual message.
 */
import { InvalidArgumentError } from '../../contract/errors.js';
import type { MethodSpec, ValueType } from '../../contract/spec.js';

const NON_FINITE: Readonly<Record<string, number>> = {
  Infinity: Number.POSITIVE_INFINITY,
  '-Infinity': Number.NEGATIVE_INFINITY,
  NaN: Number.NaN,
};

/** Turns a value of the contract's type into its JSON form. */
export function encodeValue(type: ValueType, value: unknown): unknown {
  switch (type) {
    case 'binary':
      return value instanceof Uint8Array
        ? Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64')
        : value;
    case 'double':
      if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
      return value;
    case 'i64':
    case 'i32':
      return typeof value === 'bigint' ? bigintToJson(value) : value;
    default:
      return value;
  }
}

/** Reads a value of the contract's type from its JSON form (see the module comment). */
export function decodeValue(type: ValueType, value: unknown, what: string): unknown {
  switch (type) {
    case 'binary': {
      if (typeof value !== 'string') return value;
      const bytes = decodeBase64(value);
      if (bytes === undefined) {
        throw new InvalidArgumentError(`${what} must be a base64 string (bytes travel as base64)`);
      }
      return toUint8Array(bytes);
    }
    case 'double':
      if (typeof value === 'string' && Object.hasOwn(NON_FINITE, value)) return NON_FINITE[value];
      return value;
    case 'i64':
      if (typeof value === 'number' && Number.isInteger(value)) {
        // JSON.parse has already rounded such a number (2^60 + 1 arrives as 2^60): refuse it
        // rather than compute with a value the peer did not send.
        if (!Number.isSafeInteger(value)) {
          throw new InvalidArgumentError(
            `${what}: an integer beyond 2^53 loses precision as a JSON number; send it as a decimal string`,
          );
        }
        return BigInt(value);
      }
      if (typeof value === 'string' && /^-?\d{1,20}$/.test(value)) return BigInt(value);
      return value;
    default:
      return value;
  }
}

/** Encodes positional arguments by the method's parameter types (extra ones pass unchanged). */
export function encodeParams(spec: MethodSpec, args: readonly unknown[]): unknown[] {
  return args.map((arg, i) => {
    const param = spec.params[i];
    return param === undefined ? arg : encodeValue(param.type, arg);
  });
}

/**
 * Turns JSON-RPC params (by position: an array; by name: an object keyed by the method table's
 * parameter names; or absent) into positional arguments decoded by type. Count and type errors
 * are left to validateArgs, except by-name mistakes only visible here.
 */
export function decodeParams(method: string, spec: MethodSpec, params: unknown): unknown[] {
  let positional: unknown[];
  if (params === undefined) {
    positional = [];
  } else if (Array.isArray(params)) {
    positional = params;
  } else if (typeof params === 'object' && params !== null) {
    const byName = params as Record<string, unknown>;
    const names = spec.params.map((p) => p.name);
    const unknown = Object.keys(byName).filter((k) => !names.includes(k));
    if (unknown.length > 0) {
      throw new InvalidArgumentError(
        `${method} has no parameter ${unknown.map((k) => `'${k}'`).join(', ')} (parameters: ${names.join(', ')})`,
      );
    }
    const missing = names.filter((n) => !Object.hasOwn(byName, n));
    if (missing.length > 0) {
      throw new InvalidArgumentError(
        `${method}: missing argument ${missing.map((k) => `'${k}'`).join(', ')} (parameters: ${names.join(', ')})`,
      );
    }
    positional = names.map((n) => byName[n]);
  } else {
    throw new InvalidArgumentError(`${method}: params must be an array or an object`);
  }
  return positional.map((arg, i) => {
    const param = spec.params[i];
    return param === undefined ? arg : decodeValue(param.type, arg, `${method}: argument '${param.name}'`);
  });
}

/** JSON.stringify replacer: bigints anywhere become numbers when safe, else decimal strings. */
export function jsonReplacer(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? bigintToJson(value) : value;
}

function bigintToJson(value: bigint): number | string {
  const n = Number(value);
  return Number.isSafeInteger(n) ? n : value.toString();
}

/**
 * The standard alphabet followed by at most two '=' (the length is checked apart). One native
 * pass that allocates nothing: a 1 MiB argument used to be re-encoded (a second 1.4 MB string
 * per call) to be compared with itself, which kept the server's peak memory high.
 */
const BASE64_TEXT = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * The bytes of `text` when it is base64 as this module accepts it (see isBase64Text), else
 * undefined. Buffer's decoder never rejects anything (it skips stray characters and takes the
 * url-safe alphabet too), so it cannot judge the text by itself.
 */
export function decodeBase64(text: string): Buffer | undefined {
  return isBase64Text(text) ? Buffer.from(text, 'base64') : undefined;
}

/**
 * Whether `text` is characters of the standard alphabet followed by at most two '=', with a
 * length that is not 1 modulo 4 (one character cannot hold a whole byte). Unpadded text ("aGk")
 * and text with nonzero trailing bits ("aGl=") pass, as they always have here.
 */
export function isBase64Text(text: string): boolean {
  return text.length % 4 !== 1 && BASE64_TEXT.test(text);
}

function toUint8Array(buf: Buffer): Uint8Array {
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}
