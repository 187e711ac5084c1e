/**
 * Starts a row's server in its own process: our servers through src/bench/server-process.ts,
 * the survey's servers through the Python peer runner. Every child is tracked and killed when
 * the bench exits, however it exits.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../net/free-port.js';
import { peerScript, startPythonPeer } from '../peers/python.js';
import { compiledSources } from './compiled.js';

export interface ServerHandle {
  readonly pid: number;
  readonly port: number;
  stop(): Promise<void>;
}

const children = new Set<number>();
let exitHookInstalled = false;

function track(pid: number): void {
  children.add(pid);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // 'exit' handlers must be synchronous: a last SIGKILL for anything still running.
  process.on('exit', () => {
    for (const p of children) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });
}

/** Stops every server still running (for signal handlers). */
export function killAllServers(): void {
  for (const p of children) {
    try {
      process.kill(p, 'SIGTERM');
    } catch {
      // already gone
    }
  }
}

/**
 * The server process's entry: compiled JavaScript next to this module (dist/), or, when the bench
 * runs from the TypeScript sources, a transpiled copy of them (compiled.ts says why not tsx).
 */
async function entry(): Promise<{ file: string; execArgv: string[] }> {
  const self = fileURLToPath(import.meta.url);
  if (self.endsWith('.ts')) {
    const root = await compiledSources();
    return { file: path.join(root, 'src', 'bench', 'server-process.js'), execArgv: [] };
  }
  return { file: self.replace(/server-runner\.js$/, 'server-process.js'), execArgv: [] };
}

export interface NodeServerOptions {
  variant?: string;
  /** Write a V8 CPU profile (node --cpu-prof) into this directory when the server stops. */
  cpuProfileDir?: string;
  readyTimeoutMs?: number;
}

export async function startNodeServer(
  protocol: string,
  options: NodeServerOptions = {},
): Promise<ServerHandle> {
  const { file, execArgv } = await entry();
  const args = [...execArgv];
  if (options.cpuProfileDir) args.push('--cpu-prof', `--cpu-prof-dir=${options.cpuProfileDir}`);
  args.push(file, protocol);
  if (options.variant) args.push(options.variant);
  const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  if (child.pid !== undefined) track(child.pid);
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => {
    stderr = (stderr + c.toString()).slice(-8_000);
  });
  return new Promise<ServerHandle>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(
          `${protocol} server did not start within ${options.readyTimeoutMs ?? 30_000} ms\n${stderr}`,
        ),
      );
    }, options.readyTimeoutMs ?? 30_000);
    child.once('exit', (code, signal) => {
      if (child.pid !== undefined) children.delete(child.pid);
      clearTimeout(timer);
      reject(new Error(`${protocol} server exited (code ${code}, signal ${signal})\n${stderr}`));
    });
    child.stdout?.on('data', (c: Buffer) => {
      out += c.toString();
      const line = out.split('\n')[0];
      if (!out.includes('\n') || line === undefined) return;
      clearTimeout(timer);
      const { port } = JSON.parse(line) as { port: number };
      child.stdout?.removeAllListeners('data');
      child.stdout?.resume();
      resolve({ pid: child.pid!, port, stop: () => stopChild(child) });
    });
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => child.kill('SIGKILL'), 5_000);
    child.once('exit', () => {
      clearTimeout(force);
      if (child.pid !== undefined) children.delete(child.pid);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** The Python peer convention: peers/python/<protocol>/full_server.py <port>. */
export function pythonServerScript(protocol: string): string | undefined {
  const script = peerScript(protocol, 'full_server.py');
  return existsSync(script) ? script : undefined;
}

export async function startPythonServer(protocol: string): Promise<ServerHandle> {
  const script = pythonServerScript(protocol);
  if (script === undefined) throw new Error(`no Python peer server for ${protocol}`);
  const peer = await startPythonPeer(script, await freePort());
  track(peer.pid);
  return {
    pid: peer.pid,
    port: peer.port,
    stop: async () => {
      await peer.stop();
      children.delete(peer.pid);
    },
  };
}
