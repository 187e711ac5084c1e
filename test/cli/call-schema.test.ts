/**
 * `rpclab call thrift <fn> <args…> --schema FILE` end to end: the CLI as a child process
 * against a thriftpy2 server of a service unlike the Calculator (fixtures/toolbox.thrift),
 * every argument typed by the IDL and every result printed exactly.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it, type TestContext } from 'node:test';
import { freePort } from '../../src/net/free-port.js';
import { type ProcessRun, runToCompletion } from '../../src/peers/child-process.js';
import { type PythonPeer, repoRoot, startPythonPeer } from '../../src/peers/python.js';
import { requirePeers } from '../support/peers.js';

const main = path.join(repoRoot, 'src', 'cli', 'main.ts');
const fixtures = path.join(repoRoot, 'test', 'cli', 'fixtures');
const schema = path.join(fixtures, 'toolbox.thrift');

function rpclab(args: readonly string[]): Promise<ProcessRun> {
  return runToCompletion(process.execPath, ['--import', 'tsx', main, ...args], {
    cwd: repoRoot,
    timeoutMs: 60_000,
  });
}

let peer: Promise<PythonPeer> | undefined;
after(async () => {
  await (await peer?.catch(() => undefined))?.stop();
});

/** Calls the toolbox server (started once, on first use) with the fixture IDL. */
async function call(t: TestContext, ...args: string[]): Promise<ProcessRun | undefined> {
  if (!requirePeers(t)) return undefined;
  peer ??= freePort().then((port) => startPythonPeer(path.join(fixtures, 'toolbox_server.py'), port));
  const { port } = await peer;
  return rpclab(['call', 'thrift', ...args, '--schema', schema, '--port', String(port)]);
}

function ok(run: ProcessRun | undefined): string {
  assert.ok(run);
  assert.equal(run.code, 0, run.stderr);
  return run.stdout;
}

function json(run: ProcessRun | undefined): unknown {
  return (JSON.parse(ok(run)) as { result: unknown }).result;
}

function usageError(run: ProcessRun | undefined, pattern: RegExp): void {
  assert.ok(run);
  assert.equal(run.code, 2, run.stdout + run.stderr);
  assert.match(run.stderr, pattern);
}

describe('rpclab call thrift --schema (thriftpy2 server)', () => {
  it('a void function prints nothing; with --json, {"result":null}', async (t) => {
    const run = await call(t, 'reset');
    if (!run) return;
    assert.equal(ok(run), '');
    assert.equal(ok(await call(t, 'reset', '--json')).trim(), '{"result":null}');
  });

  it('a oneway function prints nothing and reaches the server', async (t) => {
    const run = await call(t, 'note', 'left a note');
    if (!run) return;
    assert.equal(ok(run), '');
    // Oneway calls get no reply, so the note may be handled after a later call on another
    // connection: ask again until it shows (bounded by attempts, not by time).
    let notes: unknown = [];
    for (let i = 0; i < 20 && !(notes as string[]).includes('left a note'); i++)
      notes = json(await call(t, 'notes', '--json'));
    assert.ok((notes as string[]).includes('left a note'), JSON.stringify(notes));
  });

  it('a struct and an enum in (JSON, member name), a struct with an i64 beyond 2^53 out', async (t) => {
    const work = '{"num1":1,"num2":2,"op":"ADD","comment":"hi"}';
    const run = await call(t, 'compute', work, 'MUL');
    if (!run) return;
    assert.equal(
      ok(run).trim(),
      '{"value": 9007199254740996, "op": 16, "raw": <4 bytes> 00ff6869, ' +
        '"counts": {"big": 9007199254740993, "negative": -4611686018427387904}, "tags": [1, 3], ' +
        '"history": [{"num1": 1, "num2": 2, "op": 1, "comment": "hi"}], "ratio": Infinity}',
    );
    // Enum members by number work too, and --json keeps every i64 exact.
    const result = json(await call(t, 'compute', '{"num1":7,"num2":2,"op":2}', '16', '--json')) as Record<
      string,
      unknown
    >;
    assert.equal(result.value, (2n ** 53n + 1n + 5n).toString());
    assert.equal(result.op, 16);
    assert.deepEqual(result.raw, { base64: Buffer.from([0, 255]).toString('base64') });
    assert.deepEqual(result.counts, { big: '9007199254740993', negative: (-(2n ** 62n)).toString() });
    assert.equal(result.ratio, 'Infinity');
  });

  it('a list, a map and a set from JSON (an i64 beyond 2^53 as a JSON string)', async (t) => {
    const run = await call(t, 'summarize', '[1, -3, "9007199254740993"]', '{"a":1,"b":2}', '["x","y","x"]');
    if (!run) return;
    assert.equal(ok(run).trim(), '{"sum": 9007199254740991, "weights": 3, "labels": 2, "sorted-first": -3}');
    usageError(await call(t, 'summarize', '[9007199254740993]', '{}', '[]'), /beyond 2\^53.*as a string/);
    usageError(
      await call(t, 'summarize', '[1]', '{"a":"x"}', '[]'),
      /argument 'weights'\["a"\] must be an i32 integer/,
    );
    usageError(
      await call(t, 'summarize', '[1', '{}', '[]'),
      /argument 'values' is list<i64>: give it as JSON/,
    );
  });

  it('a string parameter takes a numeric-looking word as a string', async (t) => {
    const run = await call(t, 'echoS', '123');
    if (!run) return;
    assert.equal(ok(run).trim(), 'str:123');
  });

  it("an `add` with other types than Calculator's is called by the IDL's types", async (t) => {
    const run = await call(t, 'add', '2', '5');
    if (!run) return;
    assert.equal(ok(run).trim(), '25');
  });

  it('an inherited function (extends base.Base, from an include) is callable', async (t) => {
    const run = await call(t, 'ping');
    if (!run) return;
    assert.equal(ok(run).trim(), 'pong');
    assert.equal(ok(await call(t, 'ping', '--service', 'Toolbox')).trim(), 'pong');
  });

  it('integers are range-checked by their IDL type; negative numbers are arguments, not options', async (t) => {
    const run = await call(t, 'half', '-7');
    if (!run) return;
    assert.equal(ok(run).trim(), '-4');
    usageError(await call(t, 'half', '40000'), /argument 'n' must be an i16 integer in \[-32768, 32767\]/);
    usageError(await call(t, 'half', '1.5'), /must be an i16 integer/);
  });

  it('binary from hex:, printed as hex when not text; double and bool', async (t) => {
    const run = await call(t, 'flip', 'hex:0001ff');
    if (!run) return;
    assert.equal(ok(run).trim(), '<3 bytes> ff0100');
    assert.equal(ok(await call(t, 'flip', 'olleh')).trim(), 'hello');
    assert.deepEqual(json(await call(t, 'flip', 'base64:AAE=', '--json')), { base64: 'AQA=' });
    assert.equal(ok(await call(t, 'scale', '-inf', 'false')).trim(), '-Infinity');
    assert.equal(ok(await call(t, 'scale', '2.5', 'true')).trim(), '-2.5');
    usageError(await call(t, 'scale', '2.5', 'yes'), /argument 'negate' must be true or false/);
  });

  it('struct and enum mistakes are usage errors naming the field or the members', async (t) => {
    const run = await call(t, 'compute', '{"num2":1}', 'ADD');
    if (!run) return;
    usageError(run, /argument 'work': Work\.num1 is required/);
    usageError(
      await call(t, 'compute', '{"num1":1,"bad":1}', 'ADD'),
      /Work has no field "bad" \(fields: num1:i32, num2:i32, op:Op, comment:string\)/,
    );
    usageError(
      await call(t, 'compute', '{"num1":1}', 'DIV'),
      /argument 'mode' must be a member of enum Op \(ADD=1, SUB=2, MUL=16\) or its number/,
    );
    usageError(
      await call(t, 'compute', '{"num1":1}'),
      /compute takes 2 argument\(s\): compute <work:Work> <mode:Op>/,
    );
  });

  it("a service's own declared exception is a remote error (exit 1) naming its type", async (t) => {
    const run = await call(t, 'fail', 'no luck');
    if (!run) return;
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stderr, /\(remote Oops\): Oops: no luck/);
    const asJson = await call(t, 'fail', 'no luck', '--json');
    assert.equal(asJson?.code, 1);
    const { error } = JSON.parse(asJson?.stdout ?? '') as { error: { remoteType: string; message: string } };
    assert.equal(error.remoteType, 'Oops');
    assert.match(error.message, /no luck/);
  });

  it('a function the IDL lacks is a usage error listing the service', async (t) => {
    const run = await call(t, 'nope');
    if (!run) return;
    usageError(run, /service Toolbox of .*toolbox\.thrift has no method nope; it has:/);
    assert.match(run.stderr, /^ {2}compute <work:Work> <mode:Op>$/m);
    assert.match(run.stderr, /^ {2}ping$/m);
  });
});

describe('rpclab call --schema: schema problems are usage errors (nothing is sent)', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rpclab-cli-schema-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  // No server listens there: each error must come before any connection is tried.
  const port = '1';

  it('a missing or unparsable schema file', async () => {
    usageError(
      await rpclab(['call', 'thrift', 'ping', '--schema', path.join(dir, 'none.thrift'), '--port', port]),
      /cannot read Thrift IDL .*none\.thrift/,
    );
    const bad = path.join(dir, 'bad.thrift');
    writeFileSync(bad, 'service A { void a( }\n');
    usageError(await rpclab(['call', 'thrift', 'a', '--schema', bad, '--port', port]), /bad\.thrift:1:\d+: /);
  });

  it('several services need --service; an unknown one lists them', async () => {
    const two = path.join(dir, 'two.thrift');
    writeFileSync(two, 'service A { void a() }\nservice B { string b(1: i32 n) }\n');
    usageError(
      await rpclab(['call', 'thrift', 'a', '--schema', two, '--port', port]),
      /defines several services \(A, B\): choose one with --service/,
    );
    usageError(
      await rpclab(['call', 'thrift', 'b', '--schema', two, '--service', 'C', '--port', port]),
      /has no service C \(services: A, B\)/,
    );
    // The chosen service types the call (the port is closed: a transport failure, exit 3).
    const chosen = await rpclab([
      'call',
      'thrift',
      'b',
      '7',
      '--schema',
      two,
      '--service',
      'B',
      '--port',
      port,
    ]);
    assert.equal(chosen.code, 3, chosen.stderr);
  });

  it('--service without --schema uses the bundled IDL; protocols without a schema refuse it', async () => {
    usageError(
      await rpclab(['call', 'thrift', 'ping', '--service', 'Calculator', '--port', port]),
      /service Calculator of .*calculator\.thrift has no method ping; it has:\n {2}add <a:i32> <b:i32>/,
    );
    usageError(
      await rpclab(['call', 'jsonrpc', 'add', '1', '2', '--service', 'X', '--port', port]),
      /--service is for schema-first protocols; jsonrpc has no schema/,
    );
  });

  it('naming no method lists the methods', async () => {
    usageError(
      await rpclab(['call', 'thrift', '--schema', schema, '--port', port]),
      /name a method of service Toolbox:\n {2}ping\n {2}reset\n {2}note <text:string>/,
    );
  });
});
