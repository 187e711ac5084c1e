/**
 * The runtime IDL loader and the contract binding: the bundled calculator.thrift, another
 * service given by schemaPath (typedefs, enums, includes, extends, i64/string/bool types),
 * ad-hoc calls typed by the IDL, and a clear error when contract and IDL disagree.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { calculator, calculatorContract, defineContract, RpcError } from '../../src/contract/index.js';
import { repoRoot } from '../../src/peers/python.js';
import { bindContract, codeForException } from '../../src/protocols/thrift/binding.js';
import { bundledIdlPath, IdlError, loadIdl, parseIdl } from '../../src/protocols/thrift/idl.js';
import { thrift } from '../../src/protocols/thrift/index.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'rpclab-thrift-'));

writeFileSync(
  path.join(dir, 'shared.thrift'),
  `namespace py shared
typedef i64 Big
enum Mood { CALM = 1, CROSS = 2 }
exception Refused { 1: i32 code, 2: string why }
service Base {
  string greet(1: string name) throws (1: Refused refused),
}
`,
);
writeFileSync(
  path.join(dir, 'tools.thrift'),
  `include "shared.thrift"
typedef shared.Big Count
service Tools extends shared.Base {
  Count twice(1: Count n),
  bool negate(1: bool b),
  double half(1: double x),
  shared.Mood mood(1: i32 level),
  void ping(),
}
`,
);

after(() => rmSync(dir, { recursive: true, force: true }));

describe('thrift IDL loader', () => {
  it('loads the bundled calculator.thrift: ids, types and declared exceptions', () => {
    const idl = loadIdl();
    const calc = idl.services.get('Calculator')!;
    const add = calc.functions.get('add')!;
    assert.deepEqual(
      add.params.map((p) => [p.id, p.name, p.type.kind]),
      [
        [1, 'a', 'i32'],
        [2, 'b', 'i32'],
      ],
    );
    assert.deepEqual(add.throws[0], {
      id: 1,
      name: 'invalid',
      type: { kind: 'struct', name: 'InvalidArgument' },
    });
    const divide = calc.functions.get('divide')!;
    assert.equal(divide.returns.kind, 'double');
    assert.equal(divide.throws[0]!.type.kind === 'struct' && divide.throws[0]!.type.name, 'DivideByZero');
    assert.equal(calc.functions.get('echo')!.returns.kind, 'binary');
    assert.deepEqual(idl.structs.get('DivideByZero')!.fields, [
      { id: 1, name: 'message', type: { kind: 'string' } },
    ]);
  });

  it('the peers and the example use the same calculator.thrift', () => {
    const canonical = readFileSync(bundledIdlPath(), 'utf8');
    for (const copy of ['peers/python/thrift/calculator.thrift', 'examples/thrift/calculator.thrift']) {
      const file = path.join(repoRoot, copy);
      assert.equal(
        realpathSync(file),
        realpathSync(bundledIdlPath()),
        `${copy} should link to the canonical IDL`,
      );
      assert.equal(readFileSync(file, 'utf8'), canonical);
    }
  });

  it('follows includes, typedefs, enums and service inheritance', () => {
    const idl = loadIdl(path.join(dir, 'tools.thrift'));
    const tools = idl.services.get('Tools')!;
    assert.deepEqual([...tools.functions.keys()].sort(), [
      'greet',
      'half',
      'mood',
      'negate',
      'ping',
      'twice',
    ]);
    assert.equal(tools.functions.get('twice')!.returns.kind, 'i64');
    assert.deepEqual(tools.functions.get('mood')!.returns, { kind: 'enum', name: 'shared.Mood' });
    assert.equal(idl.structs.get('shared.Refused')!.kind, 'exception');
  });

  it('keeps enum members: explicit values (hex too), implicit ones counting on', () => {
    const idl = parseIdl('enum Op { ADD = 1, SUB, MUL = 0x10, DIV }\nenum Empty {}\nenum Zero { A, B }');
    assert.deepEqual(
      [...idl.enums.get('Op')!.members],
      [
        ['ADD', 1],
        ['SUB', 2],
        ['MUL', 16],
        ['DIV', 17],
      ],
    );
    assert.equal(idl.enums.get('Empty')!.members.size, 0);
    assert.deepEqual(
      [...idl.enums.get('Zero')!.members],
      [
        ['A', 0],
        ['B', 1],
      ],
    );
    // An included file's enum goes by the name its types carry.
    assert.equal(loadIdl(path.join(dir, 'tools.thrift')).enums.get('shared.Mood')!.members.get('CROSS'), 2);
  });

  it('describe(): services with inherited methods, parameter types, structs and enums, protocol-neutral', () => {
    const schema = thrift.describe!({ schemaPath: path.join(dir, 'tools.thrift') });
    const tools = schema.services.get('Tools')!;
    assert.deepEqual(tools.methods.get('greet'), {
      name: 'greet',
      params: [{ name: 'name', type: { kind: 'string' } }],
      returns: { kind: 'string' },
      oneway: false,
    });
    assert.deepEqual(tools.methods.get('twice')!.params[0]!.type, { kind: 'i64' });
    assert.deepEqual(tools.methods.get('mood')!.returns, { kind: 'enum', name: 'shared.Mood' });
    assert.deepEqual(
      schema.enums.get('shared.Mood'),
      new Map([
        ['CALM', 1],
        ['CROSS', 2],
      ]),
    );
    assert.deepEqual(
      schema.structs.get('shared.Refused')!.fields.map((f) => f.name),
      ['code', 'why'],
    );
    const bytesIdl = path.join(dir, 'bytes.thrift');
    writeFileSync(bytesIdl, 'struct S { 1: required byte b, 2: list<i8> l }');
    assert.deepEqual(thrift.describe!({ schemaPath: bytesIdl }).structs.get('S')!.fields, [
      { name: 'b', type: { kind: 'i8' }, required: true },
      { name: 'l', type: { kind: 'list', elem: { kind: 'i8' } } },
    ]);
    // The default is the bundled calculator.thrift.
    assert.deepEqual(
      [...thrift.describe!().services.get('Calculator')!.methods.keys()],
      ['add', 'divide', 'echo'],
    );
  });

  it('reports a syntax error with its place', () => {
    const bad = path.join(dir, 'bad.thrift');
    writeFileSync(bad, 'service Broken {\n  i32 add(1: i32 a, 2: i32 b\n}\n');
    assert.throws(() => loadIdl(bad), /bad\.thrift:3:1: FieldType expected/);
    assert.throws(() => loadIdl(path.join(dir, 'missing.thrift')), /cannot read Thrift IDL/);
  });

  it('an unknown top-level definition is an IdlError naming the file, not a parser crash', () => {
    // The parser fails inside itself on these (no location): that was a TypeError before.
    for (const text of ['this is not thrift', 'senum E { "a", "b" }', 'interaction I { void f() }']) {
      assert.throws(
        () => parseIdl(text, path.join(dir, 'odd.thrift')),
        (err: unknown) =>
          err instanceof IdlError &&
          err.code === 'INVALID_ARGUMENT' &&
          /odd\.thrift: unsupported or invalid Thrift definition/.test(err.message),
      );
    }
    assert.throws(
      () => parseIdl('service S { uuid id(1: i32 n) }'),
      /S\.id: the uuid type \(Thrift 0\.19\+\) is not supported/,
    );
  });

  it('accepts `namespace *` and `cpp_include`, which carry nothing on the wire', () => {
    const idl = parseIdl(
      'cpp_include "<unordered_map>"\nnamespace * calc\nnamespace cpp calc\nservice S {\n  i32 f(1: i32 n),\n}\n',
    );
    assert.deepEqual([...idl.services.get('S')!.functions.keys()], ['f']);
    // Positions of later errors are unchanged by the rewrite.
    assert.throws(
      () => parseIdl('namespace * calc\ncpp_include "x"\nservice S {\n  i32 f(1: i32 n\n}\n', 'pos.thrift'),
      /pos\.thrift:5:1: FieldType expected/,
    );
  });

  it('maps exception names to contract error codes', () => {
    assert.equal(codeForException('DivideByZero'), 'DIVIDE_BY_ZERO');
    assert.equal(codeForException('InvalidArgumentException'), 'INVALID_ARGUMENT');
    assert.equal(codeForException('shared.DivideByZeroError'), 'DIVIDE_BY_ZERO');
    assert.equal(codeForException('Refused'), undefined);
  });
});

describe('thrift contract binding', () => {
  it('refuses a contract whose types disagree with the IDL, naming the method and parameter', async () => {
    const wrong = path.join(dir, 'wrong.thrift');
    writeFileSync(
      wrong,
      'service Calculator {\n  i32 add(1: string a, 2: i32 b),\n  i64 divide(1: double a, 2: double b),\n}\n',
    );
    assert.throws(
      () => bindContract(calculatorContract, wrong),
      (err: unknown) => {
        assert.ok(err instanceof RpcError);
        assert.equal(err.code, 'INVALID_ARGUMENT');
        assert.match(err.message, /add parameter 1 \('a'\) is i32 in the contract, string in the IDL/);
        assert.match(err.message, /divide returns double in the contract, i64 in the IDL/);
        return true;
      },
    );
    await assert.rejects(
      thrift.serve(calculatorContract, calculator, { port: 0, schemaPath: wrong }),
      /disagree/,
    );
    await assert.rejects(thrift.connect(calculatorContract, { port: 1, schemaPath: wrong }), /disagree/);
  });

  it('derives a method the IDL lacks from the method table (ids 1..n)', () => {
    const probe = defineContract({
      ...calculatorContract,
      methods: {
        ...calculatorContract.methods,
        scale: {
          params: [
            { name: 'x', type: 'double' },
            { name: 'label', type: 'string' },
          ],
          result: 'double',
        },
      },
    });
    const plan = bindContract(probe).plans.get('scale')!;
    assert.equal(plan.inIdl, false);
    assert.deepEqual(
      plan.params.map((p) => [p.id, p.type.kind]),
      [
        [1, 'double'],
        [2, 'string'],
      ],
    );
  });

  it('serves and calls another service given its IDL (schemaPath)', async () => {
    const tools = defineContract({
      name: 'Tools',
      namespace: 'tools',
      methods: {
        greet: { params: [{ name: 'name', type: 'string' }], result: 'string' },
        twice: { params: [{ name: 'n', type: 'i64' }], result: 'i64' },
        negate: { params: [{ name: 'b', type: 'bool' }], result: 'bool' },
        half: { params: [{ name: 'x', type: 'double' }], result: 'double' },
      },
    });
    const schemaPath = path.join(dir, 'tools.thrift');
    for (const variant of ['binary-buffered', 'compact-framed']) {
      const server = await thrift.serve(
        tools,
        {
          greet: (name) => `hello, ${name}`,
          twice: (n) => n * 2n,
          negate: (b) => !b,
          half: (x) => x / 2,
        },
        { port: 0, variant, schemaPath },
      );
      try {
        const c = await thrift.connect(tools, { port: server.port, variant, schemaPath });
        assert.equal(await c.greet('Thrift ✓'), 'hello, Thrift ✓');
        assert.equal(await c.twice(2n ** 61n), 2n ** 62n);
        assert.equal(await c.twice(-5n), -10n);
        assert.equal(await c.negate(false), true);
        assert.equal(await c.negate(true), false);
        assert.equal(await c.half(-3), -1.5);
        await c.close();
      } finally {
        await server.close();
      }
    }
  });

  it('a struct argument missing a required field is INVALID_ARGUMENT before anything is sent', async () => {
    const schemaPath = path.join(dir, 'points.thrift');
    writeFileSync(
      schemaPath,
      'struct Point {\n  1: required i32 x,\n  2: optional i32 y,\n}\nservice Points {\n  i32 norm(1: Point p),\n}\n',
    );
    const points = defineContract({
      name: 'Points',
      namespace: 'points',
      methods: { norm: { params: [{ name: 'p', type: 'dynamic' }], result: 'dynamic' } },
    });
    // A listener that counts what arrives: a generated Java server would refuse the struct
    // (TProtocolException: required field missing), so it must not be sent.
    let received = 0;
    const sink = net.createServer((s) => s.on('data', (d: Buffer) => (received += d.length)));
    await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
    const c = await thrift.connect(points, {
      port: (sink.address() as net.AddressInfo).port,
      schemaPath,
      timeoutMs: 2_000,
    });
    try {
      await assert.rejects(c.norm({ y: 1 }), (err: unknown) => {
        assert.ok(err instanceof RpcError);
        assert.equal(err.code, 'INVALID_ARGUMENT');
        assert.match(err.message, /Point\.x is required/);
        return true;
      });
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(received, 0);
    } finally {
      await c.close();
      await new Promise<void>((r) => sink.close(() => r()));
    }
  });

  it("an ad-hoc call (dynamic result, guessed argument types) takes the IDL's types", async () => {
    const schemaPath = path.join(dir, 'tools.thrift');
    const served = defineContract({
      name: 'Tools',
      namespace: 'tools',
      methods: { twice: { params: [{ name: 'n', type: 'i64' }], result: 'i64' } },
    });
    const server = await thrift.serve(served, { twice: (n) => n * 2n }, { port: 0, schemaPath });
    try {
      // What the CLI builds for `rpclab call thrift twice 21 --schema tools.thrift`: 21 guessed as i32.
      const adHoc = defineContract({
        name: 'Tools',
        namespace: 'tools',
        methods: { twice: { params: [{ name: 'arg1', type: 'i32' }], result: 'dynamic' } },
      });
      const c = await thrift.connect(adHoc, { port: server.port, schemaPath });
      assert.equal(await c.twice(21), 42n);
      await c.close();
    } finally {
      await server.close();
    }
  });

  it('an ad-hoc call to a function outside the IDL decodes whatever result arrives', async () => {
    const served = defineContract({
      name: 'Tools',
      namespace: 'tools',
      methods: { greet: { params: [{ name: 'name', type: 'string' }], result: 'string' } },
    });
    const server = await thrift.serve(
      served,
      { greet: (name) => `hello, ${name}` },
      { port: 0, schemaPath: path.join(dir, 'tools.thrift') },
    );
    try {
      // The client only has the bundled calculator.thrift: greet is derived (field 1, string).
      const adHoc = defineContract({
        name: 'Tools',
        namespace: 'tools',
        methods: { greet: { params: [{ name: 'arg1', type: 'string' }], result: 'dynamic' } },
      });
      const c = await thrift.connect(adHoc, { port: server.port });
      assert.equal(await c.greet('you'), 'hello, you');
      await c.close();
    } finally {
      await server.close();
    }
  });

  it('an undeclared contract error crosses as TApplicationException and keeps its code', async () => {
    const schemaPath = path.join(dir, 'tools.thrift');
    const served = defineContract({
      name: 'Tools',
      namespace: 'tools',
      methods: {
        half: { params: [{ name: 'x', type: 'double' }], result: 'double', errors: ['DIVIDE_BY_ZERO'] },
      },
    });
    const { DivideByZeroError } = await import('../../src/contract/errors.js');
    const server = await thrift.serve(
      served,
      {
        half: (x) => {
          if (x === 0) throw new DivideByZeroError('nothing to halve');
          return x / 2;
        },
      },
      { port: 0, schemaPath },
    );
    try {
      const c = await thrift.connect(served, { port: server.port, schemaPath });
      await assert.rejects(c.half(0), (err: unknown) => {
        assert.ok(err instanceof DivideByZeroError);
        assert.equal(err.message, 'nothing to halve');
        assert.equal(err.remoteType, 'TApplicationException');
        return true;
      });
      await c.close();
    } finally {
      await server.close();
    }
  });
});
