/**
 * RPyC across rpyc versions and Python usages: rpyc 5.3.1 (the older message envelope) and
 * 6.0.2 clients against our server, our client against rpyc 5's server, and a script of Python
 * usages beyond the survey's (configs, async_, BgServingThread, threads, 10 MiB echo, close()
 * with a call pending, ...) run against rpyc's own server and ours, compared answer by answer.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  calculator,
  calculatorContract,
  DivideByZeroError,
  NoSuchMethodError,
  RpcError,
} from '../../src/contract/index.js';
import { freePort } from '../../src/net/free-port.js';
import {
  connectRpyc,
  RemotePythonError,
  type RemoteRef,
  type RpycServer,
  rpyc,
  serveRpyc,
} from '../../src/protocols/rpyc/index.js';
import { requireRpyc, runRpycScript, startRpycServer } from '../rpyc/python-peer.js';

const versions = [5, 6] as const;

function serveFull(): Promise<RpycServer> {
  return serveRpyc(calculatorContract, calculator, {
    port: 0,
    extras: { apply: (fn: RemoteRef, a: unknown, b: unknown) => fn.call(a, b) },
  });
}

/** Waits (bounded) until every client has gone and their references with them. */
async function drained(server: RpycServer): Promise<void> {
  for (let i = 0; i < 500 && server.stats().connections > 0; i++) await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(server.stats(), {
    connections: 0,
    localObjects: 0,
    remoteRefs: 0,
    pending: 0,
    unsentReplyBytes: 0,
  });
}

/**
 * Where our server answers differently from rpyc's, by design: the contract's doc string, the
 * contract's i32 check (rpyc's service adds any ints), our refusal messages, and bytes-like
 * objects Python sends by reference (bytearray, memoryview) that the contract's bytes refuse.
 */
const expectedDifferences: Record<string, (ours: unknown) => void> = {
  'add.__doc__ type': (v) => assert.equal(v, 'str'),
  'kwargs unknown': (v) => assert.equal(v, "TypeError: add() got an unexpected keyword argument 'c'"),
  'unknown method': (v) => assert.equal(v, "AttributeError: cannot access 'nope'"),
  'big int': (v) => assert.match(String(v), /^TypeError: add: argument 'a' must be a 32-bit integer/),
  'echo bytearray': (v) =>
    assert.match(
      String(v),
      /^TypeError: echo: argument 'data' must be bytes.*builtins\.bytearray arrives by reference/,
    ),
  'echo memoryview': (v) =>
    assert.match(
      String(v),
      /^TypeError: echo: argument 'data' must be bytes.*builtins\.memoryview arrives by reference/,
    ),
};

for (const version of versions) {
  describe(`rpyc ${version} Python clients -> our server`, () => {
    let server: RpycServer;
    before(async () => {
      server = await serveFull();
    });
    after(async () => {
      await server.close();
    });

    it("the survey's client.py and full_client.py", async (t) => {
      if (!requireRpyc(t, version)) return;
      const plain = await runRpycScript(version, 'client.py', [String(server.port)]);
      assert.equal(plain.code, 0, plain.stderr);
      assert.equal(plain.stdout.trim(), '7');
      const full = await runRpycScript(version, 'full_client.py', [String(server.port)]);
      assert.equal(full.code, 0, full.stderr);
      assert.deepEqual(JSON.parse(full.stdout), {
        add: 7,
        divide_by_zero: 'ZeroDivisionError: division by zero',
        echo_ok: true,
        apply: 42,
        callback_calls: 1,
        callback_error: 'ZeroDivisionError: division by zero',
      });
      await drained(server);
    });

    it('a client that dies mid-call (in a callback we wait on, mid-upload) leaves nothing behind', async (t) => {
      if (!requireRpyc(t, version)) return;
      for (const mode of ['callback', 'upload']) {
        const run = await runRpycScript(version, 'abrupt_client.py', [String(server.port), mode]);
        assert.equal(run.code, 3, `${mode}: ${run.stderr}`);
        assert.equal(run.stdout.trim(), '7');
        await drained(server);
      }
      const c = await connectRpyc({ port: server.port, timeoutMs: 5_000 });
      assert.equal(await c.call('add', 2, 5), 7);
      await c.close();
      await drained(server);
    });

    it("usage_client.py answers as against rpyc's own server (known differences aside)", async (t) => {
      if (!requireRpyc(t, version)) return;
      const port = await freePort();
      const theirs = await startRpycServer(version, 'full_server.py', port);
      let reference: Record<string, unknown>;
      try {
        const run = await runRpycScript(version, 'usage_client.py', [String(port)]);
        assert.equal(run.code, 0, `${run.stderr}\n${theirs.stderr()}`);
        reference = JSON.parse(run.stdout) as Record<string, unknown>;
      } finally {
        await theirs.stop();
      }
      const run = await runRpycScript(version, 'usage_client.py', [String(server.port)]);
      assert.equal(run.code, 0, run.stderr);
      const ours = JSON.parse(run.stdout) as Record<string, unknown>;
      assert.deepEqual(Object.keys(ours), Object.keys(reference));
      for (const [usage, answer] of Object.entries(ours)) {
        const differs = expectedDifferences[usage];
        if (differs !== undefined) differs(answer);
        else assert.deepEqual(answer, reference[usage], `${usage}: ours ${JSON.stringify(answer)}`);
      }
      await drained(server);
    });

    it("types_client.py: wrong types and INSTANCECHECK raise what rpyc's own server raises", async (t) => {
      if (!requireRpyc(t, version)) return;
      const port = await freePort();
      const theirs = await startRpycServer(version, 'full_server.py', port);
      let reference: Record<string, unknown>;
      try {
        const run = await runRpycScript(version, 'types_client.py', [String(port)]);
        assert.equal(run.code, 0, `${run.stderr}\n${theirs.stderr()}`);
        reference = JSON.parse(run.stdout) as Record<string, unknown>;
      } finally {
        await theirs.stop();
      }
      const run = await runRpycScript(version, 'types_client.py', [String(server.port)]);
      assert.equal(run.code, 0, run.stderr);
      const ours = JSON.parse(run.stdout) as Record<string, unknown>;
      assert.deepEqual(Object.keys(ours), Object.keys(reference));
      // A JS TypeError in the extra (fn.call is not a function) is Python's TypeError, as
      // rpyc's "'int' object is not callable" is; only the message differs.
      assert.equal(reference['apply(5, 1, 2)'], "TypeError: 'int' object is not callable");
      assert.match(String(ours['apply(5, 1, 2)']), /^TypeError: fn\.call is not a function/);
      for (const [usage, answer] of Object.entries(ours)) {
        if (usage === 'apply(5, 1, 2)') continue;
        assert.deepEqual(answer, reference[usage], `${usage}: ours ${JSON.stringify(answer)}`);
      }
      // Both answers are real TypeErrors / IndexErrors, and rpyc 6 raises TypeError for builtins.
      assert.match(String(ours['INSTANCECHECK root builtins.int']), /^TypeError: isinstance\(\) arg 2/);
      await drained(server);
    });
  });
}

describe('our client -> rpyc 5 servers (variant tcp-rpyc5)', () => {
  it('full_server.py: add, ZeroDivisionError, 1 MiB echo, callbacks, references, KeyError', async (t) => {
    if (!requireRpyc(t, 5)) return;
    const peer = await startRpycServer(5, 'full_server.py', await freePort());
    const c = await connectRpyc({ port: peer.port, rpycVersion: 5, timeoutMs: 10_000 });
    try {
      assert.equal(await c.call('add', 2, 5), 7);
      await assert.rejects(c.call('divide', 1, 0), DivideByZeroError);
      const data = Uint8Array.from({ length: 1 << 20 }, (_, i) => (i * 31) & 0xff);
      assert.deepEqual(await c.call('echo', data), data);
      assert.equal(await c.call('apply', (a: number, b: number) => a * b, 6, 7), 42);
      const list = (await c.call('make_list', 1, 2)) as RemoteRef;
      assert.equal(list.typeName, 'builtins.list');
      await list.callAttr('append', 3);
      assert.equal(await list.repr(), '[1, 2, 3]');
      await list.release();
      await assert.rejects(c.call('fail', 'key'), (e: unknown) => {
        assert.ok(e instanceof RemotePythonError);
        assert.equal(e.remoteType, 'KeyError');
        return true;
      });
      await assert.rejects(c.call('nope'), NoSuchMethodError);
      assert.equal(await c.ping('x'), 'x');
    } finally {
      await c.close();
      await peer.stop();
    }
  });

  it("the survey's server.py through Protocol.connect with the variant", async (t) => {
    if (!requireRpyc(t, 5)) return;
    const peer = await startRpycServer(5, 'server.py', await freePort());
    try {
      const typed = await rpyc.connect(calculatorContract, { port: peer.port, variant: 'tcp-rpyc5' });
      assert.equal(await typed.add(2, 5), 7);
      await typed.close();
      // The default (rpyc 6) client is told what is wrong instead of failing obscurely.
      const wrong = await connectRpyc({ port: peer.port, timeoutMs: 5_000 });
      await assert.rejects(wrong.call('add', 2, 5), (e: unknown) => {
        assert.ok(e instanceof RpcError);
        assert.match(e.message, /rpyc 4\.1-5|connection closed/);
        return true;
      });
      await wrong.close();
    } finally {
      await peer.stop();
    }
  });
});
