/**
 * src/protocols/capnp/schema.ts: a `.capnp` file compiled by the reference compiler becomes
 * codec layouts (equal to the hand-written ones for calculator.capnp) and a describe()
 * description; the layouts round-trip values through codec.ts; bad files are INVALID_ARGUMENT.
 * Needs Debian's `capnproto` (the `capnp` compiler): skipped without it, except under CI=true.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import * as capnp from 'capnp-es';
import { parseSchemaArgs } from '../../src/cli/schema-args.js';
import { RpcError } from '../../src/contract/errors.js';
import {
  adderInterface,
  CALCULATOR_INTERFACE_ID,
  calculatorInterface,
  calculatorSchema,
  functionInterface,
} from '../../src/protocols/capnp/calculator-schema.js';
import { readStruct, type StructLayout, type Values, writeStruct } from '../../src/protocols/capnp/codec.js';
import { codecValues, loadCapnpSchema } from '../../src/protocols/capnp/schema.js';

const CALCULATOR = path.resolve('src/protocols/capnp/calculator.capnp');
const TOOLBOX = path.resolve('test/cli/fixtures/toolbox.capnp');

function hasCompiler(): boolean {
  try {
    execFileSync('capnp', ['--version'], { stdio: 'ignore', timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

const skip =
  hasCompiler() || process.env.CI === 'true'
    ? false
    : 'the Cap\'n Proto compiler "capnp" is not installed (apt-get install capnproto)';

/** Writes `values` as a message's root struct, serializes it, and reads it back. */
function roundTrip(layout: StructLayout, values: Values, caps: unknown[] = []): Values {
  class Root extends capnp.Struct {
    static override readonly _capnp = {
      displayName: layout.name,
      id: '0',
      size: new capnp.ObjectSize(layout.dataWords * 8, layout.pointerCount),
    };
  }
  const message = new capnp.Message();
  writeStruct(message.initRoot(Root), layout, values, (cap) => caps.push(cap) - 1);
  const bytes = new Uint8Array(message.toArrayBuffer());
  const back = new capnp.Message(bytes, false).getRoot(Root);
  return readStruct(back, layout, (index) => caps[index]);
}

function expectInvalid(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof RpcError, `not an RpcError: ${String(err)}`);
    assert.equal(err.code, 'INVALID_ARGUMENT');
    assert.match(err.message, pattern);
    return true;
  });
}

describe('capnp schema loading', { skip }, () => {
  test('calculator.capnp gives the layouts of calculator-schema.ts', () => {
    const { registry } = loadCapnpSchema(CALCULATOR);
    assert.deepEqual([...registry.interfaces.keys()].sort(), ['Adder', 'Calculator', 'Function']);
    assert.deepEqual(registry.interfaces.get('Calculator'), calculatorInterface);
    assert.deepEqual(registry.interfaces.get('Adder'), adderInterface);
    assert.deepEqual(registry.interfaces.get('Function'), functionInterface);
    // The whole registry, its (interface id, method id) index included.
    assert.deepEqual(registry, calculatorSchema());
    assert.equal(registry.method(CALCULATOR_INTERFACE_ID, 4)?.name, 'apply');
  });

  test('calculator.capnp is described as the Calculator contract (capabilities left out)', () => {
    const { description } = loadCapnpSchema(CALCULATOR);
    assert.equal(description.path, CALCULATOR);
    assert.deepEqual([...description.services.keys()], ['Calculator', 'Adder', 'Function']);
    const calc = description.services.get('Calculator')!;
    assert.deepEqual(calc.methods.get('add'), {
      name: 'add',
      params: [
        { name: 'a', type: { kind: 'i32' } },
        { name: 'b', type: { kind: 'i32' } },
      ],
      returns: { kind: 'i32' },
      oneway: false,
    });
    assert.deepEqual(calc.methods.get('divide')?.returns, { kind: 'double' });
    assert.deepEqual(calc.methods.get('echo')?.params, [{ name: 'data', type: { kind: 'binary' } }]);
    // adder returns a capability (described as void); apply's `fn` capability is not a parameter.
    assert.deepEqual(calc.methods.get('adder')?.returns, { kind: 'void' });
    assert.deepEqual(
      calc.methods.get('apply')?.params.map((p) => p.name),
      ['a', 'b'],
    );
    assert.equal(description.structs.size, 0);
    assert.equal(description.enums.size, 0);
  });

  test('toolbox.capnp: interfaces, inherited and nested, with their layouts', () => {
    const { registry } = loadCapnpSchema(TOOLBOX);
    assert.deepEqual([...registry.interfaces.keys()].sort(), ['Base', 'Toolbox', 'Toolbox.Counter']);
    const base = registry.interfaces.get('Base')!;
    const toolbox = registry.interfaces.get('Toolbox')!;
    assert.deepEqual(
      [...toolbox.methods.keys()],
      [
        'concat',
        'negate',
        'scale',
        'sum',
        'move',
        'paint',
        'stats',
        'widths',
        'counter',
        'shapes',
        'depth',
        'ping',
      ],
    );
    // The inherited method is called on the interface that declares it.
    const ping = toolbox.methods.get('ping')!;
    assert.equal(ping, base.methods.get('ping'));
    assert.equal(ping.interfaceId, base.id);
    assert.equal(ping.interfaceName, 'Base');
    assert.equal(ping.methodId, 0);
    assert.equal(registry.method(toolbox.id, 9)?.name, 'shapes');
    assert.equal(registry.method(base.id, 0), ping);

    const m = (name: string) => toolbox.methods.get(name)!;
    assert.deepEqual(m('concat').params, {
      name: 'concat$Params',
      dataWords: 1,
      pointerCount: 2,
      fields: [
        { name: 'a', kind: 'text', offset: 0 },
        { name: 'b', kind: 'text', offset: 1 },
        { name: 'upper', kind: 'bool', offset: 0 },
      ],
    });
    assert.deepEqual(m('negate').params.fields, [{ name: 'n', kind: 'int64', offset: 0 }]);
    assert.deepEqual(m('scale').params.fields, [
      { name: 'v', kind: 'float32', offset: 0 },
      { name: 'factor', kind: 'float32', offset: 4 },
    ]);
    assert.deepEqual(m('sum').params.fields, [{ name: 'xs', kind: 'list', offset: 0, elem: 'int32' }]);
    assert.deepEqual(m('stats').results, {
      name: 'stats$Results',
      dataWords: 3,
      pointerCount: 0,
      fields: [
        { name: 'min', kind: 'int32', offset: 0 },
        { name: 'max', kind: 'int32', offset: 4 },
        { name: 'mean', kind: 'float64', offset: 8 },
        { name: 'valid', kind: 'bool', offset: 128 },
      ],
    });
    assert.deepEqual(m('widths').params.fields, [
      { name: 'small', kind: 'uint8', offset: 0 },
      { name: 'mid', kind: 'uint16', offset: 2 },
      { name: 'wide', kind: 'uint32', offset: 4 },
      { name: 'huge', kind: 'uint64', offset: 8 },
    ]);
    assert.deepEqual(m('widths').results, {
      name: 'widths$Results',
      dataWords: 0,
      pointerCount: 0,
      fields: [],
    });
    assert.deepEqual(m('counter').results.fields, [
      { name: 'counter', kind: 'cap', offset: 0, interfaceName: 'Toolbox.Counter' },
    ]);

    const point: StructLayout = {
      name: 'Point',
      dataWords: 2,
      pointerCount: 1,
      fields: [
        { name: 'x', kind: 'float64', offset: 0 },
        { name: 'y', kind: 'float64', offset: 8 },
        { name: 'label', kind: 'text', offset: 0 },
      ],
    };
    assert.deepEqual(m('move').params.fields, [
      { name: 'p', kind: 'struct', offset: 0, struct: point },
      { name: 'dx', kind: 'float64', offset: 0 },
      { name: 'dy', kind: 'float64', offset: 8 },
    ]);
    // The union's discriminant sits at 16-bit offset 1 (byte 2); the group is flattened.
    const shape: StructLayout = {
      name: 'Shape',
      dataWords: 2,
      pointerCount: 2,
      fields: [
        { name: 'name', kind: 'text', offset: 0 },
        { name: 'center', kind: 'struct', offset: 1, struct: point },
        { name: 'color', kind: 'enum', offset: 0 },
        { name: 'circle', kind: 'float32', offset: 4, discriminant: { value: 0, offset: 2 } },
        { name: 'rect.width', kind: 'float32', offset: 4, discriminant: { value: 1, offset: 2 } },
        { name: 'rect.height', kind: 'float32', offset: 8, discriminant: { value: 1, offset: 2 } },
        { name: 'empty', kind: 'void', offset: 0, discriminant: { value: 2, offset: 2 } },
      ],
    };
    assert.deepEqual(m('paint').params.fields, [
      { name: 'shape', kind: 'struct', offset: 0, struct: shape },
      { name: 'color', kind: 'enum', offset: 0 },
    ]);
    assert.deepEqual(m('shapes').params.fields, [
      { name: 'shapes', kind: 'list', offset: 0, elem: 'struct', struct: shape },
      { name: 'tags', kind: 'list', offset: 1, elem: 'text' },
    ]);
    // A struct that contains itself: a cyclic layout.
    const tree = m('depth').params.fields[0]!.struct!;
    assert.equal(tree.name, 'Tree');
    assert.deepEqual(
      tree.fields.map((f) => [f.name, f.kind, f.offset, f.elem]),
      [
        ['value', 'int32', 0, undefined],
        ['children', 'list', 0, 'struct'],
      ],
    );
    assert.equal(tree.fields[1]?.struct, tree);
    // One struct, one layout object, wherever it is used.
    assert.equal(m('paint').params.fields[0]?.struct, m('paint').results.fields[0]?.struct);
    assert.equal(m('shapes').params.fields[0]?.struct, m('paint').params.fields[0]?.struct);
  });

  test('toolbox.capnp is described with the right SchemaTypes', () => {
    const { description } = loadCapnpSchema(TOOLBOX);
    assert.deepEqual([...description.services.keys()], ['Base', 'Toolbox', 'Toolbox.Counter']);
    const toolbox = description.services.get('Toolbox')!;
    const sig = (name: string) => {
      const m = toolbox.methods.get(name)!;
      return { params: m.params.map((p) => [p.name, p.type]), returns: m.returns };
    };
    assert.deepEqual(sig('concat'), {
      params: [
        ['a', { kind: 'string' }],
        ['b', { kind: 'string' }],
        ['upper', { kind: 'bool' }],
      ],
      returns: { kind: 'string' },
    });
    assert.deepEqual(sig('negate'), { params: [['n', { kind: 'i64' }]], returns: { kind: 'i64' } });
    assert.deepEqual(sig('scale'), {
      params: [
        ['v', { kind: 'double' }],
        ['factor', { kind: 'double' }],
      ],
      returns: { kind: 'double' },
    });
    assert.deepEqual(sig('sum'), {
      params: [['xs', { kind: 'list', elem: { kind: 'i32' } }]],
      returns: { kind: 'i64' },
    });
    assert.deepEqual(sig('move'), {
      params: [
        ['p', { kind: 'struct', name: 'Toolbox.Point' }],
        ['dx', { kind: 'double' }],
        ['dy', { kind: 'double' }],
      ],
      returns: { kind: 'struct', name: 'Toolbox.Point' },
    });
    assert.deepEqual(sig('paint'), {
      params: [
        ['shape', { kind: 'struct', name: 'Toolbox.Shape' }],
        ['color', { kind: 'enum', name: 'Toolbox.Color' }],
      ],
      returns: { kind: 'struct', name: 'Toolbox.Shape' },
    });
    // Several results: a struct named after the results struct.
    assert.deepEqual(sig('stats').returns, { kind: 'struct', name: 'Toolbox.stats$Results' });
    // Unsigned integers: the nearest signed kind that holds them.
    assert.deepEqual(sig('widths'), {
      params: [
        ['small', { kind: 'i16' }],
        ['mid', { kind: 'i32' }],
        ['wide', { kind: 'i64' }],
        ['huge', { kind: 'i64' }],
      ],
      returns: { kind: 'void' },
    });
    assert.deepEqual(sig('counter'), { params: [['start', { kind: 'i64' }]], returns: { kind: 'void' } });
    assert.deepEqual(sig('shapes'), {
      params: [
        ['shapes', { kind: 'list', elem: { kind: 'struct', name: 'Toolbox.Shape' } }],
        ['tags', { kind: 'list', elem: { kind: 'string' } }],
      ],
      returns: { kind: 'i32' },
    });
    assert.deepEqual(sig('depth'), {
      params: [['tree', { kind: 'struct', name: 'Toolbox.Tree' }]],
      returns: { kind: 'i64' },
    });
    assert.deepEqual(sig('ping'), { params: [['message', { kind: 'string' }]], returns: { kind: 'string' } });
    assert.deepEqual(description.services.get('Toolbox.Counter')?.methods.get('next')?.returns, {
      kind: 'i64',
    });

    assert.deepEqual([...description.structs.keys()].sort(), [
      'Toolbox.Point',
      'Toolbox.Shape',
      'Toolbox.Tree',
      'Toolbox.stats$Results',
    ]);
    assert.deepEqual(description.structs.get('Toolbox.Shape'), {
      name: 'Toolbox.Shape',
      fields: [
        { name: 'name', type: { kind: 'string' } },
        { name: 'center', type: { kind: 'struct', name: 'Toolbox.Point' } },
        { name: 'color', type: { kind: 'enum', name: 'Toolbox.Color' } },
        { name: 'circle', type: { kind: 'double' } },
        { name: 'rect.width', type: { kind: 'double' } },
        { name: 'rect.height', type: { kind: 'double' } },
        { name: 'empty', type: { kind: 'void' } },
      ],
    });
    assert.deepEqual(description.structs.get('Toolbox.Tree')?.fields, [
      { name: 'value', type: { kind: 'i32' } },
      { name: 'children', type: { kind: 'list', elem: { kind: 'struct', name: 'Toolbox.Tree' } } },
    ]);
    assert.deepEqual(description.structs.get('Toolbox.stats$Results')?.fields, [
      { name: 'min', type: { kind: 'i32' } },
      { name: 'max', type: { kind: 'i32' } },
      { name: 'mean', type: { kind: 'double' } },
      { name: 'valid', type: { kind: 'bool' } },
    ]);
    assert.deepEqual(
      description.enums.get('Toolbox.Color'),
      new Map([
        ['red', 0],
        ['green', 1],
        ['blue', 2],
      ]),
    );
  });

  test('values round-trip through the codec over toolbox.capnp layouts', () => {
    const { registry } = loadCapnpSchema(TOOLBOX);
    const toolbox = registry.interfaces.get('Toolbox')!;
    const params = (name: string) => toolbox.methods.get(name)!.params;
    const results = (name: string) => toolbox.methods.get(name)!.results;
    const same = (layout: StructLayout, values: Values) =>
      assert.deepEqual(roundTrip(layout, values), values);

    same(params('concat'), { a: 'héllo, wörld', b: '', upper: true });
    same(params('negate'), { n: -(2n ** 62n) - 7n });
    same(params('scale'), { v: 1.5, factor: -0.25 });
    same(params('sum'), { xs: [1, -2, 2 ** 31 - 1, -(2 ** 31)] });
    same(results('sum'), { total: 2n ** 40n });
    same(params('move'), { p: { x: 1.25, y: -3, label: 'origin' }, dx: 2, dy: 0.5 });
    same(params('widths'), { small: 255, mid: 65535, wide: 2 ** 32 - 1, huge: 2n ** 64n - 1n });
    same(results('stats'), { min: -4, max: 9, mean: 2.75, valid: true });
    same(params('ping'), { message: 'ping' });

    same(params('depth'), {
      tree: {
        value: 1,
        children: [
          { value: 2, children: [] },
          { value: 3, children: [{ value: 4, children: [] }] },
        ],
      },
    });

    const center = { x: 0.5, y: 1, label: 'c' };
    // A union member group: its members come back, the other union members do not.
    same(params('paint'), {
      shape: { name: 'r', center, color: 2, 'rect.width': 3, 'rect.height': 4 },
      color: 1,
    });
    same(params('shapes'), {
      shapes: [
        { name: 'round', center, color: 0, circle: 2.5 },
        { name: 'none', center, color: 1, empty: null },
        { name: 'box', center, color: 2, 'rect.width': 0.25, 'rect.height': 8 },
      ],
      tags: ['a', 'b', ''],
    });
    // A capability field goes through the payload's cap table.
    const cap = { capability: 'counter' };
    assert.deepEqual(roundTrip(results('counter'), { counter: cap }, []), { counter: cap });
  });

  test('command-line words typed by the description are written by the codec', () => {
    const { registry, description } = loadCapnpSchema(TOOLBOX);
    const service = description.services.get('Toolbox')!;
    const layouts = registry.interfaces.get('Toolbox')!;
    const call = (method: string, words: string[]): Values => {
      const sig = service.methods.get(method)!;
      const args = parseSchemaArgs(description, sig, words);
      const values = Object.fromEntries(sig.params.map((p, i) => [p.name, args[i]]));
      return roundTrip(
        layouts.methods.get(method)!.params,
        codecValues(layouts.methods.get(method)!.params, values),
      );
    };
    assert.deepEqual(call('widths', ['255', '65535', '4294967295', '9223372036854775807']), {
      small: 255,
      mid: 65535,
      wide: 4294967295,
      huge: 2n ** 63n - 1n,
    });
    assert.deepEqual(call('paint', ['{"name":"sq","rect.width":2,"rect.height":2}', 'blue']), {
      shape: { name: 'sq', center: { x: 0, y: 0, label: '' }, color: 0, 'rect.width': 2, 'rect.height': 2 },
      color: 2,
    });
    assert.deepEqual(call('sum', ['[1,2,3]']), { xs: [1, 2, 3] });
    assert.deepEqual(call('negate', ['-9007199254740993']), { n: -9007199254740993n });
    // A UInt32 given beyond its range is still refused by the codec.
    assert.throws(
      () => call('counter', ['4294967296']),
      (err: unknown) => err instanceof RpcError && err.code === 'INVALID_ARGUMENT',
    );
  });

  test('a missing file, a directory, a broken schema and a missing compiler are INVALID_ARGUMENT', () => {
    expectInvalid(() => loadCapnpSchema('test/cli/fixtures/no-such.capnp'), /not found: .*no-such\.capnp/);
    expectInvalid(() => loadCapnpSchema('test/cli/fixtures'), /is not a file/);
    const dir = mkdtempSync(path.join(tmpdir(), 'rpclab-capnp-'));
    try {
      const broken = path.join(dir, 'broken.capnp');
      writeFileSync(broken, '@0xf7b94b49ed27546c;\nstruct X { a @0 :NoSuchType; }\n');
      expectInvalid(
        () => loadCapnpSchema(broken),
        /broken\.capnp does not compile: .*Not defined: NoSuchType/s,
      );
      const noId = path.join(dir, 'no-id.capnp');
      writeFileSync(noId, 'interface I { f @0 () -> (); }\n');
      expectInvalid(() => loadCapnpSchema(noId), /no-id\.capnp does not compile: .*id/is);
      expectInvalid(
        () => loadCapnpSchema(TOOLBOX, { compiler: path.join(dir, 'no-capnp-here') }),
        /not installed .*capnproto/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a loaded schema is reused while its file is unchanged', () => {
    assert.equal(loadCapnpSchema(TOOLBOX), loadCapnpSchema(TOOLBOX));
  });
});

describe('capnp schema defaults', { skip }, () => {
  // Scalar defaults are XOR masks on the wire: checked against the reference tool's reading.
  const dir = mkdtempSync(path.join(tmpdir(), 'rpclab-capnp-defaults-'));
  const file = path.join(dir, 'defaults.capnp');
  writeFileSync(
    file,
    [
      '@0xd1e9a1c0b5f3e201;',
      'enum Mode { off @0; on @1; auto @2; }',
      'struct Settings {',
      '  count @0 :Int32 = 5;',
      '  enabled @1 :Bool = true;',
      '  ratio @2 :Float64 = 1.5;',
      '  big @3 :UInt64 = 7;',
      '  mode @4 :Mode = auto;',
      '  plain @5 :Int16;',
      '}',
      'interface Store { put @0 (s :Settings, n :Int8 = -3) -> (s :Settings); }',
      '',
    ].join('\n'),
  );
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

  const layout = (): StructLayout => {
    const put = loadCapnpSchema(file).registry.interfaces.get('Store')!.methods.get('put')!;
    return put.params.fields.find((f) => f.name === 's')!.struct!;
  };

  function encode(values: Values): Uint8Array {
    const l = layout();
    class Root extends capnp.Struct {
      static override readonly _capnp = {
        displayName: l.name,
        id: '0',
        size: new capnp.ObjectSize(l.dataWords * 8, l.pointerCount),
      };
    }
    const message = new capnp.Message();
    writeStruct(message.initRoot(Root), l, values, () => 0);
    return new Uint8Array(message.toArrayBuffer());
  }

  const decode = (bytes: Uint8Array): string =>
    execFileSync('capnp', ['decode', file, 'Settings'], { input: bytes, timeout: 30_000 }).toString().trim();

  test('a struct left empty reads as the defaults, here and in the reference tool', () => {
    assert.deepEqual(roundTrip(layout(), {}), {
      count: 5,
      enabled: true,
      ratio: 1.5,
      big: 7n,
      mode: 2,
      plain: 0,
    });
    assert.equal(
      decode(encode({})),
      '(count = 5, enabled = true, ratio = 1.5, big = 7, mode = auto, plain = 0)',
    );
  });

  test('values other than the defaults are written so the reference tool reads them', () => {
    const values = { count: 0, enabled: false, ratio: 0, big: 0n, mode: 0, plain: -2 };
    assert.deepEqual(roundTrip(layout(), values), values);
    assert.equal(
      decode(encode(values)),
      '(count = 0, enabled = false, ratio = 0, big = 0, mode = off, plain = -2)',
    );
    assert.equal(decode(encode({ count: 41 })).startsWith('(count = 41, enabled = true'), true);
  });

  test('a parameter default (n :Int8 = -3) has its mask too', () => {
    const put = loadCapnpSchema(file).registry.interfaces.get('Store')!.methods.get('put')!;
    const n = put.params.fields.find((f) => f.name === 'n')!;
    assert.ok(n.defaultMask !== undefined);
    assert.equal(roundTrip(put.params, {}).n, -3);
  });
});
