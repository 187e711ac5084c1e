/**
 * Runs RPyC peer scripts under a chosen interpreter: the pinned rpyc 6 venv (.venv-peers) or the
 * rpyc 5 one inside it (.venv-peers/rpyc5, also built by scripts/setup-peers.sh).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { waitForPort } from '../../src/net/free-port.js';
import { peerScript, peersPython, repoRoot } from '../support/peers.js';

export const rpyc5Python = path.join(repoRoot, '.venv-peers', 'rpyc5', 'bin', 'python');

export const pythonFor = (version: 5 | 6): string => (version === 5 ? rpyc5Python : peersPython);

/** Like requirePeers, for one rpyc version's venv: fails under CI=true, skips locally. */
export function requireRpyc(t: TestContext, version: 5 | 6): boolean {
  if (existsSync(pythonFor(version))) return true;
  const why = `rpyc ${version} peer venv missing (${pythonFor(version)}); run: bash scripts/setup-peers.sh`;
  if (process.env.CI === 'true') throw new Error(why);
  t.skip(why);
  return false;
}

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs peers/python/rpyc/<file> to completion (killed after timeoutMs). */
export function runRpycScript(
  version: 5 | 6,
  file: string,
  args: readonly string[],
  timeoutMs = 60_000,
): Promise<Run> {
  const script = peerScript('rpyc', file);
  return new Promise((resolve, reject) => {
    const child = spawn(pythonFor(version), ['-u', script, ...args], {
      cwd: path.dirname(script),
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export interface RunningPeer {
  readonly port: number;
  stderr(): string;
  stop(): Promise<void>;
}

/** Starts a server script (port as first argument) and resolves once it accepts connections. */
export async function startRpycServer(version: 5 | 6, file: string, port: number): Promise<RunningPeer> {
  const script = peerScript('rpyc', file);
  const child: ChildProcess = spawn(pythonFor(version), ['-u', script, String(port)], {
    cwd: path.dirname(script),
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' },
  });
  let err = '';
  child.stderr?.on('data', (c: Buffer) => {
    err = (err + c.toString()).slice(-20_000);
  });
  const stop = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      const force = setTimeout(() => child.kill('SIGKILL'), 3_000);
      child.once('exit', () => {
        clearTimeout(force);
        resolve();
      });
      child.kill('SIGTERM');
    });
  try {
    await waitForPort(port, '127.0.0.1', 20_000);
  } catch (e) {
    await stop();
    throw new Error(`${String(e)}\n${err}`);
  }
  return { port, stderr: () => err, stop };
}
