/**
 * msgpack encoding with @msgpack/msgpack, chosen over msgpackr for cross-language fidelity:
 * integers stay msgpack ints (Python gets int), strings stay str, Uint8Array becomes bin
 * (Python gets bytes), and 64-bit integers decode as bigint instead of losing precision.
 *
 * One gap remains in any msgpack library: a JavaScript number has no int/float distinction,
 * so an integer-valued double (divide(6, 3) = 2) would go out as a msgpack int. Where the
 * contract says `double`, values are encoded with `forceIntegerToFloat` so Python sees 2.0.
 * msgpack values concatenate, so a message is assembled from separately encoded parts.
 */
import { Decoder, Encoder } from '@msgpack/msgpack';
import type { ValueType } from '../../contract/spec.js';

const plain = new Encoder({ useBigInt64: true });
const floats = new Encoder({ useBigInt64: true, forceIntegerToFloat: true });
const decoder = new Decoder({ useBigInt64: true });

/** Encodes one value; `type` (from the contract) only matters for `double`. */
export function encodeValue(value: unknown, type?: ValueType): Uint8Array {
  return (type === 'double' ? floats : plain).encode(value);
}

/** Decodes exactly one msgpack value; trailing bytes or bad input throw. */
export function decodeValue(bytes: Uint8Array): unknown {
  return decoder.decode(bytes);
}

export function mapHeader(size: number): Uint8Array {
  return containerHeader(size, 0x80, 0xde, 0xdf);
}

export function arrayHeader(size: number): Uint8Array {
  return containerHeader(size, 0x90, 0xdc, 0xdd);
}

function containerHeader(size: number, fix: number, c16: number, c32: number): Uint8Array {
  if (size < 16) return Uint8Array.of(fix | size);
  if (size < 0x10000) return Uint8Array.of(c16, size >>> 8, size & 0xff);
  return Uint8Array.of(c32, size >>> 24, (size >>> 16) & 0xff, (size >>> 8) & 0xff, size & 0xff);
}

export function concat(parts: readonly Uint8Array[]): Buffer {
  return Buffer.concat(parts);
}

/**
 * Encodes a whole message (a map) in one pass, for messages without `double` values: one
 * copy of a large bytes value instead of three (encoder, per-part result, concat).
 */
export function encodeMessage(map: Record<string, unknown>): Buffer {
  const bytes = plain.encode(map);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength); // a view, not a copy
}
