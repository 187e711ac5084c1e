/** Runs examples/rpyc/server.ts and client.ts as child processes: the client prints 7 (and 42 via a callback). */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { it } from 'node:test';
import { freePort, waitForPort } from '../../src/net/free-port.js';
import { repoRoot } from '../../src/peers/python.js';

const tsx = path.join(repoRoot, 'node_modules', '.bin', 'tsx');
const example = (file: string) => path.join(repoRoot, 'examples', 'rpyc', file);

function run(file: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(tsx, [example(file), ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
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

it('examples/rpyc: the client prints 7 from the server, and 42 through a callback', async () => {
  const port = await freePort();
  const server = spawn(tsx, [example('server.ts'), String(port)], { cwd: repoRoot, stdio: 'ignore' });
  try {
    await waitForPort(port, '127.0.0.1', 30_000);
    const client = await run('client.ts', [String(port)]);
    assert.equal(client.code, 0, client.stderr);
    assert.equal(client.stdout.trim(), '7');
    const withCallback = await run('client.ts', [String(port), '--callback']);
    assert.equal(withCallback.code, 0, withCallback.stderr);
    assert.deepEqual(withCallback.stdout.trim().split('\n'), ['7', '42']);
  } finally {
    await stop(server);
  }
});
