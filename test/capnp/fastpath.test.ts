/**
 * The fast path (fastpath.ts) reads Calls, Returns and Finishes from raw frames and writes
 * Returns, Calls and Finishes by patching templates: checked here against capnp-es, which builds and reads the same
 * messages the general path does, and against frames it must leave to the general path.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as capnp from 'capnp-es';
import * as rpc from 'capnp-es/capnp/rpc';
import { calculatorInterface } from '../../src/protocols/capnp/calculator-schema.js';
import {
  initStructAtPointer,
  type MethodLayout,
  readContent,
  type StructLayout,
  writeStruct,
} from '../../src/protocols/capnp/codec.js';
import {
  fitsFlat,
  isFlatLayout,
  readFast,
  writeFastCall,
  writeFastFinish,
  writeFastReturn,
} from '../../src/protocols/capnp/fastpath.js';
import { frameMessage, messageFromFrame } from '../../src/protocols/capnp/framing.js';

const add = calculatorInterface.methods.get('add') as MethodLayout;
const echo = calculatorInterface.methods.get('echo') as MethodLayout;

function frameOf(build: (m: rpc.Message) => void): ArrayBuffer {
  const message = new capnp.Message();
  build(message.initRoot(rpc.Message));
  const bytes = frameMessage(message);
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}

function callFrame(
  questionId: number,
  importedCap: number,
  method: MethodLayout,
  params: Record<string, unknown>,
  tweak?: (call: rpc.Call) => void,
): ArrayBuffer {
  return frameOf((root) => {
    const call = root._initCall();
    call.questionId = questionId;
    call.interfaceId = method.interfaceId;
    call.methodId = method.methodId;
    call.target.importedCap = importedCap;
    const payload = call._initParams();
    writeStruct(initStructAtPointer(payload.content, method.params), method.params, params, () => 0);
    payload._initCapTable(0);
    tweak?.(call);
  });
}

function decodeReturn(bytes: Uint8Array, layout: StructLayout): { answerId: number; values: unknown } {
  const frame = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  const root = messageFromFrame(frame, 1 << 24).getRoot(rpc.Message);
  assert.equal(root.which(), rpc.Message.RETURN);
  assert.equal(root.return.which(), rpc.Return.RESULTS);
  assert.equal(root.return.releaseParamCaps, false);
  return {
    answerId: root.return.answerId,
    values: readContent(root.return.results.content, layout, () => null),
  };
}

describe('capnp fast path', () => {
  it('reads a Call of scalars exactly as capnp-es wrote it', () => {
    const m = readFast(callFrame(41, 3, add, { a: -2_000_000_000, b: 123_456 }));
    assert.ok(m !== undefined && m.kind === 'call');
    assert.equal(m.questionId, 41);
    assert.equal(m.importedCap, 3);
    assert.equal(m.methodId, add.methodId);
    assert.equal(m.interfaceId, add.interfaceId);
    assert.deepEqual(m.params(add.params), { a: -2_000_000_000, b: 123_456 });
  });

  it('reads a Finish and its releaseResultCaps flag (default true)', () => {
    const plain = readFast(
      frameOf((root) => {
        root._initFinish().questionId = 9;
      }),
    );
    assert.deepEqual(plain, { kind: 'finish', questionId: 9, releaseResultCaps: true });
    const kept = readFast(
      frameOf((root) => {
        const f = root._initFinish();
        f.questionId = 10;
        f.releaseResultCaps = false;
      }),
    );
    assert.deepEqual(kept, { kind: 'finish', questionId: 10, releaseResultCaps: false });
  });

  it('writes a Return that capnp-es reads back: answer id and every result', () => {
    for (const [id, value] of [
      [0, 7],
      [1, -1],
      [0xffffffff, 2_147_483_647],
      [77, -2_147_483_648],
    ] as const) {
      const bytes = writeFastReturn(id, add.results, { result: value });
      assert.deepEqual(decodeReturn(bytes, add.results), { answerId: id, values: { result: value } });
    }
  });

  it('writes a Call that capnp-es reads back, and reads a Return capnp-es wrote', () => {
    const bytes = writeFastCall(12, 4, add, { a: 2, b: -5 });
    const frame = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
    const call = messageFromFrame(frame, 1 << 24).getRoot(rpc.Message).call;
    assert.equal(call.questionId, 12);
    assert.equal(call.interfaceId, add.interfaceId);
    assert.equal(call.methodId, add.methodId);
    assert.equal(call.target.which(), rpc.MessageTarget.IMPORTED_CAP);
    assert.equal(call.target.importedCap, 4);
    assert.equal(call.sendResultsTo.which(), rpc.Call_SendResultsTo.CALLER);
    assert.equal(call.params.capTable.length, 0);
    assert.deepEqual(
      readContent(call.params.content, add.params, () => null),
      { a: 2, b: -5 },
    );
    // And our own reader agrees.
    const again = readFast(frame);
    assert.ok(again !== undefined && again.kind === 'call');
    assert.deepEqual(again.params(add.params), { a: 2, b: -5 });

    const ret = readFast(
      frameOf((root) => {
        const r = root._initReturn();
        r.answerId = 99;
        const payload = r._initResults();
        writeStruct(initStructAtPointer(payload.content, add.results), add.results, { result: -7 }, () => 0);
        payload._initCapTable(0);
      }),
    );
    assert.ok(ret !== undefined && ret.kind === 'return');
    assert.equal(ret.answerId, 99);
    assert.deepEqual(ret.results(add.results), { result: -7 });
    // An exception is the general path's.
    assert.equal(
      readFast(
        frameOf((root) => {
          const r = root._initReturn();
          r.answerId = 1;
          r._initException().reason = 'no';
        }),
      ),
      undefined,
    );
  });

  it('Text and Data fields: written past the struct and read back, by capnp-es and by us', () => {
    const layout: StructLayout = {
      name: 'Blobs',
      dataWords: 1,
      pointerCount: 3,
      fields: [
        { name: 'n', kind: 'int32', offset: 0 },
        { name: 's', kind: 'text', offset: 0 },
        { name: 'd', kind: 'data', offset: 1 },
        { name: 'empty', kind: 'data', offset: 2 },
      ],
    };
    const method: MethodLayout = { ...add, name: 'blobs', params: layout, results: layout };
    const bytes17 = Uint8Array.from({ length: 17 }, (_, i) => i * 13);
    const values = { n: -3, s: 'héllo, wörld', d: bytes17, empty: new Uint8Array(0) };
    for (const bytes of [writeFastReturn(5, layout, values), writeFastCall(6, 0, method, values)]) {
      const frame = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
      const root = messageFromFrame(frame, 1 << 24).getRoot(rpc.Message);
      const payload = root.which() === rpc.Message.RETURN ? root.return.results : root.call.params;
      assert.deepEqual(
        readContent(payload.content, layout, () => null),
        values,
      );
      const fast = readFast(frame);
      assert.ok(fast !== undefined && fast.kind !== 'finish');
      assert.deepEqual(fast.kind === 'return' ? fast.results(layout) : fast.params(layout), values);
    }
    // One MiB of Data, as the echo scenario sends it.
    const big = new Uint8Array(1 << 20).map((_, i) => i & 0xff);
    const ret = writeFastReturn(7, echo.results, { data: big });
    assert.deepEqual(decodeReturn(ret, echo.results), { answerId: 7, values: { data: big } });
    // A Text whose NUL is missing, and a Data pointer that is a list of words: the general path's.
    const good = new Uint8Array(callFrame(1, 0, echo, { data: new Uint8Array([1, 2, 3]) }));
    const fast = readFast(good.buffer);
    assert.ok(fast !== undefined && fast.kind === 'call');
    assert.deepEqual(fast.params(echo.params), { data: new Uint8Array([1, 2, 3]) });
    const wordList = good.slice();
    const view = new DataView(wordList.buffer);
    // The Data pointer is the last pointer written before the bytes: find it by its tag and size.
    let patched = false;
    for (let at = 8; at + 8 <= wordList.length; at += 8) {
      if ((view.getUint32(at, true) & 3) === 1 && view.getUint32(at + 4, true) === ((3 << 3) | 2)) {
        view.setUint32(at + 4, (3 << 3) | 5, true);
        patched = true;
      }
    }
    assert.ok(patched);
    const refused = readFast(wordList.buffer);
    assert.ok(refused !== undefined && refused.kind === 'call');
    assert.equal(refused.params(echo.params), undefined);
  });

  it('writes a Finish that capnp-es reads back', () => {
    for (const release of [true, false]) {
      const bytes = writeFastFinish(321, release);
      const frame = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
      const f = messageFromFrame(frame, 1 << 24).getRoot(rpc.Message).finish;
      assert.equal(f.questionId, 321);
      assert.equal(f.releaseResultCaps, release);
      assert.equal(f.requireEarlyCancellationWorkaround, false);
    }
  });

  it('leaves to the general path what it does not fully understand', () => {
    // Not a Call or Finish.
    assert.equal(
      readFast(
        frameOf((root) => {
          root._initBootstrap().questionId = 0;
        }),
      ),
      undefined,
    );
    // A Call on a promised answer (pipelining), and one whose results go elsewhere.
    assert.equal(
      readFast(
        callFrame(1, 0, add, { a: 1, b: 2 }, (call) => {
          call.target._initPromisedAnswer().questionId = 0;
        }),
      ),
      undefined,
    );
    assert.equal(
      readFast(
        callFrame(1, 0, add, { a: 1, b: 2 }, (call) => {
          call.sendResultsTo.yourself = true;
        }),
      ),
      undefined,
    );
    // A Call with a capability in its cap table.
    assert.equal(
      readFast(
        callFrame(1, 0, add, { a: 1, b: 2 }, (call) => {
          call.params._initCapTable(1).get(0).senderHosted = 5;
        }),
      ),
      undefined,
    );
    // Two segments, a truncated frame, a segment table that lies about the size.
    const good = new Uint8Array(callFrame(1, 0, add, { a: 1, b: 2 }));
    const twoSegments = good.slice();
    new DataView(twoSegments.buffer).setUint32(0, 1, true);
    assert.equal(readFast(twoSegments.buffer), undefined);
    assert.equal(readFast(good.slice(0, good.length - 8).buffer), undefined);
    const lying = good.slice();
    new DataView(lying.buffer).setUint32(4, 1000, true);
    assert.equal(readFast(lying.buffer), undefined);
  });

  it('refuses pointers that leave the segment', () => {
    const good = new Uint8Array(callFrame(1, 0, add, { a: 1, b: 2 }));
    // The root pointer at byte 8: an offset far past the end.
    const far = good.slice();
    new DataView(far.buffer).setUint32(8, (1000 << 2) >>> 0, true);
    assert.equal(readFast(far.buffer), undefined);
    // A negative offset pointing before the segment.
    const back = good.slice();
    new DataView(back.buffer).setUint32(8, (-4 << 2) >>> 0, true);
    assert.equal(readFast(back.buffer), undefined);
    // A far pointer (tag 2) as the root.
    const farTag = good.slice();
    new DataView(farTag.buffer).setUint32(8, 2, true);
    assert.equal(readFast(farTag.buffer), undefined);
  });

  it('knows which layouts and values it can write', () => {
    assert.equal(isFlatLayout(add.params), true);
    assert.equal(isFlatLayout(add.results), true);
    assert.equal(isFlatLayout(echo.results), true);
    assert.equal(fitsFlat(add.results, { result: 7 }), true);
    assert.equal(fitsFlat(add.results, { result: 2 ** 31 }), false);
    assert.equal(fitsFlat(add.results, { result: 1.5 }), false);
    assert.equal(fitsFlat(add.results, { result: '7' }), false);
    assert.equal(fitsFlat(echo.results, { data: new Uint8Array(3) }), true);
    assert.equal(fitsFlat(echo.results, { data: 'abc' }), false);
  });
});
