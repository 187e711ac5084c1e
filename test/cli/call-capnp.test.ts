/**
 * `rpclab call capnp` end to end, the CLI as a child process against our own server: the
 * Calculator without a schema (add 2 5 prints 7; divide by zero exits 1 with the typed error),
 * and an interface unlike the Calculator (fixtures/toolbox.capnp's Toolbox, served through a
 * contract of dynamic params), every argument and result typed by the schema; without a method,
 * the interface's methods are listed.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { calculator, calculatorContract } from '../../src/contract/index.js';
import { defineContract, type Implementation } from '../../src/contract/spec.js';
import { type ProcessRun, runToCompletion } from '../../src/peers/child-process.js';
import { repoRoot } from '../../src/peers/python.js';
import { type CapnpServer, serveCapnp } from '../../src/protocols/capnp/index.js';

const main = path.join(repoRoot, 'src', 'cli', 'main.ts');
const schema = path.join(repoRoot, 'test', 'cli', 'fixtures', 'toolbox.capnp');

function rpclab(args: readonly string[]): Promise<ProcessRun> {
  return runToCompletion(process.execPath, ['--import', 'tsx', main, ...args], {
    cwd: repoRoot,
    timeoutMs: 60_000,
  });
}

function ok(run: ProcessRun): string {
  assert.equal(run.code, 0, run.stdout + run.stderr);
  return run.stdout.trim();
}

const d = 'dynamic' as const;
const toolboxContract = defineContract({
  name: 'Toolbox',
  namespace: 'Toolbox',
  methods: {
    ping: { params: [{ name: 'message', type: d }], result: d },
    concat: {
      params: [
        { name: 'a', type: d },
        { name: 'b', type: d },
        { name: 'upper', type: d },
      ],
      result: d,
    },
    negate: { params: [{ name: 'n', type: d }], result: d },
    scale: {
      params: [
        { name: 'v', type: d },
        { name: 'factor', type: d },
      ],
      result: d,
    },
    sum: { params: [{ name: 'xs', type: d }], result: d },
    move: {
      params: [
        { name: 'p', type: d },
        { name: 'dx', type: d },
        { name: 'dy', type: d },
      ],
      result: d,
    },
    stats: { params: [{ name: 'xs', type: d }], result: d },
  },
});

type Point = { x: number; y: number; label: string };
const toolbox: Implementation<typeof toolboxContract> = {
  ping: (message) => `pong ${String(message)}`,
  concat: (a, b, upper) => {
    const s = `${String(a)}${String(b)}`;
    return upper === true ? s.toUpperCase() : s;
  },
  negate: (n) => -(n as bigint),
  scale: (v, factor) => (v as number) * (factor as number),
  sum: (xs) => (xs as number[]).reduce((t, x) => t + BigInt(x), 0n),
  move: (p, dx, dy) => {
    const q = p as Point;
    return { x: q.x + (dx as number), y: q.y + (dy as number), label: `${q.label}'` };
  },
  stats: (xs) => {
    const v = xs as number[];
    return {
      min: Math.min(...v),
      max: Math.max(...v),
      mean: v.reduce((t, x) => t + x, 0) / v.length,
      valid: v.length > 0,
    };
  },
};

let calc: CapnpServer;
let tools: CapnpServer;
before(async () => {
  calc = await serveCapnp(calculatorContract, calculator, { port: 0 });
  tools = await serveCapnp(toolboxContract, toolbox, { schemaPath: schema, port: 0 });
});
after(async () => {
  await calc?.close();
  await tools?.close();
});

const toolCall = (...words: string[]): Promise<ProcessRun> =>
  rpclab([
    'call',
    'capnp',
    ...words,
    '--schema',
    schema,
    '--service',
    'Toolbox',
    '--port',
    String(tools.port),
  ]);

describe('rpclab call capnp', () => {
  it('add 2 5 against our server prints 7', async () => {
    assert.equal(ok(await rpclab(['call', 'capnp', 'add', '2', '5', '--port', String(calc.port)])), '7');
  });

  it('a method returning a capability prints the capability by its interface', async () => {
    const calcSchema = path.join(repoRoot, 'src', 'protocols', 'capnp', 'calculator.capnp');
    const words = ['call', 'capnp', 'adder', '5', '--schema', calcSchema, '--service', 'Calculator'];
    const port = ['--port', String(calc.port)];
    assert.equal(ok(await rpclab([...words, ...port])), '{"capability": "Adder"}');
    assert.equal(ok(await rpclab([...words, '--json', ...port])), '{"result":{"capability":"Adder"}}');
  });

  it('divide by zero exits 1 with the typed error', async () => {
    const run = await rpclab(['call', 'capnp', 'divide', '1', '0', '--port', String(calc.port)]);
    assert.equal(run.code, 1, run.stdout + run.stderr);
    assert.equal(run.stdout, '');
    assert.match(run.stderr, /DivideByZeroError \[DIVIDE_BY_ZERO\]/);
  });

  it("--schema toolbox.capnp --service Toolbox: the interface's methods, typed by the schema", async () => {
    assert.equal(ok(await toolCall('concat', 'ab', 'cd', 'true')), 'ABCD');
    assert.equal(ok(await toolCall('negate', '9223372036854775807')), '-9223372036854775807');
    assert.equal(ok(await toolCall('scale', '1.5', '2')), '3');
    assert.equal(ok(await toolCall('sum', '[1,2,2147483647]')), '2147483650');
    assert.equal(
      ok(await toolCall('move', '{"x":1,"y":2,"label":"p"}', '0.5', '-2')),
      `{"x": 1.5, "y": 0, "label": "p'"}`,
    );
    assert.equal(ok(await toolCall('stats', '[3,1,2]')), '{"min": 1, "max": 3, "mean": 2, "valid": true}');
  });

  // Base.ping @0 shares its ordinal with Toolbox.concat @0: the server tells them apart by interface.
  it('an inherited method (Base.ping on Toolbox)', async () => {
    assert.equal(ok(await toolCall('ping', 'hi')), 'pong hi');
  });

  it('arguments the schema rejects are usage errors', async () => {
    const bad = await toolCall('negate', 'nine');
    assert.equal(bad.code, 2, bad.stdout + bad.stderr);
    const many = await toolCall('ping', 'a', 'b');
    assert.equal(many.code, 2, many.stdout + many.stderr);
    const unknown = await toolCall('nosuch');
    assert.equal(unknown.code, 2, unknown.stdout + unknown.stderr);
    assert.match(unknown.stderr, /has no method nosuch/);
  });

  it('--schema without a method lists the interface, with --service or when there are several', async () => {
    const listing = await rpclab(['call', 'capnp', '--schema', schema, '--service', 'Toolbox']);
    assert.equal(listing.code, 2, listing.stdout + listing.stderr);
    assert.match(listing.stderr, /name a method of service Toolbox:/);
    assert.match(listing.stderr, /concat <a:string> <b:string> <upper:bool>/);
    assert.match(listing.stderr, /ping <message:string>/);
    const several = await rpclab(['call', 'capnp', '--schema', schema]);
    assert.equal(several.code, 2, several.stdout + several.stderr);
    assert.match(several.stderr, /several services \(Base, Toolbox, Toolbox\.Counter\)/);
  });
});
