/**
 * Runs the examples under examples/<protocol>/ as a person would, in child processes. They run
 * as `node --import tsx <file>`, not through the tsx wrapper, so signals reach the example itself.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { waitForPort } from '../../src/net/free-port.js';
import { type ProcessRun, runToCompletion, stopChild } from '../../src/peers/child-process.js';
import { repoRoot } from '../../src/peers/python.js';

export function examplePath(protocol: string, file: string): string {
  return path.join(repoRoot, 'examples', protocol, file);
}

/** Runs an example (a client) to completion. */
export function runExample(protocol: string, file: string, args: readonly string[]): Promise<ProcessRun> {
  return runToCompletion(process.execPath, ['--import', 'tsx', examplePath(protocol, file), ...args], {
    cwd: repoRoot,
    timeoutMs: 30_000,
  });
}

export interface RunningExample {
  readonly child: ChildProcess;
  stop(): Promise<void>;
}

/** Starts an example server on `port` and resolves once it accepts connections. */
export async function startExampleServer(
  protocol: string,
  file: string,
  port: number,
): Promise<RunningExample> {
  const child = spawn(process.execPath, ['--import', 'tsx', examplePath(protocol, file), String(port)], {
    cwd: repoRoot,
    stdio: 'ignore',
  });
  const running = { child, stop: () => stopChild(child) };
  try {
    await waitForPort(port, '127.0.0.1', 30_000);
  } catch (err) {
    await running.stop();
    throw err;
  }
  return running;
}
