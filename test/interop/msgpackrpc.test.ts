/**
 * msgpack-rpc interop, both directions, with two peers nobody here wrote:
 *
 * - msgpack-rpc-python 0.4.1 (the survey's library; tornado 4.5.3, msgpack-python 0.5.6, in
 *   .venv-peers/msgpackrpc): the survey's server (fixed minimally) and client, then the full
 *   peers (divide by zero, 1 MiB echo, unknown method, pipelined calls, msgpack types). Its
 *   client cannot serve calls from the server and its server cannot call its clients, so the
 *   calls back on one connection are checked with Neovim.
 * - Neovim (Debian's nvim): our client calls its API (nvim_eval, nvim_get_api_info, an unknown
 *   method) and serves a method that Neovim calls back during our request; Neovim, driven by a
 *   Lua script, connects to our server, calls add, sends a notification, and answers our
 *   server's nvim_eval on the channel it opened while it waits for a reply.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  calculator,
  calculatorContract,
  DivideByZeroError,
  defineContract,
  RpcError,
} from '../../src/contract/index.js';
import { freePort } from '../../src/net/free-port.js';
import { runToCompletion } from '../../src/peers/child-process.js';
import { type NeovimServer, runNeovimClient, startNeovim } from '../../src/peers/neovim.js';
import {
  connectMsgpackRpc,
  type MsgpackRpcConnection,
  msgpackRpcClient,
  openMsgpackRpc,
  serveMsgpackRpc,
} from '../../src/protocols/msgpackrpc/index.js';
import type { RunningServer } from '../../src/protocols/types.js';
import {
  type PythonPeer,
  peerScript,
  repoRoot,
  requireNeovim,
  requirePeerScript,
  runPythonScript,
  startPythonPeer,
} from '../support/peers.js';

function bytes(n: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 31 + 7) & 0xff);
}

function hasCode(code: string) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof RpcError, `expected an RpcError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return true;
  };
}

const script = (name: string) => peerScript('msgpackrpc', name);

/** full_server.py's extras: the Python type each argument arrived as; notifications it saw. */
const probeContract = defineContract({
  name: 'Probe',
  namespace: 'probe',
  methods: {
    describe_params: {
      params: [
        { name: 'i', type: 'i32' },
        { name: 'whole_double', type: 'double' },
        { name: 'double', type: 'double' },
        { name: 's', type: 'string' },
        { name: 'b', type: 'binary' },
        { name: 'big', type: 'i64' },
        { name: 'flag', type: 'bool' },
      ],
      result: 'dynamic',
    },
    notes_seen: { params: [], result: 'dynamic' },
  },
});

describe('msgpackrpc interop: msgpack-rpc-python clients -> our server', () => {
  let server: RunningServer | undefined;
  before(async () => {
    server = await serveMsgpackRpc(calculatorContract, calculator, { port: 0 });
  });
  after(async () => {
    await server?.close();
  });

  it("the survey's client.py prints 7", async (t) => {
    if (!requirePeerScript(t, script('client.py'))) return;
    const run = await runPythonScript(script('client.py'), [String(server!.port)]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout.trim(), '7');
  });

  it('full_client.py: types, divide by zero, 1 MiB echo (sent as old-spec raw), unknown method, pipelined calls', async (t) => {
    if (!requirePeerScript(t, script('full_client.py'))) return;
    const run = await runPythonScript(script('full_client.py'), [String(server!.port)], {
      timeoutMs: 60_000,
    });
    assert.equal(run.code, 0, run.stderr);
    const out = JSON.parse(run.stdout.trim()) as Record<string, unknown>;
    assert.equal(out.add, 7);
    assert.equal(out.add_type, 'int');
    // 6.0 / 3.0 = 2 in JavaScript; the contract says double, so it travels as a msgpack float.
    assert.equal(out.divide, 2);
    assert.equal(out.divide_type, 'float');
    assert.equal(out.divide_by_zero, 'DIVIDE_BY_ZERO: division by zero');
    assert.equal(out.echo_ok, true, '1 MiB of random bytes, which msgpack-python 0.5.6 sends as a raw str');
    assert.equal(out.echo_type, 'bytes');
    assert.equal(out.echo_ascii_ok, true, 'bytes that are valid UTF-8 are bytes for a binary parameter');
    assert.equal(out.unknown, 'NO_SUCH_METHOD: no such method: multiply');
    assert.match(String(out.bad_argument), /^INVALID_ARGUMENT: /);
    assert.deepEqual(
      out.pipelined,
      Array.from({ length: 50 }, (_, i) => 2 * i),
    );
  });
});

describe('msgpackrpc interop: our client -> msgpack-rpc-python servers', () => {
  it("the survey's server.py (fixed): add(2, 5) is 7; its method-not-found string is NO_SUCH_METHOD", async (t) => {
    if (!requirePeerScript(t, script('server.py'))) return;
    const port = await freePort();
    const peer = await startPythonPeer(script('server.py'), port);
    const client = await connectMsgpackRpc(calculatorContract, { port, timeoutMs: 10_000 });
    try {
      assert.equal(await client.add(2, 5), 7);
      await assert.rejects(client.divide(1, 2), (err: unknown) => {
        hasCode('NO_SUCH_METHOD')(err);
        assert.match((err as Error).message, /'divide' method not found/);
        return true;
      });
      const sums = await Promise.all(Array.from({ length: 200 }, (_, i) => client.add(i, i)));
      assert.deepEqual(
        sums,
        Array.from({ length: 200 }, (_, i) => 2 * i),
      );
    } finally {
      await client.close();
      await peer.stop();
    }
  });

  describe('full_server.py', () => {
    let peer: PythonPeer | undefined;
    let port = 0;
    before(async () => {
      port = await freePort();
      try {
        peer = await startPythonPeer(script('full_server.py'), port);
      } catch {
        // each test reports the missing peer via requirePeerScript
      }
    });
    after(async () => {
      await peer?.stop();
    });

    it('add, divide, divide by zero (its plain string) as DivideByZeroError, 1 MiB echo', async (t) => {
      if (!requirePeerScript(t, script('full_server.py'))) return;
      const client = await connectMsgpackRpc(calculatorContract, { port, timeoutMs: 10_000 });
      try {
        assert.equal(await client.add(2, 5), 7);
        assert.equal(await client.divide(1, 4), 0.25);
        await assert.rejects(client.divide(1, 0), (err: unknown) => {
          assert.ok(err instanceof DivideByZeroError, `got ${String(err)}`);
          assert.equal(err.message, 'float division by zero'); // Python's words, sent as str(e)
          return true;
        });
        // The server sends bytes back as old-spec raw str: the client gives the contract bytes.
        const data = bytes(1024 * 1024);
        assert.ok(Buffer.from(await client.echo(data)).equals(Buffer.from(data)));
        const all = Uint8Array.from({ length: 256 }, (_, i) => i);
        assert.deepEqual([...(await client.echo(all))], [...all]);
        const ascii = new Uint8Array(Buffer.from('plain ascii'));
        assert.deepEqual([...(await client.echo(ascii))], [...ascii]);
      } finally {
        await client.close();
      }
    });

    it('msgpack types arrive in Python as int, float, bytes (str too: it unpacks raw), bool; notifications arrive', async (t) => {
      if (!requirePeerScript(t, script('full_server.py'))) return;
      const conn = await openMsgpackRpc({ port, timeoutMs: 10_000 });
      const client = msgpackRpcClient(probeContract, conn);
      try {
        const types = await client.describe_params(7, 3, 0.5, 'héllo', bytes(3), 2n ** 40n, true);
        assert.deepEqual(types, ['int', 'float', 'float', 'bytes', 'bytes', 'int', 'bool']);
        conn.notify('note', ['from ts', 1]);
        const seen = (await client.notes_seen()) as unknown[][];
        assert.equal(seen.length, 1);
        assert.deepEqual(Buffer.from(seen[0]![0] as Uint8Array).toString(), 'from ts');
        assert.equal(seen[0]![1], 1);
      } finally {
        await client.close();
      }
    });

    it('an unknown method is NO_SUCH_METHOD; 500 calls in flight all answer', async (t) => {
      if (!requirePeerScript(t, script('full_server.py'))) return;
      const lacking = defineContract({
        ...calculatorContract,
        methods: { multiply: calculatorContract.methods.add },
      });
      const client = await connectMsgpackRpc(lacking, { port, timeoutMs: 10_000 });
      try {
        await assert.rejects(client.multiply(2, 3), hasCode('NO_SUCH_METHOD'));
      } finally {
        await client.close();
      }
      const calc = await connectMsgpackRpc(calculatorContract, { port, timeoutMs: 20_000 });
      try {
        const sums = await Promise.all(Array.from({ length: 500 }, (_, i) => calc.add(i, 1)));
        assert.deepEqual(
          sums,
          Array.from({ length: 500 }, (_, i) => i + 1),
        );
      } finally {
        await calc.close();
      }
    });
  });
});

/** Neovim's API, as a contract with dynamic values. */
const nvimContract = defineContract({
  name: 'Nvim',
  namespace: 'nvim',
  methods: {
    nvim_eval: { params: [{ name: 'expr', type: 'string' }], result: 'dynamic' },
    nvim_get_api_info: { params: [], result: 'dynamic' },
    nvim_exec_lua: {
      params: [
        { name: 'code', type: 'string' },
        { name: 'args', type: 'dynamic' },
      ],
      result: 'dynamic',
    },
    nvim_no_such_method: { params: [], result: 'dynamic' },
  },
});

describe('msgpackrpc interop: our client -> Neovim (nvim --headless --listen)', () => {
  let nvim: NeovimServer | undefined;
  before(async () => {
    try {
      nvim = await startNeovim(await freePort());
    } catch {
      // each test reports a missing nvim via requireNeovim
    }
  });
  after(async () => {
    await nvim?.stop();
  });

  it('nvim_eval("1+2") is 3; nvim_get_api_info; an unknown method is an RpcError', async (t) => {
    if (!requireNeovim(t)) return;
    assert.ok(nvim !== undefined, 'nvim did not start');
    const client = await connectMsgpackRpc(nvimContract, { port: nvim.port, timeoutMs: 10_000 });
    try {
      assert.equal(await client.nvim_eval('1+2'), 3);
      assert.deepEqual(await client.nvim_eval('[1, "a", {"k": 2.5}]'), [1, 'a', { k: 2.5 }]);
      const info = (await client.nvim_get_api_info()) as [
        number,
        { version: { major: number }; functions: { name: string }[] },
      ];
      assert.equal(typeof info[0], 'number', 'the channel id');
      assert.equal(typeof info[1].version.major, 'number');
      assert.ok(info[1].functions.some((f) => f.name === 'nvim_eval'));
      await assert.rejects(client.nvim_no_such_method(), (err: unknown) => {
        hasCode('NO_SUCH_METHOD')(err);
        assert.match((err as Error).message, /Invalid method/);
        return true;
      });
      await assert.rejects(client.nvim_eval('undefined_variable_x'), (err: unknown) => {
        assert.ok(err instanceof RpcError, String(err));
        assert.match(err.message, /E121/);
        return true;
      });
      // Neovim's [type, message] error for a wrong argument is INVALID_ARGUMENT.
      const evalAny = client.nvim_eval as unknown as (x: unknown) => Promise<unknown>;
      await assert.rejects(evalAny(3), hasCode('INVALID_ARGUMENT'));
      const sums = await Promise.all(Array.from({ length: 200 }, (_, i) => client.nvim_eval(`${i}+${i}`)));
      assert.deepEqual(
        sums,
        Array.from({ length: 200 }, (_, i) => 2 * i),
      );
    } finally {
      await client.close();
    }
  });

  it("rpclab call msgpackrpc nvim_eval '1+2' prints 3; an unknown method exits 1", async (t) => {
    if (!requireNeovim(t)) return;
    assert.ok(nvim !== undefined, 'nvim did not start');
    const cli = (args: string[]) =>
      runToCompletion(
        process.execPath,
        ['--import', 'tsx', path.join(repoRoot, 'src', 'cli', 'main.ts'), ...args],
        {
          cwd: repoRoot,
          timeoutMs: 60_000,
        },
      );
    const port = String(nvim.port);
    const three = await cli(['call', 'msgpackrpc', 'nvim_eval', '1+2', '--port', port]);
    assert.equal(three.code, 0, three.stderr);
    assert.equal(three.stdout.trim(), '3');
    const list = await cli(['call', 'msgpackrpc', 'nvim_eval', 'str:[1, "a"]', '--port', port, '--json']);
    assert.equal(list.code, 0, list.stderr);
    assert.deepEqual(JSON.parse(list.stdout), { result: [1, 'a'] });
    const unknown = await cli(['call', 'msgpackrpc', 'nvim_nothing', '--port', port]);
    assert.equal(unknown.code, 1, unknown.stderr);
    assert.match(unknown.stderr, /NO_SUCH_METHOD.*Invalid method: nvim_nothing/);
  });

  it('Neovim calls a method our client serves, during our request, and notifies it', async (t) => {
    if (!requireNeovim(t)) return;
    assert.ok(nvim !== undefined, 'nvim did not start');
    const notes: unknown[] = [];
    const conn = await openMsgpackRpc({
      port: nvim.port,
      timeoutMs: 10_000,
      handlers: { mul: (a: number, b: number) => a * b },
      onNotification: (method, params) => notes.push([method, params]),
    });
    const client = msgpackRpcClient(nvimContract, conn);
    try {
      const [chan] = (await client.nvim_get_api_info()) as [number];
      // Neovim, inside our nvim_exec_lua request, calls our `mul` on the same channel.
      const product = await client.nvim_exec_lua("return vim.rpcrequest(..., 'mul', 6, 7) + 1", [chan]);
      assert.equal(product, 43);
      await assert.rejects(
        client.nvim_exec_lua("return vim.rpcrequest(..., 'nothing_here')", [chan]),
        (err: unknown) => {
          assert.ok(err instanceof RpcError, String(err));
          assert.match(err.message, /NO_SUCH_METHOD/, 'our error travels through Neovim as its text');
          return true;
        },
      );
      await client.nvim_exec_lua("vim.rpcnotify(..., 'note', 'from neovim', 3)", [chan]);
      assert.equal(await client.nvim_eval('1+1'), 2); // the notification came before this reply
      assert.deepEqual(notes, [['note', ['from neovim', 3]]]);
    } finally {
      await client.close();
    }
  });
});

describe('msgpackrpc interop: Neovim (sockconnect, rpcrequest, rpcnotify) -> our server', () => {
  it('add(2, 5) is 7, divide by zero and unknown methods arrive as errors, 1 MiB echo, rpcnotify reaches our handler, and our server calls back into Neovim', async (t) => {
    if (!requireNeovim(t)) return;
    const notes: unknown[] = [];
    const server = await serveMsgpackRpc(calculatorContract, calculator, {
      port: 0,
      onNotification: (method, params) => notes.push([method, params]),
      // Inside Neovim's request, the server calls nvim_eval on the connection Neovim opened.
      extras: {
        ask_neovim: async (peer: MsgpackRpcConnection, expr: string) =>
          (await peer.call('nvim_eval', [expr])) as number,
      },
    });
    try {
      const report = await runNeovimClient(`127.0.0.1:${server.port}`, { env: { RPCLAB_ASK: '1' } });
      assert.equal(report.connect_error, undefined, String(report.connect_error));
      assert.equal(report.add, 7);
      assert.equal(report.divide, 0.25);
      assert.match(String(report.divide_by_zero), /^ERROR: .*\nDIVIDE_BY_ZERO: division by zero$/s);
      assert.match(String(report.unknown), /^ERROR: .*\nNO_SUCH_METHOD: no such method: multiply$/s);
      assert.equal(report.echo_ok, true);
      assert.equal(report.ask, 42, "our server's nvim_eval('6*7') on Neovim's own channel");
      assert.equal(report.after_note, 2);
      assert.deepEqual(notes, [['note', ['hello from neovim', 42]]]);
    } finally {
      await server.close();
    }
  });
});
