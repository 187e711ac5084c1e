/**
 * rpclab servers behind HAProxy (Debian's, from peers/python/haproxy/apt.txt), with the
 * configurations of docs/deploy.md as written (only the ports change): two `rpclab serve`
 * processes on 127.0.0.2 and 127.0.0.3, calls through HAProxy, one server killed mid-run.
 * Every call gets its answer or a clean TRANSPORT error, and the clients reconnect and carry
 * on; with retryIdempotent every call is answered. Mandatory under CI=true.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it, type TestContext } from 'node:test';
import { calculatorContract, RpcError } from '../../src/contract/index.js';
import { freePort, waitForPort } from '../../src/net/free-port.js';
import { connectReconnecting } from '../../src/net/reconnecting.js';
import { repoRoot } from '../../src/peers/python.js';
import { protocols } from '../../src/protocols/index.js';
import type { Protocol } from '../../src/protocols/types.js';
import { type ServeProcess, startServe } from '../support/serve-process.js';

function findHaproxy(): string | undefined {
  for (const dir of [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/usr/local/sbin']) {
    const file = path.join(dir, 'haproxy');
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return undefined;
}

function requireHaproxy(t: TestContext): string | undefined {
  const found = findHaproxy();
  if (found !== undefined) return found;
  const why =
    'haproxy missing; run: bash scripts/setup-peers.sh (installs it from peers/python/haproxy/apt.txt)';
  if (process.env.CI === 'true') throw new Error(why);
  t.skip(why);
  return undefined;
}

/** The ```haproxy blocks of docs/deploy.md: TCP mode first, HTTP mode second. */
function deployConfigs(): { tcp: string; http: string } {
  const doc = readFileSync(path.join(repoRoot, 'docs', 'deploy.md'), 'utf8');
  const blocks = [...doc.matchAll(/```haproxy\n([\s\S]*?)```/g)].map((m) => m[1]!);
  assert.equal(blocks.length, 2, 'docs/deploy.md has a TCP and an HTTP configuration');
  assert.match(blocks[0]!, /mode tcp/);
  assert.match(blocks[1]!, /mode http/);
  return { tcp: blocks[0]!, http: blocks[1]! };
}

function withPorts(config: string, frontend: number, backend: number): string {
  return config
    .replace(/bind 127\.0\.0\.1:\d+/, `bind 127.0.0.1:${frontend}`)
    .replace(/(server s\d 127\.0\.0\.\d):\d+/g, `$1:${backend}`);
}

/** HAProxy in the foreground, in its own process group (killed with everything it started). */
async function startHaproxy(
  binary: string,
  config: string,
  port: number,
): Promise<{ stop(): Promise<void> }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rpclab-haproxy-'));
  const file = path.join(dir, 'haproxy.cfg');
  writeFileSync(file, config);
  const child: ChildProcess = spawn(binary, ['-db', '-f', file], {
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr!.on('data', (c: Buffer) => {
    err += c.toString();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // gone already
    }
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await Promise.race([
      waitForPort(port, '127.0.0.1', 10_000),
      exited.then(() => {
        throw new Error(`haproxy exited: ${err}`);
      }),
    ]);
  } catch (e) {
    await stop();
    throw e;
  }
  return { stop };
}

interface RunResult {
  readonly answered: number;
  readonly answeredAfterKill: number;
  readonly failures: readonly unknown[];
}

/**
 * 6 clients, 4 lanes each, 60 adds per lane, through HAProxy; `kill` runs once 100 calls are
 * answered. Every call has a timeout, so the run is bounded.
 */
async function runThrough(
  protocol: Protocol,
  port: number,
  retryIdempotent: boolean,
  kill: () => Promise<void>,
): Promise<RunResult> {
  const variant = protocol.traits.pipelinedVariant ?? protocol.variants[0]!;
  const clients = await Promise.all(
    Array.from({ length: 6 }, () =>
      connectReconnecting(protocol, calculatorContract, {
        port,
        variant,
        timeoutMs: 10_000,
        retryIdempotent,
      }),
    ),
  );
  let answered = 0;
  let answeredAfterKill = 0;
  let killed = false;
  let killing: Promise<void> | undefined;
  const failures: unknown[] = [];
  const lanes = clients.flatMap((c, k) =>
    Array.from({ length: 4 }, async (_, lane) => {
      for (let i = 0; i < 60; i++) {
        try {
          const a = k * 1000 + lane;
          assert.equal(await c.add(a, i), a + i);
          answered++;
          if (killed) answeredAfterKill++;
          if (answered === 100)
            killing = kill().then(() => {
              killed = true;
            });
        } catch (err) {
          failures.push(err);
        }
      }
    }),
  );
  await Promise.all(lanes);
  await killing;
  for (const c of clients) await c.close();
  return { answered, answeredAfterKill, failures };
}

describe('rpclab servers behind HAProxy', () => {
  const configs = deployConfigs();
  const behind = protocols.filter((p) => p.broker === undefined && /^(TCP|HTTP)/.test(p.traits.transport));
  const cleanup: Array<() => Promise<void>> = [];
  after(async () => {
    for (const c of cleanup.splice(0)) await c();
  });

  for (const protocol of behind) {
    for (const retryIdempotent of [false, true]) {
      const mode = protocol.traits.transport.startsWith('HTTP') ? 'http' : 'tcp';
      it(`${protocol.name} (${mode} mode${retryIdempotent ? ', retryIdempotent' : ''}): a server killed mid-run`, async (t) => {
        const binary = requireHaproxy(t);
        if (binary === undefined) return;
        const backendPort = await freePort();
        const frontendPort = await freePort();
        const servers: ServeProcess[] = [];
        let proxy: { stop(): Promise<void> } | undefined;
        const stopAll = async () => {
          await proxy?.stop();
          for (const s of servers) await s.kill();
        };
        cleanup.push(stopAll);
        try {
          for (const host of ['127.0.0.2', '127.0.0.3'])
            servers.push(await startServe([protocol.name, '--host', host, '--port', String(backendPort)]));
          proxy = await startHaproxy(
            binary,
            withPorts(configs[mode], frontendPort, backendPort),
            frontendPort,
          );
          const result = await runThrough(protocol, frontendPort, retryIdempotent, () => servers[0]!.kill());
          for (const err of result.failures)
            assert.ok(
              err instanceof RpcError && err.code === 'TRANSPORT',
              `an unclean failure: ${String(err)}`,
            );
          assert.equal(result.answered + result.failures.length, 6 * 4 * 60, 'every call settled');
          assert.ok(result.answeredAfterKill > 0, 'clients carried on after the kill');
          if (retryIdempotent)
            assert.equal(result.failures.length, 0, 'with retries, every call is answered');
          t.diagnostic(
            `${result.answered} answered (${result.answeredAfterKill} after the kill), ${result.failures.length} failed with TRANSPORT`,
          );
        } finally {
          await stopAll();
        }
      });
    }
  }
});
