/**
 * Our writers for the binary and compact protocols: one growable buffer per message, each
 * value written in place and binary/string payloads copied once, so a reply is one Buffer
 * (or, from writeMessageParts, a few parts with the bulk binary payloads not copied at all).
 * The thrift package's writers allocate a Buffer per value (through the deprecated Buffer()
 * constructor) and copy everything again on flush, which dominated the server's CPU on large
 * echoes. The bytes are the package's own (test/thrift/writer.test.ts compares them), except
 * doubles, written exactly with Node's IEEE 754 writers (see library.ts).
 */
import { bufferView, SHARED_PAYLOAD_BYTES } from '../../net/bytes.js';
import type { Int64Like } from './library.js';

/** The write half of a Thrift protocol, as codec.ts and messages.ts drive it. */
export interface ProtocolWriter {
  writeMessageBegin(name: string, type: number, seqid: number): void;
  writeMessageEnd(): void;
  writeStructBegin(name: string): void;
  writeStructEnd(): void;
  writeFieldBegin(name: string, type: number, id: number): void;
  writeFieldEnd(): void;
  writeFieldStop(): void;
  writeMapBegin(ktype: number, vtype: number, size: number): void;
  writeMapEnd(): void;
  writeListBegin(etype: number, size: number): void;
  writeListEnd(): void;
  writeSetBegin(etype: number, size: number): void;
  writeSetEnd(): void;
  writeBool(value: boolean): void;
  writeByte(value: number): void;
  writeI16(value: number): void;
  writeI32(value: number): void;
  writeI64(value: Int64Like): void;
  writeDouble(value: number): void;
  writeString(value: string): void;
  writeBinary(value: Uint8Array): void;
}

/** Binary protocol's strict message header version (VERSION_1). */
const VERSION_1 = 0x80010000 | 0;
const BOOL = 2;

/** TType -> compact type id (index by TType). */
const COMPACT_TYPE = [0, 0, 1, 3, 7, 0, 4, 0, 5, 0, 6, 8, 12, 11, 10, 9, 13];
const CT_TRUE = 1;
const CT_FALSE = 2;

/** Binary payloads this large are referenced, not copied, by writeMessageParts. */
export const SHARED_BYTES = SHARED_PAYLOAD_BYTES;

/**
 * A growable output buffer; `framed` reserves the 4-byte size prefix. With `share`, binary
 * payloads of SHARED_BYTES or more become parts of their own instead of being copied in.
 */
class Output {
  buf: Buffer;
  pos: number;
  private readonly start: number;
  /** Parts before the segment being written (buf from segStart to pos), when sharing. */
  private parts: Buffer[] | undefined;
  private partsBytes = 0;
  private segStart = 0;

  constructor(
    framed: boolean,
    private readonly share = false,
  ) {
    this.buf = Buffer.allocUnsafe(256);
    this.start = framed ? 4 : 0;
    this.pos = this.start;
  }

  ensure(n: number): void {
    const need = this.pos + n;
    if (need <= this.buf.length) return;
    // A large payload grows the buffer to fit it plus room for the rest of the message, so
    // it is copied once rather than again on a later doubling.
    const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, need + 64));
    this.buf.copy(grown, 0, 0, this.pos);
    this.buf = grown;
  }

  byte(b: number): void {
    this.ensure(1);
    this.buf[this.pos++] = b & 0xff;
  }

  /** Big-endian, low 32 bits as the package's writer keeps them. */
  i32be(v: number): void {
    this.ensure(4);
    const b = this.buf;
    const p = this.pos;
    b[p] = (v >> 24) & 0xff;
    b[p + 1] = (v >> 16) & 0xff;
    b[p + 2] = (v >> 8) & 0xff;
    b[p + 3] = v & 0xff;
    this.pos = p + 4;
  }

  bytes(src: Uint8Array): void {
    if (this.share && src.length >= SHARED_BYTES) {
      // The segment so far is a view that later writes never touch: they go past `pos`, or
      // into a grown copy of the buffer.
      this.parts ??= [];
      this.parts.push(this.buf.subarray(this.segStart, this.pos), bufferView(src));
      this.partsBytes += this.pos - this.segStart + src.length;
      this.segStart = this.pos;
      return;
    }
    this.ensure(src.length);
    this.buf.set(src, this.pos);
    this.pos += src.length;
  }

  utf8(s: string, length: number): void {
    this.ensure(length);
    this.pos += this.buf.write(s, this.pos, length, 'utf8');
  }

  varint32(n: number): void {
    this.ensure(5);
    let v = n;
    while ((v & ~0x7f) !== 0) {
      this.buf[this.pos++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    this.buf[this.pos++] = v;
  }

  finish(): Buffer {
    if (this.start === 4) this.buf.writeUInt32BE(this.pos - 4, 0);
    return this.buf.subarray(0, this.pos);
  }

  /** The message as parts to write in turn (one when nothing was shared). */
  finishParts(): Buffer[] {
    const parts = this.parts;
    if (parts === undefined) return [this.finish()];
    parts.push(this.buf.subarray(this.segStart, this.pos));
    const total = this.partsBytes + this.pos - this.segStart;
    if (this.start === 4) parts[0]!.writeUInt32BE(total - 4, 0);
    return parts;
  }
}

class BinaryWriter implements ProtocolWriter {
  constructor(readonly out: Output) {}
  writeMessageBegin(name: string, type: number, seqid: number): void {
    this.out.i32be(VERSION_1 | type);
    this.writeString(name);
    this.out.i32be(seqid);
  }
  writeMessageEnd(): void {}
  writeStructBegin(): void {}
  writeStructEnd(): void {}
  writeFieldBegin(_name: string, type: number, id: number): void {
    this.out.byte(type);
    this.writeI16(id);
  }
  writeFieldEnd(): void {}
  writeFieldStop(): void {
    this.out.byte(0);
  }
  writeMapBegin(ktype: number, vtype: number, size: number): void {
    this.out.byte(ktype);
    this.out.byte(vtype);
    this.out.i32be(size);
  }
  writeMapEnd(): void {}
  writeListBegin(etype: number, size: number): void {
    this.out.byte(etype);
    this.out.i32be(size);
  }
  writeListEnd(): void {}
  writeSetBegin(etype: number, size: number): void {
    this.writeListBegin(etype, size);
  }
  writeSetEnd(): void {}
  writeBool(value: boolean): void {
    this.out.byte(value ? 1 : 0);
  }
  writeByte(value: number): void {
    this.out.byte(value);
  }
  writeI16(value: number): void {
    this.out.byte(value >> 8);
    this.out.byte(value);
  }
  writeI32(value: number): void {
    this.out.i32be(value);
  }
  writeI64(value: Int64Like): void {
    this.out.bytes(value.buffer);
  }
  writeDouble(value: number): void {
    this.out.ensure(8);
    this.out.pos = this.out.buf.writeDoubleBE(value, this.out.pos);
  }
  writeString(value: string): void {
    const length = Buffer.byteLength(value, 'utf8');
    this.out.i32be(length);
    this.out.utf8(value, length);
  }
  writeBinary(value: Uint8Array): void {
    this.out.i32be(value.length);
    this.out.bytes(value);
  }
}

class CompactWriter implements ProtocolWriter {
  private lastFieldId = 0;
  private readonly lastFieldIds: number[] = [];
  /** A bool field's header waits for its value: compact folds the value into the type. */
  private pendingBoolField: number | undefined;

  constructor(readonly out: Output) {}
  writeMessageBegin(name: string, type: number, seqid: number): void {
    this.out.byte(0x82);
    this.out.byte(1 | ((type << 5) & 0xe0));
    this.out.varint32(seqid);
    this.writeString(name);
  }
  writeMessageEnd(): void {}
  writeStructBegin(): void {
    this.lastFieldIds.push(this.lastFieldId);
    this.lastFieldId = 0;
  }
  writeStructEnd(): void {
    this.lastFieldId = this.lastFieldIds.pop() ?? 0;
  }
  writeFieldBegin(_name: string, type: number, id: number): void {
    if (type === BOOL) this.pendingBoolField = id;
    else this.fieldHeader(COMPACT_TYPE[type] ?? 0, id);
  }
  private fieldHeader(ctype: number, id: number): void {
    if (id > this.lastFieldId && id - this.lastFieldId <= 15)
      this.out.byte(((id - this.lastFieldId) << 4) | ctype);
    else {
      this.out.byte(ctype);
      this.writeI16(id);
    }
    this.lastFieldId = id;
  }
  writeFieldEnd(): void {}
  writeFieldStop(): void {
    this.out.byte(0);
  }
  writeMapBegin(ktype: number, vtype: number, size: number): void {
    if (size === 0) this.out.byte(0);
    else {
      this.out.varint32(size);
      this.out.byte(((COMPACT_TYPE[ktype] ?? 0) << 4) | (COMPACT_TYPE[vtype] ?? 0));
    }
  }
  writeMapEnd(): void {}
  writeListBegin(etype: number, size: number): void {
    const ctype = COMPACT_TYPE[etype] ?? 0;
    if (size <= 14) this.out.byte((size << 4) | ctype);
    else {
      this.out.byte(0xf0 | ctype);
      this.out.varint32(size);
    }
  }
  writeListEnd(): void {}
  writeSetBegin(etype: number, size: number): void {
    this.writeListBegin(etype, size);
  }
  writeSetEnd(): void {}
  writeBool(value: boolean): void {
    const ctype = value ? CT_TRUE : CT_FALSE;
    if (this.pendingBoolField !== undefined) {
      const id = this.pendingBoolField;
      this.pendingBoolField = undefined;
      this.fieldHeader(ctype, id);
    } else this.out.byte(ctype);
  }
  writeByte(value: number): void {
    this.out.byte(value);
  }
  writeI16(value: number): void {
    this.writeI32(value);
  }
  writeI32(value: number): void {
    this.out.varint32((value << 1) ^ (value >> 31));
  }
  writeI64(value: Int64Like): void {
    // Zigzag on the two 32-bit halves, then a varint of up to 10 bytes.
    const b = value.buffer;
    let hi = b.readUInt32BE(0);
    let lo = b.readUInt32BE(4);
    const sign = hi >>> 31 ? 0xffffffff : 0;
    hi = (((hi << 1) | (lo >>> 31)) ^ sign) >>> 0;
    lo = ((lo << 1) ^ sign) >>> 0;
    this.out.ensure(10);
    const out = this.out;
    while (hi !== 0 || (lo & ~0x7f) !== 0) {
      out.buf[out.pos++] = (lo & 0x7f) | 0x80;
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi >>>= 7;
    }
    out.buf[out.pos++] = lo;
  }
  writeDouble(value: number): void {
    this.out.ensure(8);
    this.out.pos = this.out.buf.writeDoubleLE(value, this.out.pos);
  }
  writeString(value: string): void {
    const length = Buffer.byteLength(value, 'utf8');
    this.out.varint32(length);
    this.out.utf8(value, length);
  }
  writeBinary(value: Uint8Array): void {
    this.out.varint32(value.length);
    this.out.bytes(value);
  }
}

/**
 * Encodes one message and returns its bytes as one Buffer; `framed` prefixes the 4-byte
 * big-endian frame size.
 */
export function writeMessage(
  encoding: 'binary' | 'compact',
  framed: boolean,
  write: (protocol: ProtocolWriter) => void,
): Buffer {
  const out = new Output(framed);
  write(encoding === 'binary' ? new BinaryWriter(out) : new CompactWriter(out));
  return out.finish();
}

/**
 * writeMessage() as parts to write in turn (one writev): binary payloads of SHARED_BYTES or
 * more are the caller's memory, not copied, so they must not change until the write is done.
 */
export function writeMessageParts(
  encoding: 'binary' | 'compact',
  framed: boolean,
  write: (protocol: ProtocolWriter) => void,
): Buffer[] {
  const out = new Output(framed, true);
  write(encoding === 'binary' ? new BinaryWriter(out) : new CompactWriter(out));
  return out.finishParts();
}
