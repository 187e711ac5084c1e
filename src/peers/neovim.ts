/**
 * Neovim as a msgpack-rpc peer that nobody here wrote (Debian's `neovim` package, installed by
 * scripts/setup-peers.sh from peers/python/msgpackrpc/apt.txt): as a server (`nvim --headless
 * --listen host:port`), and as a client driven by a Lua script that connects to our server.
 * Neovim runs with no user configuration, no shada file and no swap files.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { waitForPort } from '../net/free-port.js';
import { runToCompletion, stopChild } from './child-process.js';
import { peersDir } from './python.js';

const CLEAN = ['--headless', '-u', 'NONE', '-i', 'NONE', '-n', '--clean'];

/** The nvim on PATH, or undefined. */
export function neovimPath(): string | undefined {
  const found = spawnSync('sh', ['-c', 'command -v nvim'], { encoding: 'utf8' });
  const where = found.stdout.trim();
  return found.status === 0 && where !== '' ? where : undefined;
}

export interface NeovimServer {
  readonly pid: number;
  readonly port: number;
  stderr(): string;
  stop(): Promise<void>;
}

/** Starts `nvim --headless --listen 127.0.0.1:port` and resolves once it accepts connections. */
export async function startNeovim(port: number): Promise<NeovimServer> {
  const nvim = neovimPath();
  if (nvim === undefined)
    throw new Error('nvim is not installed (apt-get install neovim; see peers/python/msgpackrpc/apt.txt)');
  const child = spawn(nvim, [...CLEAN, '--listen', `127.0.0.1:${port}`], {
    stdio: ['ignore', 'pipe', 'pipe'],
    cwd: os.tmpdir(),
  });
  let err = '';
  child.stderr?.on('data', (c: Buffer) => {
    err = (err + c.toString()).slice(-20_000);
  });
  child.stdout?.resume();
  const exited = new Promise<never>((_, reject) => {
    child.once('exit', (code, signal) =>
      reject(new Error(`nvim exited early (code ${code}, signal ${signal}): ${err}`)),
    );
  });
  exited.catch(() => undefined);
  try {
    await Promise.race([waitForPort(port, '127.0.0.1', 20_000), exited]);
  } catch (e) {
    await stopChild(child);
    throw e;
  }
  return { pid: child.pid!, port, stderr: () => err, stop: () => stopChild(child) };
}

/** peers/python/msgpackrpc/neovim_client.lua: Neovim connects to our server and reports what it got. */
export const NEOVIM_CLIENT_SCRIPT = path.join(peersDir, 'msgpackrpc', 'neovim_client.lua');

/**
 * Runs a Lua script in a headless Neovim with RPCLAB_ADDR set to host:port; the script writes
 * one JSON report to RPCLAB_OUT and quits. Returns the parsed report (Neovim is killed after
 * timeoutMs).
 */
export async function runNeovimClient(
  address: string,
  options: { script?: string; timeoutMs?: number; env?: Record<string, string> } = {},
): Promise<Record<string, unknown>> {
  const nvim = neovimPath();
  if (nvim === undefined)
    throw new Error('nvim is not installed (apt-get install neovim; see peers/python/msgpackrpc/apt.txt)');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rpclab-nvim-'));
  const out = path.join(dir, 'report.json');
  try {
    const run = await runToCompletion(
      nvim,
      [...CLEAN, '-c', `luafile ${options.script ?? NEOVIM_CLIENT_SCRIPT}`],
      {
        cwd: dir,
        env: { ...process.env, ...options.env, RPCLAB_ADDR: address, RPCLAB_OUT: out },
        timeoutMs: options.timeoutMs ?? 30_000,
      },
    );
    let text: string;
    try {
      text = readFileSync(out, 'utf8');
    } catch {
      throw new Error(`nvim wrote no report (exit ${run.code}): ${run.stderr.trim() || run.stdout.trim()}`);
    }
    return JSON.parse(text) as Record<string, unknown>;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
