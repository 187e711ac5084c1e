/**
 * `rpclab serve` in a child process of its own process group, so that a test can signal the
 * server (or its primary) by pid and, whatever happens, kill it together with every worker it
 * forked by killing the group.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { repoRoot } from '../../src/peers/python.js';

const main = path.join(repoRoot, 'src', 'cli', 'main.ts');

export interface ServeProcess {
  readonly child: ChildProcess;
  readonly port: number;
  /** The JSON line it printed once listening (its `workers` pids, with --workers). */
  readonly info: { readonly port: number; readonly workers?: readonly number[] };
  /** Everything the process wrote to stderr so far (its log lines). */
  readonly stderr: () => string;
  /** Resolves with the first match of `pattern` in stderr (from `from` on), within timeoutMs. */
  waitForLog(pattern: RegExp, from?: number, timeoutMs?: number): Promise<RegExpExecArray>;
  /** Resolves with the exit code (null when killed by a signal). */
  readonly exited: Promise<number | null>;
  /** Kills the whole process group (server, workers) by pid; safe to call twice. */
  kill(): Promise<void>;
}

export function startServe(args: readonly string[], timeoutMs = 60_000): Promise<ServeProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', main, 'serve', ...args, '--json'], {
    cwd: repoRoot,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr!.on('data', (c: Buffer) => {
    err += c.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const kill = async () => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // the group is gone already
    }
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
  };
  const waitForLog = async (pattern: RegExp, from = 0, waitMs = 30_000) => {
    const deadline = Date.now() + waitMs;
    for (;;) {
      const match = pattern.exec(err.slice(from));
      if (match) return match;
      if (Date.now() > deadline) throw new Error(`no log line like ${pattern} in: ${err}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void kill();
      reject(new Error(`rpclab serve ${args.join(' ')} did not start: ${err}`));
    }, timeoutMs);
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const nl = out.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      const info = JSON.parse(out.slice(0, nl)) as ServeProcess['info'];
      resolve({ child, port: info.port, info, stderr: () => err, waitForLog, exited, kill });
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`rpclab serve exited with ${code} before listening: ${err}`));
    });
  });
}
