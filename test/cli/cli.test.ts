/** The rpclab command end to end, as a person runs it (a child process per command). */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { freePort } from '../../src/net/free-port.js';
import { type ProcessRun, runToCompletion } from '../../src/peers/child-process.js';
import { repoRoot } from '../../src/peers/python.js';
import { protocols } from '../../src/protocols/index.js';
import { requirePeers } from '../support/peers.js';

const main = path.join(repoRoot, 'src', 'cli', 'main.ts');

function rpclab(args: readonly string[], timeoutMs = 60_000): Promise<ProcessRun> {
  return runToCompletion(process.execPath, ['--import', 'tsx', main, ...args], { cwd: repoRoot, timeoutMs });
}

/** Starts `rpclab serve` and resolves with its port once it prints its JSON address line. */
function serve(protocol: string): Promise<{ port: number; child: ChildProcess }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', main, 'serve', protocol, '--port', '0', '--json'],
      {
        cwd: repoRoot,
      },
    );
    let out = '';
    let err = '';
    child.stderr.on('data', (c: Buffer) => {
      err += c.toString();
    });
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      const line = out.split('\n')[0];
      if (out.includes('\n') && line) resolve({ port: (JSON.parse(line) as { port: number }).port, child });
    });
    child.once('exit', (code) => reject(new Error(`serve exited with ${code}: ${err}`)));
  });
}

function stop(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve(child.exitCode);
    child.removeAllListeners('exit');
    child.once('exit', (code) => resolve(code));
    child.kill('SIGTERM');
  });
}

describe('rpclab CLI', () => {
  it('prints help and lists every protocol', async () => {
    const run = await rpclab(['--help']);
    assert.equal(run.code, 0);
    for (const c of ['tour', 'serve', 'call', 'interop']) assert.match(run.stdout, new RegExp(`\\b${c}\\b`));
    for (const p of protocols) assert.match(run.stdout, new RegExp(`\\b${p.name}\\b`));
  });

  it('rejects an unknown command, protocol or option with exit code 2', async () => {
    assert.equal((await rpclab(['frobnicate'])).code, 2);
    const unknown = await rpclab(['call', 'carrier-pigeon', 'add', '2', '5']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown protocol "carrier-pigeon"/);
    assert.equal((await rpclab(['tour', '--no-such-flag'])).code, 2);
  });

  for (const protocol of protocols) {
    describe(protocol.name, () => {
      let server: { port: number; child: ChildProcess } | undefined;
      after(async () => {
        if (server) await stop(server.child);
      });

      it('serve + call add/divide/echo', async () => {
        server = await serve(protocol.name);
        const port = String(server.port);
        const add = await rpclab(['call', protocol.name, 'add', '2', '5', '--port', port]);
        assert.equal(add.code, 0, add.stderr);
        assert.equal(add.stdout.trim(), '7');

        const div = await rpclab(['call', protocol.name, 'divide', '1', '0', '--port', port, '--json']);
        assert.equal(div.code, 1, 'a remote error exits with 1');
        assert.equal((JSON.parse(div.stdout) as { error: { code: string } }).error.code, 'DIVIDE_BY_ZERO');

        const echo = await rpclab(['call', protocol.name, 'echo', 'hello', '--port', port]);
        assert.equal(echo.stdout.trim(), 'hello');

        const bad = await rpclab(['call', protocol.name, 'add', '2', 'x', '--port', port]);
        assert.equal(bad.code, 2);
        assert.match(bad.stderr, /must be an integer/);
      });

      it('reports an unreachable server with exit code 3', async () => {
        const port = String(await freePort());
        const run = await rpclab([
          'call',
          protocol.name,
          'add',
          '2',
          '5',
          '--port',
          port,
          '--timeout',
          '1500',
        ]);
        assert.equal(run.code, 3, run.stderr);
        assert.match(run.stderr, /(TRANSPORT|TIMEOUT)/);
        assert.match(run.stderr, new RegExp(`127\\.0\\.0\\.1:${port}`));
      });

      it('serve stops cleanly on SIGTERM', async () => {
        assert.ok(server, 'server started by the first test');
        assert.equal(await stop(server.child), 0);
        server = undefined;
      });
    });
  }

  it("interop: our client and server against the survey's Python code, both directions", async (t) => {
    if (!requirePeers(t)) return;
    const run = await rpclab(
      ['interop', '--protocols', protocols.map((p) => p.name).join(','), '--json'],
      240_000,
    );
    const checks = JSON.parse(run.stdout) as {
      protocol: string;
      direction: string;
      ok: boolean;
      detail: string;
    }[];
    for (const p of protocols) {
      const mine = checks.filter((c) => c.protocol === p.name);
      assert.deepEqual(
        mine
          .map((c) => c.direction)
          .filter((d) => d.includes('python'))
          .sort(),
        // SOAP adds a SOAP 1.2 check each way (zeep's full client, Spyne's Soap12 service).
        // Cap'n Proto adds one ts→python check of pipelining and a callback on pycapnp's server.
        p.name === 'soap'
          ? ['python→ts', 'python→ts', 'python→ts', 'ts→python', 'ts→python', 'ts→python']
          : p.name === 'capnp'
            ? ['python→ts', 'python→ts', 'ts→python', 'ts→python', 'ts→python']
            : ['python→ts', 'python→ts', 'ts→python', 'ts→python'],
        `${p.name}: survey and full peers, both directions`,
      );
      for (const c of mine) assert.ok(c.ok, `${p.name} ${c.direction}: ${c.detail}`);
    }
    // msgpack-rpc's second peer, Neovim, both directions.
    assert.deepEqual(
      checks
        .filter((c) => c.protocol === 'msgpackrpc' && c.direction.includes('neovim'))
        .map((c) => c.direction)
        .sort(),
      ['neovim→ts', 'ts→neovim'],
    );
    assert.equal(run.code, 0, run.stderr);
  });

  it('tour: every protocol answers add = 7, divide-by-zero as the typed error, echo ok', async () => {
    const run = await rpclab(['tour', '--json', '--calls', '20'], 240_000);
    assert.equal(run.code, 0, run.stderr + run.stdout);
    const rows = JSON.parse(run.stdout) as {
      protocol: string;
      add: number;
      divideByZero: { code: string };
      echoOk: boolean;
      requestBytes: number;
    }[];
    assert.deepEqual(
      rows.map((r) => r.protocol),
      protocols.map((p) => p.name),
    );
    for (const row of rows) {
      assert.equal(row.add, 7);
      assert.equal(row.divideByZero.code, 'DIVIDE_BY_ZERO');
      assert.equal(row.echoOk, true);
      assert.ok(row.requestBytes > 0, `${row.protocol}: bytes on the wire were counted`);
    }
  });
});
