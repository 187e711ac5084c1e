/**
 * The slice of the official `thrift` npm package (0.24) we use: its TBinaryProtocol and
 * TCompactProtocol classes decode, over its TFramedTransport used as an in-memory buffer;
 * encoding is ours (writer.ts), with the package's writers kept as its byte-exact reference. Sockets, framing and size limits are ours (see framing.ts):
 * the package's own connection classes accept any declared length by default.
 *
 * @types/thrift describes an older release, so the few members we call are typed here.
 */
import thrift from 'thrift';
import { type ProtocolWriter, writeMessage, writeMessageParts } from './writer.js';

export type { ProtocolWriter } from './writer.js';

/** Thrift wire type ids (TType), as in every Thrift library. */
export const TType = {
  STOP: 0,
  BOOL: 2,
  BYTE: 3,
  DOUBLE: 4,
  I16: 6,
  I32: 8,
  I64: 10,
  STRING: 11,
  STRUCT: 12,
  MAP: 13,
  SET: 14,
  LIST: 15,
  UUID: 16,
} as const;

export const MessageType = { CALL: 1, REPLY: 2, EXCEPTION: 3, ONEWAY: 4 } as const;

/** TApplicationException types (thrift/lib/*, TApplicationException). */
export const AppExceptionType = {
  UNKNOWN: 0,
  UNKNOWN_METHOD: 1,
  INVALID_MESSAGE_TYPE: 2,
  WRONG_METHOD_NAME: 3,
  BAD_SEQUENCE_ID: 4,
  MISSING_RESULT: 5,
  INTERNAL_ERROR: 6,
  PROTOCOL_ERROR: 7,
  INVALID_TRANSFORM: 8,
  INVALID_PROTOCOL: 9,
  UNSUPPORTED_CLIENT_TYPE: 10,
} as const;

/** node-int64's Int64, as the protocols read and write it. */
export interface Int64Like {
  readonly buffer: Buffer;
}

/**
 * A protocol of the library, reading (and, for reference, writing: test/thrift/writer.test.ts
 * compares our writer's bytes with its own). Its write half is our ProtocolWriter.
 */
export interface WireProtocol extends ProtocolWriter {
  flush(): void;

  readMessageBegin(): { fname: string | Buffer; mtype: number; rseqid: number };
  readMessageEnd(): void;
  readStructBegin(): unknown;
  readStructEnd(): void;
  readFieldBegin(): { ftype: number; fid: number };
  readFieldEnd(): void;
  readMapBegin(): { ktype: number; vtype: number; size: number };
  readMapEnd(): void;
  readListBegin(): { etype: number; size: number };
  readListEnd(): void;
  readSetBegin(): { etype: number; size: number };
  readSetEnd(): void;
  readBool(): boolean;
  readByte(): number;
  readI16(): number;
  readI32(): number;
  readI64(): Int64Like;
  readDouble(): number;
  readString(): string;
  readBinary(): Buffer;
  skip(type: number): void;
}

interface InMemoryTransport {
  write(bytes: Buffer): void;
}

interface ReadableTransport {
  read(length: number): Buffer;
}

type TransportCtor = new (buffer?: Buffer, onFlush?: (msg: Buffer) => void) => InMemoryTransport;
type ProtocolCtor = new (transport: InMemoryTransport) => WireProtocol;

interface ThriftModule {
  TBufferedTransport: TransportCtor;
  TFramedTransport: TransportCtor;
  TBinaryProtocol: ProtocolCtor;
  TCompactProtocol: ProtocolCtor;
  toBigInt(value: Int64Like): bigint;
  fromBigInt(value: bigint): Int64Like;
}

const lib = thrift as unknown as ThriftModule;

export type Encoding = 'binary' | 'compact';

function protocolCtor(encoding: Encoding): ProtocolCtor {
  return encoding === 'binary' ? lib.TBinaryProtocol : lib.TCompactProtocol;
}

/**
 * Encodes one message and returns its bytes; `framed` prefixes the 4-byte frame size,
 * buffered writes it bare. Written by our own writers (writer.ts), which produce the
 * library's bytes with one allocation and one copy of each payload.
 */
export function encodeMessage(
  encoding: Encoding,
  framed: boolean,
  write: (protocol: ProtocolWriter) => void,
): Buffer {
  return writeMessage(encoding, framed, write);
}

/** encodeMessage() as parts, bulk binary payloads not copied (writer.ts writeMessageParts). */
export function encodeMessageParts(
  encoding: Encoding,
  framed: boolean,
  write: (protocol: ProtocolWriter) => void,
): Buffer[] {
  return writeMessageParts(encoding, framed, write);
}

/**
 * The same message written by the library's protocol over its TBufferedTransport /
 * TFramedTransport (doubles excepted, see below): the reference writer.test.ts holds our
 * writers to, byte for byte.
 */
export function encodeMessageWithLibrary(
  encoding: Encoding,
  framed: boolean,
  write: (protocol: ProtocolWriter) => void,
): Buffer {
  let out: Buffer | undefined;
  const Transport = framed ? lib.TFramedTransport : lib.TBufferedTransport;
  const transport = new Transport(undefined, (msg) => {
    out = msg;
  });
  const protocol = new (protocolCtor(encoding))(transport);
  protocol.writeDouble = exactDoubleWriter(encoding, transport);
  // Its transports call Buffer#copy on what they are given: wrap a plain Uint8Array.
  const writeBinary = protocol.writeBinary.bind(protocol);
  protocol.writeBinary = (v: Uint8Array) =>
    writeBinary(Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength));
  write(protocol);
  protocol.flush();
  // An empty buffered write never flushes; a message is never empty, but stay total.
  return out ?? Buffer.alloc(0);
}

/**
 * thrift 0.24 encodes doubles by hand (jspack-style arithmetic) and gets some wrong: -0.0 loses
 * its sign, and some powers of two below about 1e-298 (with their neighbours) come out halved,
 * e.g. 2^-1020 is written as 2^-1021. Node's IEEE 754 writers are exact: the binary protocol
 * sends a double big-endian, the compact protocol little-endian. (Its readers are correct.)
 */
function exactDoubleWriter(encoding: Encoding, transport: InMemoryTransport): (value: number) => void {
  return (value) => {
    const bytes = Buffer.allocUnsafe(8);
    if (encoding === 'binary') bytes.writeDoubleBE(value);
    else bytes.writeDoubleLE(value);
    transport.write(bytes);
  };
}

/**
 * A protocol reading one complete, already validated message (framing.ts checked every
 * declared length and the nesting depth before this sees the bytes). TFramedTransport over a
 * buffer reads in place: binary values come back as views of `message`, not copies.
 */
export function messageReader(encoding: Encoding, message: Buffer): WireProtocol {
  const transport = new lib.TFramedTransport(message) as InMemoryTransport & ReadableTransport;
  const protocol = new (protocolCtor(encoding))(transport) as WireProtocol & { readUuid(): string };
  // thrift 0.24 formats a uuid with the `uuid` package, which throws unless its version and
  // variant bits are RFC 4122's; on the wire a Thrift uuid is any 16 bytes, and an unknown
  // uuid field must be skippable (its skip() reads the value with readUuid).
  protocol.readUuid = () => transport.read(16).toString('hex');
  return protocol;
}

export const toBigInt = (value: Int64Like): bigint => lib.toBigInt(value);
export const fromBigInt = (value: bigint): Int64Like => lib.fromBigInt(value);
