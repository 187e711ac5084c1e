/**
 * Our protocol writers (writer.ts) against the thrift package's own TBinaryProtocol /
 * TCompactProtocol over its transports: the same bytes for every message we send, in every
 * variant, so the writers cannot drift from the library the readers and peers agree with.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DivideByZeroError, InvalidArgumentError, NoSuchMethodError } from '../../src/contract/errors.js';
import { calculatorContract } from '../../src/contract/index.js';
import { bindContract, type MethodPlan } from '../../src/protocols/thrift/binding.js';
import {
  APPLICATION_EXCEPTION_FIELDS,
  type StructLookup,
  writeStruct,
} from '../../src/protocols/thrift/codec.js';
import { parseVariant, VARIANTS } from '../../src/protocols/thrift/framing.js';
import { parseIdl } from '../../src/protocols/thrift/idl.js';
import {
  encodeMessage,
  encodeMessageWithLibrary,
  fromBigInt,
  MessageType,
  type ProtocolWriter,
  TType,
} from '../../src/protocols/thrift/library.js';
import {
  encodeAppException,
  encodeCall,
  encodeCallParts,
  encodeError,
  encodeReply,
  encodeReplyParts,
} from '../../src/protocols/thrift/messages.js';
import { SHARED_BYTES } from '../../src/protocols/thrift/writer.js';

type Write = (p: ProtocolWriter) => void;

const binding = bindContract(calculatorContract);
const plan = (name: string): MethodPlan => {
  const p = binding.plans.get(name);
  assert.ok(p, name);
  return p;
};

function message(
  name: string,
  type: number,
  seqid: number,
  struct: string,
  fields: MethodPlan['params'],
  values: Record<string, unknown>,
  structs: StructLookup,
): Write {
  return (p) => {
    p.writeMessageBegin(name, type, seqid);
    writeStruct(p, struct, fields, values, structs);
    p.writeMessageEnd();
  };
}

const bytes = (n: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7 + 3) & 0xff));
const view = new Uint8Array(bytes(40).buffer.slice(0)).subarray(5, 25); // not a Buffer, offset view

const ECHO_VALUES: Uint8Array[] = [
  Buffer.alloc(0),
  bytes(1),
  bytes(127),
  bytes(128),
  bytes(300),
  bytes(70_000),
  view,
];
const STRINGS = ['', 'division by zero', 'héllo wörld ✓ 𝄞', 'lone \ud800 surrogate', 'x'.repeat(200)];

const ALL_TYPES = parseIdl(`
enum Color { RED = 1, BLUE = 2 }
struct Inner { 1: i32 x, 2: bool flag, 3: string s }
struct All {
  1: bool t, 2: bool f, 3: byte b, 4: i16 s, 5: i32 i, 6: i64 l, 7: double d, 8: string str,
  9: binary bin, 10: list<i32> li, 11: set<string> ss, 12: map<string, i64> m, 13: Inner inner,
  14: list<bool> lb, 15: Color c, 40: i16 far, 17: list<Inner> structs, 18: map<i32, bool> mb,
  19: list<i32> empty, 20: map<string, string> emptyMap, 21: bool last, 200: bool farBool,
  22: list<list<i64>> nested, 23: set<double> ds
}
`);
const allStructs: StructLookup = (n) => ALL_TYPES.structs.get(n);
const allFields = ALL_TYPES.structs.get('All')?.fields ?? [];

function allValues(k: number): Record<string, unknown> {
  const big = [0n, -1n, 1n, 2n ** 63n - 1n, -(2n ** 63n), 2n ** 40n + 5n, -(2n ** 35n)][k % 7];
  return {
    t: true,
    f: false,
    b: [-128, 127, 0, -1][k % 4],
    s: [-32768, 32767, 0, -300][k % 4],
    i: [-(2 ** 31), 2 ** 31 - 1, 0, -123456, 63, 64, -64, -65][k % 8],
    l: big,
    d: [-0, Math.PI, 2 ** -1020, Number.NaN, Number.NEGATIVE_INFINITY][k % 5],
    str: STRINGS[k % STRINGS.length],
    bin: ECHO_VALUES[k % 5],
    li: Array.from({ length: [0, 3, 14, 15, 200][k % 5] ?? 0 }, (_, i) => i * 1000 - 7000),
    ss: new Set(['a', 'bb', 'ççç']),
    m: new Map([
      ['one', 1n],
      ['minus', -(2n ** 50n)],
    ]),
    inner: { x: k, flag: k % 2 === 0, s: 'in' },
    lb: [true, false, true],
    c: 2,
    far: 7,
    structs: Array.from({ length: k + 1 }, (_, i) => ({ x: i, flag: i % 2 === 1 })),
    mb: new Map([
      [1, true],
      [-2, false],
    ]),
    empty: [],
    emptyMap: new Map(),
    last: k % 2 === 1,
    farBool: true,
    nested: [[1n, -2n], [], [big]],
    ds: new Set([0.5, -1e300]),
  };
}

function cases(): [string, Write][] {
  const out: [string, Write][] = [];
  const add = plan('add');
  const divide = plan('divide');
  const echo = plan('echo');
  for (const [a, b] of [
    [20, 22],
    [-(2 ** 31), 2 ** 31 - 1],
    [0, -1],
  ] as const) {
    out.push([
      `add call ${a},${b}`,
      message('add', MessageType.CALL, 1, 'add_args', add.params, { a, b }, binding.structs),
    ]);
    out.push([
      `add reply ${a + b}`,
      message(
        'add',
        MessageType.REPLY,
        2 ** 31 - 1,
        'add_result',
        [{ id: 0, name: 'success', type: { kind: 'i32' } }],
        { success: a + b },
        binding.structs,
      ),
    ]);
  }
  for (const [a, b] of [
    [1, 3],
    [-0, 5],
    [1e308, 1e-308],
  ] as const) {
    out.push([
      `divide call ${a},${b}`,
      message('divide', MessageType.CALL, 7, 'divide_args', divide.params, { a, b }, binding.structs),
    ]);
    out.push([
      `divide reply ${a / b}`,
      message(
        'divide',
        MessageType.REPLY,
        7,
        'divide_result',
        [{ id: 0, name: 'success', type: { kind: 'double' } }],
        { success: a / b },
        binding.structs,
      ),
    ]);
  }
  for (const data of ECHO_VALUES) {
    out.push([
      `echo call ${data.length}`,
      message('echo', MessageType.CALL, 3, 'echo_args', echo.params, { data }, binding.structs),
    ]);
    out.push([
      `echo reply ${data.length}`,
      message(
        'echo',
        MessageType.REPLY,
        3,
        'echo_result',
        [{ id: 0, name: 'success', type: { kind: 'binary' } }],
        { success: data },
        binding.structs,
      ),
    ]);
  }
  for (const msg of STRINGS) {
    for (const p of [add, divide]) {
      const declared = p.throws[0];
      assert.ok(declared);
      out.push([
        `${p.name} declared exception '${msg.slice(0, 10)}'`,
        message(
          p.name,
          MessageType.REPLY,
          9,
          `${p.name}_result`,
          [declared.field],
          { [declared.field.name]: { message: msg } },
          binding.structs,
        ),
      ]);
    }
    for (const type of [1, 6, 7]) {
      out.push([
        `app exception ${type}`,
        message(
          'nope',
          MessageType.EXCEPTION,
          0,
          'TApplicationException',
          APPLICATION_EXCEPTION_FIELDS,
          { type, message: msg },
          () => undefined,
        ),
      ]);
    }
  }
  for (let k = 0; k < 10; k++) {
    out.push([
      `all types #${k}`,
      message('everything', MessageType.ONEWAY, k * 1000, 'All', allFields, allValues(k), allStructs),
    ]);
  }
  out.push([
    'raw i64s and a deep nesting',
    (p) => {
      p.writeMessageBegin('m', MessageType.CALL, -5);
      p.writeStructBegin('s');
      for (let i = 0; i < 20; i++) {
        p.writeFieldBegin('f', TType.STRUCT, i % 3 === 0 ? 300 + i : i);
        p.writeStructBegin('n');
        p.writeFieldBegin('l', TType.I64, 1);
        p.writeI64(fromBigInt(BigInt(i) * -(2n ** 59n)));
        p.writeFieldEnd();
      }
      for (let i = 0; i < 20; i++) {
        p.writeFieldStop();
        p.writeStructEnd();
        p.writeFieldEnd();
      }
      p.writeFieldBegin('after', TType.BOOL, 2);
      p.writeBool(true);
      p.writeFieldEnd();
      p.writeFieldStop();
      p.writeStructEnd();
      p.writeMessageEnd();
    },
  ]);
  return out;
}

describe('thrift writers match the thrift package byte for byte', () => {
  for (const name of VARIANTS) {
    const v = parseVariant(name);
    it(`${name}: every case`, () => {
      const all = cases();
      assert.ok(all.length > 60);
      for (const [label, write] of all) {
        const ours = encodeMessage(v.encoding, v.framed, write);
        const theirs = encodeMessageWithLibrary(v.encoding, v.framed, write);
        assert.ok(Buffer.isBuffer(ours), label);
        assert.ok(
          ours.equals(theirs),
          `${name} ${label}: ${ours.toString('hex').slice(0, 200)} != ${theirs.toString('hex').slice(0, 200)}`,
        );
      }
    });

    it(`${name}: the messages the server and client send`, () => {
      const header = { name: 'divide', type: MessageType.CALL, seqid: 41 };
      const pairs: [Buffer, Write][] = [
        [
          encodeCall(v, plan('add'), 5, [2, 3], binding.structs),
          message(
            'add',
            MessageType.CALL,
            5,
            'add_args',
            plan('add').params,
            { a: 2, b: 3 },
            binding.structs,
          ),
        ],
        [
          encodeReply(v, { ...header, name: 'echo' }, plan('echo'), bytes(65_536), binding.structs),
          message(
            'echo',
            MessageType.REPLY,
            41,
            'echo_result',
            [{ id: 0, name: 'success', type: { kind: 'binary' } }],
            { success: bytes(65_536) },
            binding.structs,
          ),
        ],
        [
          encodeError(v, header, plan('divide'), new DivideByZeroError('division by zero'), binding.structs),
          message(
            'divide',
            MessageType.REPLY,
            41,
            'divide_result',
            plan('divide').throws.map((t) => t.field),
            { divide_by_zero: { message: 'division by zero' } },
            binding.structs,
          ),
        ],
        [
          encodeError(v, header, undefined, new NoSuchMethodError('nope'), binding.structs),
          message(
            'divide',
            MessageType.EXCEPTION,
            41,
            'TApplicationException',
            APPLICATION_EXCEPTION_FIELDS,
            { type: 1, message: new NoSuchMethodError('nope').message },
            () => undefined,
          ),
        ],
        [
          encodeError(v, header, plan('divide'), new InvalidArgumentError('bad'), binding.structs),
          message(
            'divide',
            MessageType.EXCEPTION,
            41,
            'TApplicationException',
            APPLICATION_EXCEPTION_FIELDS,
            { type: 7, message: 'bad' },
            () => undefined,
          ),
        ],
        [
          encodeAppException(v, header, 6, 'boom'),
          message(
            'divide',
            MessageType.EXCEPTION,
            41,
            'TApplicationException',
            APPLICATION_EXCEPTION_FIELDS,
            { type: 6, message: 'boom' },
            () => undefined,
          ),
        ],
      ];
      for (const [ours, write] of pairs)
        assert.ok(ours.equals(encodeMessageWithLibrary(v.encoding, v.framed, write)), name);
    });

    it(`${name}: bulk binary values leave from their own memory, as the same bytes`, () => {
      const big = bytes(SHARED_BYTES);
      const header = { name: 'echo', type: MessageType.CALL, seqid: 9 };
      const cases: [Buffer[], Buffer][] = [
        [
          encodeReplyParts(v, header, plan('echo'), big, binding.structs),
          encodeReply(v, header, plan('echo'), big, binding.structs),
        ],
        [
          encodeCallParts(v, plan('echo'), 9, [big], binding.structs),
          encodeCall(v, plan('echo'), 9, [big], binding.structs),
        ],
      ];
      for (const [parts, whole] of cases) {
        assert.ok(Buffer.concat(parts).equals(whole), `${name}: parts join to the copied message`);
        assert.ok(
          parts.some((p) => p.buffer === big.buffer && p.byteOffset === big.byteOffset),
          'the payload is not copied',
        );
      }
      // Under the threshold, one buffer (small parts cost more to write than to copy).
      const small = bytes(SHARED_BYTES - 1);
      const one = encodeReplyParts(v, header, plan('echo'), small, binding.structs);
      assert.equal(one.length, 1);
      assert.ok(one[0]!.equals(encodeReply(v, header, plan('echo'), small, binding.structs)));
    });
  }
});
