/**
 * Argument and result validation, defined once so every protocol rejects the same inputs the
 * same way: add(1.5, 2), add("x", 2) and add(2 ** 31, 0) are all INVALID_ARGUMENT everywhere.
 * Values are also normalised (Buffer and typed-array views become plain Uint8Array views).
 */
import { InvalidArgumentError } from './errors.js';
import type { MethodSpec, ValueType } from './spec.js';

const I32_MIN = -(2 ** 31);
const I32_MAX = 2 ** 31 - 1;
const I64_MIN = -(2n ** 63n);
const I64_MAX = 2n ** 63n - 1n;

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value instanceof Uint8Array) return `bytes(${value.byteLength})`;
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'object') return Array.isArray(value) ? 'array' : 'object';
  return String(value);
}

/** Checks one value against its declared type and returns it in canonical form. */
export function coerceValue(type: ValueType, value: unknown, what: string): unknown {
  switch (type) {
    case 'i32':
      if (typeof value === 'bigint' && value >= BigInt(I32_MIN) && value <= BigInt(I32_MAX))
        return Number(value);
      if (typeof value !== 'number' || !Number.isInteger(value)) {
        throw new InvalidArgumentError(`${what} must be a 32-bit integer, got ${describe(value)}`);
      }
      if (value < I32_MIN || value > I32_MAX) {
        throw new InvalidArgumentError(`${what} is out of the 32-bit integer range: ${value}`);
      }
      return value === 0 ? 0 : value; // folds -0 into 0
    case 'i64':
      if (typeof value === 'number' && Number.isSafeInteger(value)) return BigInt(value);
      if (typeof value !== 'bigint')
        throw new InvalidArgumentError(`${what} must be a 64-bit integer, got ${describe(value)}`);
      if (value < I64_MIN || value > I64_MAX)
        throw new InvalidArgumentError(`${what} is out of the 64-bit range: ${value}`);
      return value;
    case 'double':
      // A large integer (Python's divide(10**18, 3) arrives as a 64-bit int) is a double's
      // value rounded to nearest, as Python's float() and a JSON parser round it.
      if (typeof value === 'bigint') {
        const n = Number(value);
        if (Number.isFinite(n)) return n;
        throw new InvalidArgumentError(`${what} is too large for a double: ${describe(value)}`);
      }
      if (typeof value !== 'number')
        throw new InvalidArgumentError(`${what} must be a number, got ${describe(value)}`);
      return value;
    case 'bool':
      if (typeof value !== 'boolean')
        throw new InvalidArgumentError(`${what} must be a boolean, got ${describe(value)}`);
      return value;
    case 'string':
      if (typeof value !== 'string')
        throw new InvalidArgumentError(`${what} must be a string, got ${describe(value)}`);
      return value;
    case 'binary':
      if (value instanceof Uint8Array) {
        return value.constructor === Uint8Array
          ? value
          : new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
      }
      if (value instanceof ArrayBuffer) return new Uint8Array(value);
      throw new InvalidArgumentError(`${what} must be bytes, got ${describe(value)}`);
    case 'dynamic':
      return value;
  }
}

/** Validates a call's arguments against the method's parameter list. */
export function validateArgs(method: string, spec: MethodSpec, args: readonly unknown[]): unknown[] {
  if (args.length !== spec.params.length) {
    throw new InvalidArgumentError(
      `${method} takes ${spec.params.length} argument(s) (${spec.params.map((p) => p.name).join(', ')}), got ${args.length}`,
    );
  }
  return spec.params.map((param, i) =>
    coerceValue(param.type, args[i], `${method}: argument '${param.name}'`),
  );
}

/** Validates a result before it is sent (server side) or after it is received (client side). */
export function validateResult(method: string, spec: MethodSpec, value: unknown): unknown {
  return coerceValue(spec.result, value, `${method}: result`);
}
