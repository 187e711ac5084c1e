/**
 * RPyC interop with rpyc 6.0.2, both directions: the survey's Python client against our server
 * (also as `rpclab serve rpyc`), the fuller peers (divide by zero, 1 MiB echo, callbacks both
 * ways), the object table after 10,000 Python calls, refused attribute access, and brine
 * checked against Python's own brine in both directions.
 */
import assert from 'node:assert/strict';
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import {
  calculator,
  calculatorContract,
  DivideByZeroError,
  defineContract,
  InvalidArgumentError,
  NoSuchMethodError,
  RpcError,
} from '../../src/contract/index.js';
import { freePort, waitForPort } from '../../src/net/free-port.js';
import { dump, load, PyFloat, PyFrozenSet } from '../../src/protocols/rpyc/brine.js';
import {
  asMethods,
  connectRpyc,
  pythonExceptionOf,
  RemotePythonError,
  RemoteRef,
  type RpycServer,
  rpyc,
  serveRpyc,
} from '../../src/protocols/rpyc/index.js';
import { fromTagged, loadVectors, type Tagged } from '../rpyc/brine-vectors.js';
import {
  peerScript,
  peersInstalled,
  peersPython,
  repoRoot,
  requirePeers,
  runPythonScript,
  startPythonPeer,
} from '../support/peers.js';

const script = (file: string) => peerScript('rpyc', file);

function bytes(n: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 31 + 7) & 0xff);
}

/** The rpyc server with the extras the full Python client uses (a callback). */
function serveFull(): Promise<RpycServer> {
  return serveRpyc(calculatorContract, calculator, {
    port: 0,
    extras: { apply: (fn: RemoteRef, a: unknown, b: unknown) => fn.call(a, b) },
  });
}

describe('rpyc interop: Python clients -> our server', () => {
  let server: RpycServer | undefined;
  before(async () => {
    server = await serveFull();
  });
  after(async () => {
    await server?.close();
  });

  it("the survey's client.py prints 7 against Protocol.serve", async (t) => {
    if (!requirePeers(t)) return;
    const plain = await rpyc.serve(calculatorContract, calculator, { port: 0 });
    try {
      const run = await runPythonScript(script('client.py'), [String(plain.port)]);
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.stdout.trim(), '7');
    } finally {
      await plain.close();
    }
  });

  it("the survey's client.py prints 7 against `rpclab serve rpyc`", async (t) => {
    if (!requirePeers(t)) return;
    const port = await freePort();
    const cli = spawn(
      process.execPath,
      [path.join(repoRoot, 'bin', 'rpclab.mjs'), 'serve', 'rpyc', '--port', String(port)],
      {
        cwd: repoRoot,
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    let stderr = '';
    cli.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    try {
      await waitForPort(port, '127.0.0.1', 30_000);
      const run = await runPythonScript(script('client.py'), [String(port)]);
      assert.equal(run.code, 0, `${run.stderr}\n${stderr}`);
      assert.equal(run.stdout.trim(), '7');
    } finally {
      cli.kill('SIGTERM');
      await new Promise((r) => cli.once('exit', r));
    }
  });

  it('full_client.py: add, ZeroDivisionError, 1 MiB echo, and a Python callback we call back', async (t) => {
    if (!requirePeers(t)) return;
    const run = await runPythonScript(script('full_client.py'), [String(server!.port)]);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(JSON.parse(run.stdout.trim()), {
      add: 7,
      divide_by_zero: 'ZeroDivisionError: division by zero',
      echo_ok: true,
      apply: 42,
      callback_calls: 1,
      callback_error: 'ZeroDivisionError: division by zero',
    });
  });

  it('refuses every attribute but the exposed methods (AttributeError), and keeps our codes', async (t) => {
    if (!requirePeers(t)) return;
    const run = await runPythonScript(script('probe_client.py'), [String(server!.port)]);
    assert.equal(run.code, 0, run.stderr);
    const out = JSON.parse(run.stdout.trim()) as Record<string, unknown>;
    for (const [attempt, result] of Object.entries(out)) {
      if (attempt.startsWith('add(')) continue;
      assert.match(String(result), /^AttributeError: /, `${attempt} gave ${String(result)}`);
    }
    assert.equal(out['root.__class__'], "AttributeError: cannot access '__class__'");
    assert.equal(out['root._private'], "AttributeError: cannot access '_private'");
    assert.match(String(out['add(1.5, 2)']), /^TypeError: .*32-bit integer.*\[INVALID_ARGUMENT\]$/);
    assert.equal(out['add(a=3, b=4)'], 7);
  });

  it('10,000 calls through one connection leave the object table at its starting size', async (t) => {
    if (!requirePeers(t)) return;
    const child: ChildProcessWithoutNullStreams = spawn(
      peersPython,
      ['-u', script('many_calls_client.py'), String(server!.port), '10000'],
      {
        cwd: path.dirname(script('many_calls_client.py')),
        env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' },
      },
    );
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    const nextLine = async () => {
      const { value, done } = await lines.next();
      assert.ok(!done, `the Python client ended early:\n${stderr}`);
      return String(value);
    };
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    try {
      assert.equal(await nextLine(), 'ready');
      const start = server!.stats();
      assert.equal(start.connections, 1);
      assert.equal(start.localObjects, 1, 'only the root is held by the client');
      child.stdin.write('\n');
      assert.equal(await nextLine(), 'done 10000');
      const end = server!.stats();
      assert.equal(end.localObjects, start.localObjects);
      child.stdin.write('\n');
      assert.equal(await exited, 0, stderr);
    } finally {
      child.kill('SIGKILL');
    }
  });
});

describe('rpyc interop: our client -> Python servers', () => {
  it("the survey's server.py: add(2, 5) is 7; a method it lacks is NO_SUCH_METHOD", async (t) => {
    if (!requirePeers(t)) return;
    const port = await freePort();
    const peer = await startPythonPeer(script('server.py'), port);
    const client = await rpyc.connect(calculatorContract, { port, timeoutMs: 10_000 });
    try {
      assert.equal(await client.add(2, 5), 7);
      await assert.rejects(client.divide(1, 2), (err: unknown) => {
        assert.ok(err instanceof NoSuchMethodError, String(err));
        assert.equal(err.remoteType, 'AttributeError');
        return true;
      });
      assert.equal(await client.add(-3, 3), 0);
    } finally {
      await client.close();
      await peer.stop();
    }
  });

  describe('full_server.py', () => {
    let peer: Awaited<ReturnType<typeof startPythonPeer>> | undefined;
    let port = 0;
    before(async () => {
      if (!peersInstalled()) return;
      port = await freePort();
      peer = await startPythonPeer(script('full_server.py'), port);
    });
    after(async () => {
      await peer?.stop();
    });

    it('typed client: add, divide, ZeroDivisionError as DivideByZeroError, 1 MiB echo', async (t) => {
      if (!requirePeers(t)) return;
      const client = await rpyc.connect(calculatorContract, { port, timeoutMs: 10_000 });
      try {
        assert.equal(await client.add(2, 5), 7);
        assert.equal(await client.divide(1, 4), 0.25);
        const err = await client.divide(1, 0).then(
          () => assert.fail('expected ZeroDivisionError'),
          (e: unknown) => e,
        );
        assert.ok(err instanceof DivideByZeroError, String(err));
        assert.equal(err.remoteType, 'ZeroDivisionError');
        // The contract's doubles travel as floats: Python divides 1.0 by 0.0.
        assert.equal(err.message, 'float division by zero');
        assert.match(err.remoteDetail ?? '', /Traceback[\s\S]*ZeroDivisionError: float division by zero/);
        const data = bytes(1024 * 1024);
        const back = await client.echo(data);
        assert.ok(Buffer.from(back).equals(Buffer.from(data)));
        // Python's a + b has no i32 bound: the result check catches it on our side.
        await assert.rejects(client.add(2 ** 31 - 1, 1), InvalidArgumentError);
      } finally {
        await client.close();
      }
    });

    it("typed client: a contract's doubles reach Python as floats, its ints as ints", async (t) => {
      if (!requirePeers(t)) return;
      const contract = defineContract({
        name: 'Types',
        namespace: 'types',
        methods: {
          type_names: {
            params: [
              { name: 'a', type: 'double' },
              { name: 'b', type: 'i32' },
              { name: 'c', type: 'dynamic' },
            ],
            result: 'dynamic',
          },
        },
      });
      const client = await rpyc.connect(contract, { port, timeoutMs: 10_000 });
      try {
        // 6 is a safe integer, which brine would send as an int; the contract says double.
        assert.deepEqual(await client.type_names(6, 2, 3), ['float', 'int', 'int']);
      } finally {
        await client.close();
      }
    });

    it('a client told rpycVersion 5 meeting this rpyc 6 server is told what is wrong', async (t) => {
      if (!requirePeers(t)) return;
      // rpyc 6 drops the rpyc 5 message and closes, sending its HANDLE_CLOSE in the 6 envelope.
      const wrong = await connectRpyc({ port, timeoutMs: 5_000, rpycVersion: 5 });
      await assert.rejects(wrong.call('add', 2, 5), (e: unknown) => {
        assert.ok(e instanceof RpcError);
        assert.match(e.message, /rpyc 6 message envelope/);
        return true;
      });
      await wrong.close();
    });

    it('typed client with a dynamic result: a reference comes back as its repr and is released', async (t) => {
      if (!requirePeers(t)) return;
      const contract = defineContract({
        name: 'Lists',
        namespace: 'lists',
        methods: {
          make_list: {
            params: [
              { name: 'a', type: 'dynamic' },
              { name: 'b', type: 'dynamic' },
            ],
            result: 'dynamic',
          },
        },
      });
      const client = await rpyc.connect(contract, { port, timeoutMs: 10_000 });
      try {
        assert.deepEqual(await client.make_list(2, 'x'), { netref: 'builtins.list', repr: "[2, 'x']" });
      } finally {
        await client.close();
      }
    });

    it('a TypeScript callback passed to a Python method is called by Python', async (t) => {
      if (!requirePeers(t)) return;
      const client = await connectRpyc({ port, timeoutMs: 10_000 });
      try {
        const calls: Array<[unknown, unknown]> = [];
        const multiply = (a: unknown, b: unknown) => {
          calls.push([a, b]);
          return (a as number) * (b as number);
        };
        assert.equal(await client.call('apply', multiply, 6, 7), 42);
        // The same through a method view of the root.
        const root = asMethods<{ apply(fn: typeof multiply, a: number, b: number): Promise<number> }>(
          await client.root(),
        );
        assert.equal(await root.apply(multiply, 2, 3), 6);
        assert.deepEqual(calls, [
          [6, 7],
          [2, 3],
        ]);
        // Python dropped its netref to our function: the DEL came before this ping's reply.
        await client.ping();
        assert.equal(client.stats().localObjects, 0);
        // An async callback works too: Python waits while we await.
        assert.equal(await client.call('apply', async (a: number, b: number) => `${a}-${b}`, 1, 2), '1-2');
        // An exception in our callback travels to Python and back as itself.
        const boom = () => {
          throw new DivideByZeroError('callback refused');
        };
        await assert.rejects(client.call('apply', boom, 1, 0), (e: unknown) => {
          assert.ok(e instanceof DivideByZeroError, String(e));
          assert.equal(e.remoteType, 'ZeroDivisionError');
          return true;
        });
      } finally {
        await client.close();
      }
    });

    it('references: attribute access and calls on a Python list, released with DEL', async (t) => {
      if (!requirePeers(t)) return;
      const client = await connectRpyc({ port, timeoutMs: 10_000 });
      try {
        const list = await client.call('make_list', 1, 'two', new Uint8Array([3]));
        assert.ok(list instanceof RemoteRef);
        assert.equal(list.typeName, 'builtins.list');
        assert.equal(await list.callAttr('__len__'), 3);
        await list.callAttr('append', [4, 5]);
        assert.equal(await list.repr(), "[1, 'two', b'\\x03', (4, 5)]");
        const append = await list.getAttr('append');
        assert.ok(append instanceof RemoteRef);
        await append.call(6);
        assert.equal(await list.callAttr('__getitem__', -1), 6);
        assert.ok((await list.dir()).includes('append'));
        const before = client.stats().remoteRefs;
        await append.release();
        await list.release();
        assert.equal(client.stats().remoteRefs, before - 2);
        await assert.rejects(list.callAttr('__len__'), /released/);
      } finally {
        await client.close();
      }
    });

    it('a Python exception without a typed counterpart is RemotePythonError with its type and traceback', async (t) => {
      if (!requirePeers(t)) return;
      const client = await connectRpyc({ port, timeoutMs: 10_000 });
      try {
        await assert.rejects(client.call('fail', 'key'), (e: unknown) => {
          assert.ok(e instanceof RemotePythonError, String(e));
          assert.equal(e.code, 'INTERNAL');
          assert.equal(e.remoteType, 'KeyError');
          assert.equal(e.message, 'key failure');
          assert.match(e.remoteDetail ?? '', /KeyError: 'key failure'/);
          return true;
        });
        await assert.rejects(client.call('fail', 'value'), (e: unknown) => {
          assert.ok(e instanceof InvalidArgumentError, String(e));
          assert.equal(e.remoteType, 'ValueError');
          assert.equal(pythonExceptionOf(e)?.name, 'ValueError');
          return true;
        });
      } finally {
        await client.close();
      }
    });
  });

  it('a refused connection is TRANSPORT', async () => {
    const port = await freePort();
    await assert.rejects(rpyc.connect(calculatorContract, { port, timeoutMs: 2_000 }), (e: unknown) => {
      assert.ok(e instanceof RpcError);
      assert.equal(e.code, 'TRANSPORT');
      return true;
    });
  });
});

describe('brine against Python brine', () => {
  it('the committed vectors are what rpyc 6.0.2 dumps today', async (t) => {
    if (!requirePeers(t)) return;
    const run = await runPythonScript(script('brine_vectors.py'), []);
    assert.equal(run.code, 0, run.stderr);
    const fresh = JSON.parse(run.stdout) as { vectors: Array<{ name: string; hex: string }> };
    assert.deepEqual(
      fresh.vectors.map((v) => [v.name, v.hex]),
      loadVectors().map((v) => [v.name, v.hex]),
    );
  });

  it('what we dump, Python loads and dumps back byte for byte', async (t) => {
    if (!requirePeers(t)) return;
    const values = [
      ...loadVectors().map((v) => fromTagged(v.value, true)),
      [1, -1, 2 ** 40, -(2n ** 70n), new PyFloat(2), 0.1, 'ü', new Uint8Array(300), null, true],
      new PyFrozenSet([]),
      Array.from({ length: 300 }, (_, i) => [i, String(i)]),
    ];
    const hexes = values.map((v) => dump(v).toString('hex'));
    const out = await new Promise<string>((resolve, reject) => {
      const child = spawn(peersPython, ['-u', script('brine_vectors.py'), '--reload'], {
        cwd: path.dirname(script('brine_vectors.py')),
      });
      let text = '';
      let err = '';
      child.stdout.on('data', (c: Buffer) => {
        text += c.toString();
      });
      child.stderr.on('data', (c: Buffer) => {
        err += c.toString();
      });
      child.once('error', reject);
      child.once('close', (code) => (code === 0 ? resolve(text) : reject(new Error(err))));
      child.stdin.end(`${hexes.join('\n')}\n`);
    });
    const lines = out.trim().split('\n');
    assert.equal(lines.length, hexes.length);
    lines.forEach((line, i) => {
      const back = JSON.parse(line) as { hex: string; value: Tagged };
      assert.equal(back.hex, hexes[i], `value #${i} changed on the way through Python`);
      assert.equal(
        dump(load(Buffer.from(back.hex, 'hex'), { preserveFloats: true })).toString('hex'),
        hexes[i],
      );
    });
  });
});
