/**
 * Runs examples/zeromq/server.ts and client.ts as child processes: the client prints 7. The
 * example client also gets 7 from the survey's Python server, and the survey's Python client
 * gets {'result': 7} from the example server.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { it } from 'node:test';
import { freePort, waitForPort } from '../../src/net/free-port.js';
import { repoRoot } from '../../src/peers/python.js';
import { peerScript, requirePeers, runPythonScript, startPythonPeer } from '../support/peers.js';

const example = (file: string) => path.join(repoRoot, 'examples', 'zeromq', file);

/** node with tsx's loader, so the child is the example itself (signals reach it directly). */
function spawnExample(file: string, args: string[]): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', example(file), ...args], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

function run(file: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawnExample(file, args);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr!.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => child.kill('SIGKILL'), 3_000);
    child.once('exit', () => {
      clearTimeout(force);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

it('examples/zeromq: the client prints 7 from the server (and the survey client gets its reply)', async (t) => {
  const port = await freePort();
  const server = spawnExample('server.ts', [String(port)]);
  server.stdout!.resume();
  server.stderr!.resume();
  try {
    await waitForPort(port, '127.0.0.1', 30_000);
    const client = await run('client.ts', [String(port)]);
    assert.equal(client.code, 0, client.stderr);
    assert.equal(client.stdout.trim(), '7');
    if (!requirePeers(t)) return;
    const survey = await runPythonScript(peerScript('zeromq', 'client.py'), [String(port)]);
    assert.equal(survey.code, 0, survey.stderr);
    assert.equal(survey.stdout.trim(), "{'result': 7}");
  } finally {
    await stop(server);
  }
});

it('examples/zeromq: the pipelined client checks all its results', async () => {
  const port = await freePort();
  const server = spawnExample('server.ts', [String(port)]);
  server.stdout!.resume();
  server.stderr!.resume();
  try {
    await waitForPort(port, '127.0.0.1', 30_000);
    const client = await run('pipelined-client.ts', [String(port), '2000', '100']);
    assert.equal(client.code, 0, client.stderr);
    assert.match(client.stdout, /all 4000 results correct/);
  } finally {
    await stop(server);
  }
});

it("examples/zeromq: the client prints 7 from the survey's Python server", async (t) => {
  if (!requirePeers(t)) return;
  const port = await freePort();
  const peer = await startPythonPeer(peerScript('zeromq', 'server.py'), port);
  try {
    const client = await run('client.ts', [String(port)]);
    assert.equal(client.code, 0, client.stderr);
    assert.equal(client.stdout.trim(), '7');
  } finally {
    await peer.stop();
  }
});
