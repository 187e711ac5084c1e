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
 * and only those: the envelope around them is written by hand.
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

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength); // a view, not a copy
}

export function encodeRequest(
  msgid: number,
  method: string,
  params: readonly unknown[],
  types?: readonly (ValueType | undefined)[],
): Buffer {
  if (types === undefined || !types.includes('double')) {
    return toBuffer(plain.encode([REQUEST, msgid, method, params]));
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
): Buffer {
  if (types === undefined || !types.includes('double')) {
    return toBuffer(plain.encode([NOTIFICATION, method, params]));
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

export function encodeResult(msgid: number, result: unknown, type?: ValueType): Buffer {
  if (type !== 'double') return toBuffer(plain.encode([RESPONSE, msgid, null, result]));
  const head = Uint8Array.from([0x94, RESPONSE, ...uintBytes(msgid), 0xc0]);
  return Buffer.concat([head, floats.encode(result)]);
}

export function encodeErrorResponse(msgid: number, error: unknown): Buffer {
  return toBuffer(plain.encode([RESPONSE, msgid, error, null]));
}

export function isMsgid(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= MAX_MSGID;
}
