/**
 * The message scanner against messages written by the thrift library itself: it must find
 * the exact end of every valid message (and call every proper prefix incomplete), for both
 * protocols, including containers, nested structs, booleans and i64s.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MessageTooLargeError, ProtocolError } from '../../src/contract/errors.js';
import {
  type Encoding,
  encodeMessage,
  fromBigInt,
  type ProtocolWriter,
  TType,
} from '../../src/protocols/thrift/library.js';
import { messageScanner, scanMessage } from '../../src/protocols/thrift/scan.js';

const MAX = 16 * 1024 * 1024;

/** A message exercising every wire type the scanner walks. */
function rich(p: ProtocolWriter): void {
  p.writeMessageBegin('everything', 1, 77);
  p.writeStructBegin('args');
  p.writeFieldBegin('t', TType.BOOL, 1);
  p.writeBool(true);
  p.writeFieldEnd();
  p.writeFieldBegin('f', TType.BOOL, 2);
  p.writeBool(false);
  p.writeFieldEnd();
  p.writeFieldBegin('b', TType.BYTE, 3);
  p.writeByte(-3);
  p.writeFieldEnd();
  p.writeFieldBegin('s', TType.I16, 20); // a field id jump (compact: explicit id)
  p.writeI16(-300);
  p.writeFieldEnd();
  p.writeFieldBegin('i', TType.I32, 21);
  p.writeI32(-123456);
  p.writeFieldEnd();
  p.writeFieldBegin('l', TType.I64, 22);
  p.writeI64(fromBigInt(-(2n ** 62n)));
  p.writeFieldEnd();
  p.writeFieldBegin('d', TType.DOUBLE, 23);
  p.writeDouble(Math.PI);
  p.writeFieldEnd();
  p.writeFieldBegin('str', TType.STRING, 24);
  p.writeString('héllo');
  p.writeFieldEnd();
  p.writeFieldBegin('bin', TType.STRING, 25);
  p.writeBinary(Buffer.alloc(300, 7));
  p.writeFieldEnd();
  p.writeFieldBegin('list', TType.LIST, 26);
  p.writeListBegin(TType.I32, 20); // > 14 elements: compact writes the size as a varint
  for (let i = 0; i < 20; i++) p.writeI32(i * 1000);
  p.writeListEnd();
  p.writeFieldEnd();
  p.writeFieldBegin('bools', TType.LIST, 27);
  p.writeListBegin(TType.BOOL, 3);
  p.writeBool(true);
  p.writeBool(false);
  p.writeBool(true);
  p.writeListEnd();
  p.writeFieldEnd();
  p.writeFieldBegin('set', TType.SET, 28);
  p.writeSetBegin(TType.STRING, 2);
  p.writeString('a');
  p.writeString('bb');
  p.writeSetEnd();
  p.writeFieldEnd();
  p.writeFieldBegin('map', TType.MAP, 29);
  p.writeMapBegin(TType.STRING, TType.STRUCT, 2);
  for (const k of ['x', 'y']) {
    p.writeString(k);
    p.writeStructBegin('inner');
    p.writeFieldBegin('v', TType.DOUBLE, 1);
    p.writeDouble(1.5);
    p.writeFieldEnd();
    p.writeFieldStop();
    p.writeStructEnd();
  }
  p.writeMapEnd();
  p.writeFieldEnd();
  p.writeFieldBegin('empty', TType.MAP, 30);
  p.writeMapBegin(TType.I32, TType.I32, 0);
  p.writeMapEnd();
  p.writeFieldEnd();
  p.writeFieldStop();
  p.writeStructEnd();
  p.writeMessageEnd();
}

for (const encoding of ['binary', 'compact'] as Encoding[]) {
  describe(`thrift scanner [${encoding}]`, () => {
    const message = encodeMessage(encoding, false, rich);

    it('finds the exact end of a library-written message', () => {
      assert.deepEqual(scanMessage(encoding, message, MAX), { complete: true, length: message.length });
      const two = Buffer.concat([message, message]);
      assert.deepEqual(scanMessage(encoding, two, MAX), { complete: true, length: message.length });
    });

    it('calls every proper prefix incomplete, never asking for more than the message holds', () => {
      for (let n = 0; n < message.length; n++) {
        const r = scanMessage(encoding, message.subarray(0, n), MAX);
        assert.equal(r.complete, false, `prefix of ${n} bytes`);
        if (!r.complete) {
          assert.ok(
            r.needAtLeast > n && r.needAtLeast <= message.length,
            `prefix ${n}: need ${r.needAtLeast}`,
          );
        }
      }
    });

    it('resumed over the message in chunks of every size, ends exactly like one scan', () => {
      for (let step = 1; step <= 16; step++) {
        const scanner = messageScanner(encoding, message.subarray(0, 0), MAX);
        let result = scanner.run(message.subarray(0, 0));
        for (let end = step; !result.complete; end = Math.min(end + step, message.length)) {
          if (!result.complete) assert.ok(result.needAtLeast <= message.length, `step ${step}`);
          result = scanner.run(message.subarray(0, end));
        }
        assert.deepEqual(result, { complete: true, length: message.length }, `step ${step}`);
      }
    });

    it('refuses a message larger than the limit', () => {
      assert.throws(() => scanMessage(encoding, message, message.length - 1), MessageTooLargeError);
      // Even when only the start has arrived: the 300-byte binary cannot fit in 200 bytes.
      assert.throws(() => scanMessage(encoding, message.subarray(0, 150), 200), MessageTooLargeError);
    });

    it('refuses a bad header', () => {
      const bad = Buffer.from(message);
      bad[0] = encoding === 'binary' ? 0x81 : 0x83;
      assert.throws(() => scanMessage(encoding, bad, MAX), ProtocolError);
    });
  });
}

describe('thrift scanner limits', () => {
  it('refuses nesting deeper than 64 and accepts 64', () => {
    const nested = (levels: number) =>
      encodeMessage('binary', false, (p) => {
        p.writeMessageBegin('m', 1, 1);
        p.writeStructBegin('args'); // level 1
        for (let i = 1; i < levels; i++) {
          p.writeFieldBegin('f', TType.STRUCT, 1);
          p.writeStructBegin('s');
        }
        for (let i = 1; i < levels; i++) {
          p.writeFieldStop();
          p.writeStructEnd();
          p.writeFieldEnd();
        }
        p.writeFieldStop();
        p.writeStructEnd();
        p.writeMessageEnd();
      });
    assert.equal(scanMessage('binary', nested(64), MAX).complete, true);
    assert.throws(() => scanMessage('binary', nested(65), MAX), /nesting deeper than 64/);
  });

  it('bounds container counts by the smallest element size', () => {
    const header = encodeMessage('binary', false, (p) => {
      p.writeMessageBegin('m', 1, 1);
      p.writeStructBegin('args');
      p.writeFieldBegin('l', TType.LIST, 1);
      p.writeListBegin(TType.I64, 1000);
    });
    // 1000 i64s need 8000 bytes: over a 4 KiB limit, refused before any element arrives.
    assert.throws(() => scanMessage('binary', header, 4096), MessageTooLargeError);
    const r = scanMessage('binary', header, MAX);
    assert.deepEqual(r, { complete: false, needAtLeast: header.length + 8000 });
  });
});
