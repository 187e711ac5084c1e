/**
 * The three msgpack-rpc messages, encoded and decoded with @msgpack/msgpack (the library the
 * ZeroMQ row uses, for the same reasons: ints stay ints, str and bin stay apart, 64-bit
 * integers decode as bigint, the timestamp extension stays exact):
 *
 *   request       [0, msgid, method, params]
 *   response      [1, msgid, error, result]
 *   notification  [2, method, params]
 *
 * msgid is a uint32. A JavaScript number has no int/float distinction, so values the contract
 * types as `double` are encoded with forceIntegerToFloat (divide(6, 3) reaches Python as 2.0),
 * and only those: the envelope around them is written by hand. Messages are returned as the
 * encoder's Uint8Array (no Buffer view per message: the connection batches them into one write).
 */
import {
  Decoder,
  Encoder,
  EXT_TIMESTAMP,
  ExtData,
  ExtensionCodec,
  encodeTimestampExtension,
} from '@msgpack/msgpack';
import type { ValueType } from '../../contract/spec.js';

export const REQUEST = 0;
export const RESPONSE = 1;
export const NOTIFICATION = 2;

export const MAX_MSGID = 0xffff_ffff;

const exactExtensions = new ExtensionCodec();
exactExtensions.register({
  type: EXT_TIMESTAMP,
  encode: encodeTimestampExtension,
  decode: (data, type) => new ExtData(type, data.slice()), // a copy: data views the message
});

const plain = new Encoder({ useBigInt64: true, extensionCodec: exactExtensions });
const floats = new Encoder({ useBigInt64: true, extensionCodec: exactExtensions, forceIntegerToFloat: true });
const decoder = new Decoder({ useBigInt64: true, extensionCodec: exactExtensions });

/** Decodes one complete message (framing.ts found its end and checked its limits). */
export function decodeMessage(bytes: Uint8Array): unknown {
  return decoder.decode(bytes);
}

function uintBytes(n: number): number[] {
  if (n < 0x80) return [n];
  if (n < 0x100) return [0xcc, n];
  if (n < 0x10000) return [0xcd, n >>> 8, n & 0xff];
  return [0xce, n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
}

function arrayHeader(n: number): number[] {
  if (n < 16) return [0x90 | n];
  if (n < 0x10000) return [0xdc, n >>> 8, n & 0xff];
  return [0xdd, n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
}

export function encodeRequest(
  msgid: number,
  method: string,
  params: readonly unknown[],
  types?: readonly (ValueType | undefined)[],
): Uint8Array {
  if (types === undefined || !types.includes('double')) {
    return plain.encode([REQUEST, msgid, method, params]);
  }
  const parts: Uint8Array[] = [
    Uint8Array.from([0x94, REQUEST, ...uintBytes(msgid)]),
    plain.encode(method),
    Uint8Array.from(arrayHeader(params.length)),
  ];
  params.forEach((p, i) => {
    parts.push((types[i] === 'double' ? floats : plain).encode(p));
  });
  return Buffer.concat(parts);
}

export function encodeNotification(
  method: string,
  params: readonly unknown[],
  types?: readonly (ValueType | undefined)[],
): Uint8Array {
  if (types === undefined || !types.includes('double')) {
    return plain.encode([NOTIFICATION, method, params]);
  }
  const parts: Uint8Array[] = [
    Uint8Array.from([0x93, NOTIFICATION]),
    plain.encode(method),
    Uint8Array.from(arrayHeader(params.length)),
  ];
  params.forEach((p, i) => {
    parts.push((types[i] === 'double' ? floats : plain).encode(p));
  });
  return Buffer.concat(parts);
}

export function encodeResult(msgid: number, result: unknown, type?: ValueType): Uint8Array {
  if (type !== 'double') return plain.encode([RESPONSE, msgid, null, result]);
  const head = Uint8Array.from([0x94, RESPONSE, ...uintBytes(msgid), 0xc0]);
  return Buffer.concat([head, floats.encode(result)]);
}

/** Bytes values at least this large are sent as their own part, not copied through the encoder. */
export const LARGE_BIN_BYTES = 64 * 1024;

/**
 * A response as parts: a large bytes result (an echo of 1 MiB) is written as a hand-made
 * envelope and bin header followed by the value itself, where the encoder would copy it twice
 * (into its buffer, then out).
 */
export function encodeResultParts(msgid: number, result: unknown, type?: ValueType): Uint8Array[] {
  if (!(result instanceof Uint8Array) || result.length < LARGE_BIN_BYTES)
    return [encodeResult(msgid, result, type)];
  const n = result.length;
  const head = Uint8Array.from([
    0x94,
    RESPONSE,
    ...uintBytes(msgid),
    0xc0,
    0xc6, // bin 32
    n >>> 24,
    (n >>> 16) & 0xff,
    (n >>> 8) & 0xff,
    n & 0xff,
  ]);
  return [head, result];
}

export function encodeErrorResponse(msgid: number, error: unknown): Uint8Array {
  return plain.encode([RESPONSE, msgid, error, null]);
}

export function isMsgid(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= MAX_MSGID;
}
