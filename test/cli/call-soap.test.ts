/**
 * `rpclab call soap` end to end, the CLI as a child process: against the survey's Spyne service
 * without a schema (add 2 5 prints 7), and against a Spyne service unlike the Calculator
 * (peers/python/soap/greeter_server.py) with its WSDL as a URL or a saved file, every argument
 * typed by the WSDL's XSD types.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it, type TestContext } from 'node:test';
import { freePort } from '../../src/net/free-port.js';
import { type ProcessRun, runToCompletion } from '../../src/peers/child-process.js';
import { type PythonPeer, peerScript, repoRoot, startPythonPeer } from '../../src/peers/python.js';
import { request } from '../soap/raw-http.js';
import { requirePeerScript } from '../support/peers.js';

const main = path.join(repoRoot, 'src', 'cli', 'main.ts');

function rpclab(args: readonly string[]): Promise<ProcessRun> {
  return runToCompletion(process.execPath, ['--import', 'tsx', main, ...args], {
    cwd: repoRoot,
    timeoutMs: 60_000,
  });
}

const peers = new Map<string, Promise<PythonPeer>>();
const dir = mkdtempSync(path.join(os.tmpdir(), 'rpclab-soap-cli-'));
after(async () => {
  for (const p of peers.values()) await (await p.catch(() => undefined))?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function peer(t: TestContext, file: string): Promise<PythonPeer | undefined> {
  if (!requirePeerScript(t, peerScript('soap', file))) return undefined;
  let started = peers.get(file);
  if (started === undefined) {
    started = freePort().then((port) => startPythonPeer(peerScript('soap', file), port));
    peers.set(file, started);
  }
  return started;
}

function ok(run: ProcessRun): string {
  assert.equal(run.code, 0, run.stderr);
  return run.stdout.trim();
}

describe('rpclab call soap', () => {
  it("add 2 5 against the survey's Spyne service prints 7", async (t) => {
    const p = await peer(t, 'server.py');
    if (!p) return;
    assert.equal(ok(await rpclab(['call', 'soap', 'add', '2', '5', '--port', String(p.port)])), '7');
    assert.equal(
      ok(await rpclab(['call', 'soap', 'add', '2', '5', '--port', String(p.port), '--variant', 'soap11'])),
      '7',
    );
  });

  it('--schema http://host:port/?wsdl lists the operations with their types', async (t) => {
    const p = await peer(t, 'server.py');
    if (!p) return;
    const run = await rpclab(['call', 'soap', '--schema', `http://127.0.0.1:${p.port}/?wsdl`]);
    assert.equal(run.code, 2, run.stdout + run.stderr);
    assert.match(run.stderr, /service Calculator:\n {2}add <a:i64> <b:i64>/);
  });

  it("a foreign service's operations, typed by its WSDL, from the URL and from a saved file", async (t) => {
    const p = await peer(t, 'greeter_server.py');
    if (!p) return;
    const url = `http://127.0.0.1:${p.port}/?wsdl`;
    const wsdl = await request(p.port, { method: 'GET', path: '/?wsdl' });
    const file = path.join(dir, 'greeter.wsdl');
    writeFileSync(file, wsdl.body);
    for (const schema of [url, file]) {
      const call = (...words: string[]): Promise<ProcessRun> =>
        rpclab(['call', 'soap', ...words, '--schema', schema, '--port', String(p.port)]);
      assert.equal(ok(await call('greet', '123', '2')), 'hello 123, hello 123', schema);
      assert.equal(ok(await call('negate', 'true')), 'false');
      assert.equal(ok(await call('twice', '4611686018427387903')), '9223372036854775806');
      assert.equal(ok(await call('length', 'hex:00ff10')), '3');
      const bad = await call('greet', 'x', 'many');
      assert.equal(bad.code, 2, bad.stdout + bad.stderr);
      const listing = await rpclab(['call', 'soap', '--schema', schema]);
      assert.match(listing.stderr, /greet <name:string> <times:i32>/);
    }
  });

  it('a missing WSDL file or an unreachable URL is a usage error', async () => {
    const missing = await rpclab(['call', 'soap', 'add', '1', '2', '--schema', path.join(dir, 'none.wsdl')]);
    assert.equal(missing.code, 2, missing.stderr);
    assert.match(missing.stderr, /cannot read WSDL/);
    const port = await freePort();
    const unreachable = await rpclab(['call', 'soap', '--schema', `http://127.0.0.1:${port}/?wsdl`]);
    assert.equal(unreachable.code, 2, unreachable.stderr);
    assert.match(unreachable.stderr, /connection refused/);
  });
});
