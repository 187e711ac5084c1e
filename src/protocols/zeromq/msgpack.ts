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
import { isUtf8 } from 'node:buffer';
import {
  Decoder,
  Encoder,
  EXT_TIMESTAMP,
  ExtData,
  ExtensionCodec,
  encodeTimestampExtension,
} from '@msgpack/msgpack';
import type { ValueType } from '../../contract/spec.js';

const plain = new Encoder({ useBigInt64: true });
const floats = new Encoder({ useBigInt64: true, forceIntegerToFloat: true });
/**
 * The timestamp extension (-1) is decoded as the ExtData it is, not as a Date: a Date holds
 * milliseconds, so a timestamp's nanoseconds were dropped (an id echoed back changed). As
 * Python's msgpack gives a Timestamp object, the value stays exact; a Date still encodes as one.
 */
const exactExtensions = new ExtensionCodec();
exactExtensions.register({
  type: EXT_TIMESTAMP,
  encode: encodeTimestampExtension,
  decode: (data, type) => new ExtData(type, data.slice()), // a copy: data views the frame
});
const decoder = new Decoder({ useBigInt64: true, extensionCodec: exactExtensions });

/** Encodes one value; `type` (from the contract) only matters for `double`. */
export function encodeValue(value: unknown, type?: ValueType): Uint8Array {
  checkEncodable(value, 0);
  return (type === 'double' ? floats : plain).encode(value);
}

const U64_MAX = 2n ** 64n - 1n;
const I64_MIN = -(2n ** 63n);

/**
 * Refuses what the encoder would silently alter: a bigint outside int64/uint64 (it writes
 * the low 64 bits: 2**64 + 1 goes out as 1) and a string with a lone surrogate (it has no
 * UTF-8 form; the encoder writes invalid bytes or U+FFFD, and Python's msgpack then rejects
 * the whole message). Stops below the encoder's own depth limit, which reports deeper values.
 */
function checkEncodable(value: unknown, depth: number): void {
  if (typeof value === 'string') {
    if (!isWellFormed(value)) throw new TypeError('string has a lone surrogate: it has no UTF-8 form');
  } else if (typeof value === 'bigint') {
    if (value > U64_MAX || value < I64_MIN) {
      throw new RangeError(`integer ${value} does not fit msgpack's 64-bit range`);
    }
  } else if (typeof value === 'object' && value !== null && depth < MAX_DEPTH) {
    if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer || value instanceof Date) return;
    if (Array.isArray(value)) {
      for (const item of value) checkEncodable(item, depth + 1);
    } else if (value instanceof Map) {
      for (const [k, v] of value) {
        checkEncodable(k, depth + 1);
        checkEncodable(v, depth + 1);
      }
    } else {
      for (const [k, v] of Object.entries(value)) {
        checkEncodable(k, depth + 1);
        checkEncodable(v, depth + 1);
      }
    }
  }
}

// String.prototype.isWellFormed is in Node 20 (ES2024), not in this project's ES2023 lib.
const isWellFormed = (s: string): boolean => (s as string & { isWellFormed(): boolean }).isWellFormed();

/**
 * Deepest nesting accepted when decoding: the encoder's own limit (a top-level value is at
 * depth 1), so whatever is decoded can be sent back (an echoed id, an echoed value).
 */
export const MAX_DEPTH = 100;

/**
 * Most maps and arrays (empty ones too) accepted in one decoded value. Each becomes a
 * JavaScript object or array: 16 MiB of one-byte empty maps cost the decoder 5.6 s of CPU and
 * 1 GB of heap, against 0.36 s and 140 MB for 16 MiB of integers. At the limit: ~0.35 s.
 */
export const MAX_CONTAINERS = 1_000_000;

/**
 * Decodes exactly one msgpack value; trailing bytes, nesting past MAX_DEPTH, more than
 * MAX_CONTAINERS maps and arrays, a str that is not UTF-8 or other bad input throw.
 */
export function decodeValue(bytes: Uint8Array): unknown {
  checkStructure(bytes, MAX_DEPTH, MAX_CONTAINERS);
  return decoder.decode(bytes);
}

// Header kinds for bytes 0xc0-0xdf, with the size of the fixed payload (FIXED) or of the
// length field (the others).
const FIXED = 0;
const SIZED = 1; // bin: length, then data
const EXT = 2; // length, type byte, data
const ARRAY = 3;
const MAP = 4;
const INVALID = 5;
const STR = 6; // length, then UTF-8 text
// biome-ignore format: one row per group of headers
const HEADERS: readonly (readonly [number, number])[] = [
  [FIXED, 0], [INVALID, 0], [FIXED, 0], [FIXED, 0], // nil, (never used), false, true
  [SIZED, 1], [SIZED, 2], [SIZED, 4], // bin 8/16/32
  [EXT, 1], [EXT, 2], [EXT, 4], // ext 8/16/32
  [FIXED, 4], [FIXED, 8], // float 32/64
  [FIXED, 1], [FIXED, 2], [FIXED, 4], [FIXED, 8], // uint 8-64
  [FIXED, 1], [FIXED, 2], [FIXED, 4], [FIXED, 8], // int 8-64
  [FIXED, 2], [FIXED, 3], [FIXED, 5], [FIXED, 9], [FIXED, 17], // fixext 1-16 (type + data)
  [STR, 1], [STR, 2], [STR, 4], // str 8/16/32
  [ARRAY, 2], [ARRAY, 4], [MAP, 2], [MAP, 4], // array 16/32, map 16/32
];

/**
 * Walks the value's headers (skipping payloads, no allocation per item) and throws if it
 * nests deeper than `maxDepth`, holds more than `maxContainers` maps and arrays, a str that
 * is not UTF-8 or a map key that is not a str. The decoder has no depth limit (16 MiB of
 * one-element arrays cost it >10 s and gigabytes of heap); it turns invalid UTF-8 into other
 * characters without a word (short strings byte by byte, 0xff as 'ÿ'; long ones as U+FFFD)
 * and an int key into a str key ({1: 'a'} came back as {'1': 'a'}), where Python's msgpack
 * raises (raw=False, strict_map_key=True: its defaults). Anything else odd (invalid byte,
 * short data) is left for the decoder to report.
 */
export function checkStructure(bytes: Uint8Array, maxDepth: number, maxContainers: number): void {
  const open: number[] = []; // items still to read in each open container, innermost last
  const isMap: boolean[] = []; // whether each open container is a map
  let containers = 0;
  let pos = 0;
  while (pos < bytes.length) {
    const b = bytes[pos]!;
    const top = open.length - 1;
    // In a map, keys are the items read when an even number is left (values: odd).
    if (
      top >= 0 &&
      isMap[top] &&
      open[top]! % 2 === 0 &&
      !(b >= 0xa0 && b <= 0xbf) &&
      !(b >= 0xd9 && b <= 0xdb)
    ) {
      throw new TypeError(`msgpack map key at byte ${pos} is not a str`);
    }
    let items = 0; // a container header's children
    let map = false;
    if (b <= 0x7f || b >= 0xe0) {
      pos += 1; // fixint
    } else if (b <= 0x9f) {
      map = b <= 0x8f;
      items = map ? (b & 0x0f) * 2 : b & 0x0f; // fixmap, fixarray
      containers++;
      pos += 1;
    } else if (b <= 0xbf) {
      checkUtf8(bytes, pos + 1, b & 0x1f); // fixstr
      pos += 1 + (b & 0x1f);
    } else {
      const [kind, size] = HEADERS[b - 0xc0]!;
      if (kind === INVALID || pos + 1 + size > bytes.length) return;
      let n = 0;
      if (kind !== FIXED) for (let i = 1; i <= size; i++) n = n * 256 + bytes[pos + i]!;
      pos += 1 + size;
      if (kind === STR) checkUtf8(bytes, pos, n);
      if (kind === SIZED || kind === STR) pos += n;
      else if (kind === EXT) pos += 1 + n;
      else if (kind === ARRAY || kind === MAP) {
        map = kind === MAP;
        items = map ? n * 2 : n;
        containers++;
      }
    }
    if (containers > maxContainers) {
      throw new RangeError(`msgpack value holds more than ${maxContainers} maps and arrays`);
    }
    if (items > 0) {
      if (open.length + 2 > maxDepth) {
        throw new RangeError(`msgpack value nested deeper than ${maxDepth} levels`);
      }
      open.push(items);
      isMap.push(map);
      continue;
    }
    // One item complete: close every container it completes.
    while (open.length > 0 && --open[open.length - 1]! === 0) {
      open.pop();
      isMap.pop();
    }
    if (open.length === 0) return;
  }
}

function checkUtf8(bytes: Uint8Array, start: number, length: number): void {
  const end = start + length;
  if (length === 0 || end > bytes.length) return; // short data: the decoder reports it
  if (length <= 64) {
    // Short ASCII (keys, method names) is valid as it is: cheaper than a view and a native call.
    let i = start;
    while (i < end && bytes[i]! < 0x80) i++;
    if (i === end) return;
  }
  if (!isUtf8(bytes.subarray(start, end))) {
    throw new TypeError(`msgpack str at byte ${start} is not valid UTF-8 (bytes are sent as bin)`);
  }
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
  checkEncodable(map, 0);
  const bytes = plain.encode(map);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength); // a view, not a copy
}
