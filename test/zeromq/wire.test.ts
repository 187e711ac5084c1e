/**
 * The message codec against bytes produced by Python's msgpack 1.2.4 (msgpack.dumps of the
 * same dicts; vectors pasted below), plus the error mapping and ROUTER envelope splitting.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DivideByZeroError, InternalError, NoSuchMethodError, RpcError } from '../../src/contract/index.js';
import { splitEnvelope } from '../../src/protocols/zeromq/envelope.js';
import { decodeValue, encodeValue, MAX_CONTAINERS } from '../../src/protocols/zeromq/msgpack.js';
import {
  encodeError,
  encodeRequest,
  encodeResult,
  errorFromWire,
  NO_ID,
  parseReply,
  parseRequest,
} from '../../src/protocols/zeromq/wire.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const bin = (h: string) => Buffer.from(h, 'hex');

// python -c "import msgpack; print(msgpack.dumps(<dict>).hex())"
const py = {
  addRequest: '82a66d6574686f64a3616464a6706172616d73920205', // {'method':'add','params':[2,5]}
  result7: '81a6726573756c7407', // {'result': 7}
  unknownMethod: '81a56572726f72ae756e6b6e6f776e206d6574686f64', // {'error': 'unknown method'}
  // {'method':'divide','params':[1.0,4.0],'id':9}
  divideRequest: '83a66d6574686f64a6646976696465a6706172616d7392cb3ff0000000000000cb4010000000000000a2696409',
  result2WithId: '82a6726573756c74cb4000000000000000a26964cd012c', // {'result': 2.0, 'id': 300}
  echoRequest: '82a66d6574686f64a46563686fa6706172616d7391c40200ff', // {'method':'echo','params':[b'\x00\xff']}
  // {'error': {'code': 'DIVIDE_BY_ZERO', 'message': 'division by zero'}}
  divideByZero:
    '81a56572726f7282a4636f6465ae4449564944455f42595f5a45524fa76d657373616765b06469766973696f6e206279207a65726f',
};

describe('zeromq wire: byte-exact with Python msgpack', () => {
  it('requests', () => {
    assert.equal(hex(encodeRequest('add', [2, 5], ['i32', 'i32'], NO_ID)), py.addRequest);
    // Whole-number doubles still go out as floats, as Python writes 1.0 and 4.0.
    assert.equal(
      hex(encodeRequest('divide', [1, 4], ['double', 'double'], { present: true, value: 9 })),
      py.divideRequest,
    );
    assert.equal(hex(encodeRequest('echo', [Uint8Array.of(0, 255)], ['binary'], NO_ID)), py.echoRequest);
  });

  it('replies', () => {
    assert.equal(hex(encodeResult(7, 'i32', NO_ID)), py.result7);
    assert.equal(hex(encodeResult(2, 'double', { present: true, value: 300 })), py.result2WithId);
    assert.equal(hex(encodeError(new DivideByZeroError(), NO_ID)), py.divideByZero);
    // {'result': b'\x01' * 70000, 'id': 5}: bin32 (c6, length 0x00011170), then the id.
    const big = encodeResult(new Uint8Array(70_000).fill(1), 'binary', { present: true, value: 5 });
    assert.equal(hex(big), `82a6726573756c74c600011170${'01'.repeat(70_000)}a2696405`);
  });

  it('parses what Python sends', () => {
    const req = parseRequest(bin(py.divideRequest));
    assert.ok(req.ok);
    assert.deepEqual(req.request, { method: 'divide', params: [1, 4], id: { present: true, value: 9 } });
    const echo = parseRequest(bin(py.echoRequest));
    assert.ok(echo.ok);
    assert.ok(echo.request.params[0] instanceof Uint8Array);
    assert.deepEqual([...(echo.request.params[0] as Uint8Array)], [0, 255]);
    const reply = parseReply(bin(py.result2WithId));
    assert.deepEqual(reply, { ok: true, id: { present: true, value: 300 }, outcome: { ok: true, value: 2 } });
  });
});

describe('zeromq wire: errors', () => {
  it("the survey's string error becomes NO_SUCH_METHOD", () => {
    const reply = parseReply(bin(py.unknownMethod));
    assert.ok(reply.ok && !reply.outcome.ok);
    const err = errorFromWire(reply.outcome.error, 'divide');
    assert.ok(err instanceof NoSuchMethodError);
    assert.equal(err.code, 'NO_SUCH_METHOD');
    assert.match(err.message, /divide.*unknown method/);
  });

  it('structured errors keep code, message and the remote type', () => {
    const err = errorFromWire(
      { code: 'DIVIDE_BY_ZERO', message: 'float division by zero', type: 'ZeroDivisionError' },
      'divide',
    );
    assert.ok(err instanceof DivideByZeroError);
    assert.equal(err.message, 'float division by zero');
    assert.equal(err.remoteType, 'ZeroDivisionError');
  });

  it('unknown codes and other shapes become INTERNAL, keeping what was said', () => {
    const numeric = errorFromWire({ code: 42, message: 'boom' }, 'add');
    assert.ok(numeric instanceof InternalError);
    assert.equal(numeric.message, '42: boom');
    const text = errorFromWire('disk on fire', 'add');
    assert.ok(text instanceof RpcError && text.code === 'INTERNAL' && text.message === 'disk on fire');
    assert.equal(errorFromWire(17, 'add').code, 'INTERNAL');
  });

  it('malformed requests are PROTOCOL errors, keeping the id when one was readable', () => {
    const cases: [Uint8Array, RegExp][] = [
      [bin('c1'), /not valid msgpack/], // 0xc1 is never used
      [bin('82a6'), /not valid msgpack/], // truncated
      [bin('9102'), /must be a msgpack map/], // [2]
      [bin('07'), /must be a msgpack map/],
      [Buffer.alloc(0), /not valid msgpack/],
    ];
    for (const [bytes, why] of cases) {
      const parsed = parseRequest(bytes);
      assert.ok(!parsed.ok);
      assert.equal(parsed.error.code, 'PROTOCOL');
      assert.match(parsed.error.message, why);
    }
    // {'params': [1], 'id': 5}: no method
    const noMethod = parseRequest(bin('82a6706172616d739101a2696405'));
    assert.ok(!noMethod.ok);
    assert.deepEqual(noMethod.id, { present: true, value: 5 });
    // {'method': 'add', 'params': 3}
    const badParams = parseRequest(bin('82a66d6574686f64a3616464a6706172616d7303'));
    assert.ok(!badParams.ok);
    assert.match(badParams.error.message, /"params" must be an array/);
  });

  it('nesting is bounded at the encoder depth (100), so whatever is decoded can be sent back', () => {
    // [[...[x]...]] with `arrays` levels of arrays around x: x sits at depth arrays + 1.
    const nested = (arrays: number, inner: number[]) => Buffer.from([...Array(arrays).fill(0x91), ...inner]);
    for (const inner of [[0x07], [0x90], [0xa1, 0x61], [0xc4, 0x01, 0xff]]) {
      const deepest = decodeValue(nested(99, inner));
      assert.ok(encodeValue(deepest).length > 0); // the encoder takes it back
      assert.throws(() => decodeValue(nested(100, inner)), /nested deeper than 100 levels/);
    }
    // maps count like arrays; a deep value after a long flat one is still found
    const deepMap = Buffer.from([...Array(100).fill([0x81, 0xa0]).flat(), 0xc0]);
    assert.throws(() => decodeValue(deepMap), /nested deeper/);
    const wideThenDeep = Buffer.concat([bin('92dc0400'), Buffer.alloc(1024, 0x07), nested(100, [0x07])]);
    assert.throws(() => decodeValue(wideThenDeep), /nested deeper/);
    // on both sides of the wire
    const request = parseRequest(
      Buffer.concat([bin('82a66d6574686f64a3616464a6706172616d73'), nested(150, [1])]),
    );
    assert.ok(!request.ok && /nested deeper/.test(request.error.message));
    const reply = parseReply(Buffer.concat([bin('81a6726573756c74'), nested(150, [1])]));
    assert.ok(!reply.ok && reply.error.code === 'PROTOCOL' && /nested deeper/.test(reply.error.message));
  });

  it('a reply with neither result nor error is a PROTOCOL error', () => {
    const parsed = parseReply(bin('81a26964cd012c')); // {'id': 300}
    assert.ok(!parsed.ok && parsed.error.code === 'PROTOCOL');
  });
});

describe('zeromq envelope', () => {
  const id = Buffer.from([0, 1, 2, 3, 4]);
  const empty = Buffer.alloc(0);
  const body = Buffer.from('x');
  it('REQ/DEALER-with-delimiter framing: [id, empty, body]', () => {
    assert.deepEqual(splitEnvelope([id, empty, body]), { envelope: [id, empty], body: [body] });
  });
  it('REQ with ZMQ_REQ_CORRELATE: [id, request-id, empty, body]', () => {
    const reqId = Buffer.from([1, 2, 3, 4]);
    assert.deepEqual(splitEnvelope([id, reqId, empty, body]), { envelope: [id, reqId, empty], body: [body] });
  });
  it('a raw DEALER without delimiter: [id, body]', () => {
    assert.deepEqual(splitEnvelope([id, body]), { envelope: [id], body: [body] });
  });
});

describe('zeromq wire: strings must be UTF-8 (as Python msgpack unpacks with raw=False)', () => {
  // {'method': 'echo', 'params': [<str>]} with the str's raw bytes given
  const withStr = (header: number[], payload: Buffer) =>
    Buffer.concat([bin('82a66d6574686f64a46563686fa6706172616d7391'), Buffer.from(header), payload]);

  it('a str that is not UTF-8 is a PROTOCOL error, not a silently altered string', () => {
    const bad = [
      Buffer.from('61ff62', 'hex'), // 0xff never occurs in UTF-8
      Buffer.from('eda080', 'hex'), // an encoded surrogate (CESU-8), invalid UTF-8
      Buffer.from('c0af', 'hex'), // overlong '/'
      Buffer.concat([Buffer.alloc(300, 0x61), Buffer.from('e282', 'hex')]), // truncated, long (str16)
    ];
    for (const payload of bad) {
      const header =
        payload.length < 32 ? [0xa0 | payload.length] : [0xda, payload.length >> 8, payload.length & 0xff];
      const parsed = parseRequest(withStr(header, payload));
      assert.ok(!parsed.ok, payload.toString('hex'));
      assert.equal(parsed.error.code, 'PROTOCOL');
      assert.match(parsed.error.message, /UTF-8/);
    }
    // in a key, in the method name, and in a reply
    assert.ok(!parseRequest(bin('83a66d6574686f64a3616464a6706172616d7390a1ff01')).ok);
    assert.ok(!parseRequest(bin('82a66d6574686f64a361ff64a6706172616d7390')).ok);
    const reply = parseReply(bin('81a6726573756c74d90261ff'));
    assert.ok(!reply.ok && reply.error.code === 'PROTOCOL' && /UTF-8/.test(reply.error.message));
  });

  it('valid UTF-8 in every str form decodes (fixstr, str8, str16, str32), bytes stay bytes', () => {
    const text = 'é€😀';
    const utf8 = Buffer.from(text);
    const n = utf8.length;
    for (const header of [[0xa0 | n], [0xd9, n], [0xda, 0, n], [0xdb, 0, 0, 0, n]]) {
      const parsed = parseRequest(withStr(header, utf8));
      assert.ok(parsed.ok);
      assert.deepEqual(parsed.request.params, [text]);
    }
    // bin is not text: any bytes
    const bytes = parseRequest(withStr([0xc4, 2], Buffer.from('ffed', 'hex')));
    assert.ok(bytes.ok && bytes.request.params[0] instanceof Uint8Array);
  });

  it('a string with a lone surrogate cannot be encoded (it has no UTF-8 form): an error, not U+FFFD', () => {
    for (const s of ['\ud800', `${'x'.repeat(300)}\udc00`]) {
      assert.throws(() => encodeRequest('echo', [s], ['string'], NO_ID), /lone surrogate|UTF-8/);
      assert.throws(() => encodeResult(s, 'string', NO_ID), /lone surrogate|UTF-8/);
      assert.throws(() => encodeResult({ [s]: 1 }, 'dynamic', NO_ID), /lone surrogate|UTF-8/);
    }
    assert.equal(hex(encodeValue('😀')), 'a4f09f9880'); // a proper pair is fine
  });
});

describe('zeromq wire: integers beyond 64 bits are refused, not wrapped', () => {
  it('bigints outside int64/uint64 throw; the extremes encode exactly', () => {
    for (const v of [2n ** 64n, 2n ** 64n + 1n, -(2n ** 63n) - 1n]) {
      assert.throws(() => encodeValue(v), /64-bit/);
      assert.throws(() => encodeRequest('m', [[v]], ['dynamic'], NO_ID), /64-bit/);
      assert.throws(() => encodeResult(v, 'dynamic', NO_ID), /64-bit/);
    }
    assert.equal(hex(encodeValue(2n ** 64n - 1n)), 'cfffffffffffffffff');
    assert.equal(decodeValue(encodeValue(2n ** 64n - 1n)), 2n ** 64n - 1n);
    assert.equal(hex(encodeValue(-(2n ** 63n))), 'd38000000000000000');
    assert.equal(decodeValue(encodeValue(-(2n ** 63n))), -(2n ** 63n));
  });
});

describe('zeromq wire: ext values, the timestamp too, are kept as received', () => {
  it('an id that is a timestamp (ext -1) with nanoseconds is echoed byte for byte', () => {
    // Python: msgpack.Timestamp(1, 123456789) packs as timestamp64 (d7 ff + 8 bytes).
    const ts64 = 'd7ff1d6f345400000001';
    // and a timestamp96 before 1970 with nanoseconds: Timestamp(-1, 5)
    const ts96 = 'c70cff00000005ffffffffffffffff';
    for (const id of [ts64, ts96, 'd40501' /* ext 5 */, 'c70305616263' /* ext 5, 3 bytes */]) {
      const request = bin(`83a66d6574686f64a3616464a6706172616d73920205a26964${id}`);
      const parsed = parseRequest(request);
      assert.ok(parsed.ok);
      assert.equal(hex(encodeResult(7, 'i32', parsed.request.id)), `82a6726573756c7407a26964${id}`);
    }
  });
});

describe('zeromq wire: maps and arrays per message are bounded', () => {
  // [{}, {}, ...]: an array32 of `n` empty maps, one byte each.
  const emptyMaps = (n: number) =>
    Buffer.concat([
      Buffer.from([0xdd, n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]),
      Buffer.alloc(n, 0x80),
    ]);

  it(`more than ${MAX_CONTAINERS.toLocaleString('en')} maps and arrays is refused before decoding`, () => {
    // Each one-byte empty map is a JavaScript object: 16 MiB of them (the default message
    // limit) cost the decoder over 5 s of CPU and 1 GB of heap while every client waited.
    assert.throws(() => decodeValue(emptyMaps(MAX_CONTAINERS)), /more than 1000000 maps and arrays/);
    const request = parseRequest(
      Buffer.concat([bin('82a66d6574686f64a46563686fa6706172616d73'), emptyMaps(MAX_CONTAINERS)]),
    );
    assert.ok(
      !request.ok && request.error.code === 'PROTOCOL' && /maps and arrays/.test(request.error.message),
    );
    const reply = parseReply(Buffer.concat([bin('81a6726573756c74'), emptyMaps(3 * MAX_CONTAINERS)]));
    assert.ok(!reply.ok && reply.error.code === 'PROTOCOL' && /maps and arrays/.test(reply.error.message));
  });

  it('up to the limit, and any number of scalars, decode', () => {
    assert.equal((decodeValue(emptyMaps(MAX_CONTAINERS - 1)) as unknown[]).length, MAX_CONTAINERS - 1);
    const n = 2 * MAX_CONTAINERS; // fixints are not containers
    const ints = Buffer.concat([
      Buffer.from([0xdd, n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]),
      Buffer.alloc(n, 7),
    ]);
    assert.equal((decodeValue(ints) as unknown[]).length, n);
  });
});

describe('zeromq wire: map keys are strings (as with Python msgpack strict_map_key, its default)', () => {
  it('a map with an int key is a PROTOCOL error, not a map whose key silently became a str', () => {
    const cases = [
      '83a66d6574686f64a3616464a6706172616d7392020507a178', // {..., 7: 'x'}
      '82a66d6574686f64a46563686fa6706172616d73918101a161', // params [{1: 'a'}]
      '82a66d6574686f64a46563686fa6706172616d739181cd0100c0', // params [{256: None}]
      '82a66d6574686f64a46563686fa6706172616d739181cb3ff8000000000000c0', // params [{1.5: None}]
    ];
    for (const h of cases) {
      const parsed = parseRequest(bin(h));
      assert.ok(!parsed.ok, h);
      assert.equal(parsed.error.code, 'PROTOCOL');
      assert.match(parsed.error.message, /map key/);
    }
    const reply = parseReply(bin('81a6726573756c748101a161')); // {'result': {1: 'a'}}
    assert.ok(!reply.ok && reply.error.code === 'PROTOCOL' && /map key/.test(reply.error.message));
  });

  it('str keys in every form, and ints as values and array items, are fine', () => {
    // {'method' (str8): 'add', 'params': [{'k' (str16): 1}, [1, 2]]}, map16 outside
    const parsed = parseRequest(
      bin('de0002d9066d6574686f64a3616464a6706172616d739281da00016b0192 0102'.replace(' ', '')),
    );
    assert.ok(parsed.ok);
    assert.deepEqual(parsed.request.params, [{ k: 1 }, [1, 2]]);
  });
});
