/**
 * Runs the Python peers under peers/python/<protocol>/ from the pinned virtual environment
 * that scripts/setup-peers.sh creates in .venv-peers. Peer scripts take the port as their
 * first argument (defaulting to the survey's port when run by hand).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitForPort } from '../net/free-port.js';
import { type ProcessRun, runToCompletion, stopChild } from './child-process.js';

/** Repository root, found from this file's location (works from src/ under tsx and from dist/src/). */
export const repoRoot: string = (() => {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('cannot find the rpclab repository root');
    dir = parent;
  }
  return dir;
})();

export const peersDir = path.join(repoRoot, 'peers', 'python');
export const peersPython = path.join(repoRoot, '.venv-peers', 'bin', 'python');

export function peersInstalled(): boolean {
  return existsSync(peersPython);
}

/**
 * The interpreter for a peer script: a peer directory with its own requirements.txt (pins that
 * conflict with the shared venv, e.g. msgpack-rpc-python's msgpack < 1.0) has its own venv,
 * .venv-peers/<dir>, made by scripts/setup-peers.sh; every other peer uses the shared one.
 */
export function pythonForScript(script: string): string {
  const dir = path.dirname(path.resolve(script));
  if (path.dirname(dir) === peersDir && existsSync(path.join(dir, 'requirements.txt'))) {
    return path.join(repoRoot, '.venv-peers', path.basename(dir), 'bin', 'python');
  }
  return peersPython;
}

/** Absolute path of a peer script, e.g. peerScript('jsonrpc', 'server.py'). */
export function peerScript(protocol: string, file: string): string {
  return path.join(peersDir, protocol, file);
}

export interface PythonPeer {
  readonly pid: number;
  readonly port: number;
  /** Everything the peer wrote to stderr so far (for failure messages). */
  stderr(): string;
  stop(): Promise<void>;
}

function assertInstalled(python: string = peersPython): void {
  if (!existsSync(python)) {
    throw new Error(`Python peers are not installed (${python} missing): run bash scripts/setup-peers.sh`);
  }
}

/** Starts a peer server script and resolves once it accepts TCP connections on `port`. */
export async function startPythonPeer(
  script: string,
  port: number,
  options: { args?: readonly string[]; readyTimeoutMs?: number; cwd?: string } = {},
): Promise<PythonPeer> {
  const python = pythonForScript(script);
  assertInstalled(python);
  const child = spawn(python, ['-u', script, String(port), ...(options.args ?? [])], {
    cwd: options.cwd ?? path.dirname(script),
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' },
  });
  let err = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    err = (err + chunk.toString()).slice(-20_000);
  });
  child.stdout?.resume();
  const exited = new Promise<never>((_, reject) => {
    child.once('exit', (code, signal) =>
      reject(
        new Error(`peer ${path.basename(script)} exited early (code ${code}, signal ${signal}):\n${err}`),
      ),
    );
  });
  exited.catch(() => undefined);
  try {
    await Promise.race([waitForPort(port, '127.0.0.1', options.readyTimeoutMs ?? 20_000), exited]);
  } catch (e) {
    await stopChild(child);
    throw e instanceof Error && e.message.includes('exited early') ? e : new Error(`${String(e)}\n${err}`);
  }
  return {
    pid: child.pid!,
    port,
    stderr: () => err,
    stop: () => stopChild(child),
  };
}

export type PythonRun = ProcessRun;

/** Runs a peer client script to completion (killed after timeoutMs) and returns its output. */
export function runPythonScript(
  script: string,
  args: readonly string[],
  options: { timeoutMs?: number; cwd?: string } = {},
): Promise<PythonRun> {
  const python = pythonForScript(script);
  assertInstalled(python);
  return runToCompletion(python, ['-u', script, ...args], {
    cwd: options.cwd ?? path.dirname(script),
    env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' },
    timeoutMs: options.timeoutMs ?? 30_000,
  });
}
