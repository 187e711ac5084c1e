/**
 * The bench's server runner: serves one registered protocol (or reference row) with the reference
 * Calculator on a free loopback port, in its own process so its CPU time and memory are its own.
 *
 *   node --import tsx src/bench/server-process.ts <protocol> [variant]
 *
 * Prints one JSON line {"port": N, "pid": P} on stdout once listening. Stops when its stdin
 * closes (the bench died) or on SIGTERM/SIGINT, exiting normally so --cpu-prof can write its profile.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { calculator, calculatorContract } from '../contract/calculator.js';
import type { Protocol } from '../protocols/types.js';

const referenceModules: Record<string, string> = {
  'raw-tcp': './reference/raw-tcp.js',
  grpc: './reference/grpc.js',
  rest: './reference/rest.js',
};

function isProtocol(value: unknown, name: string): value is Protocol {
  const p = value as Partial<Protocol> | null;
  return typeof p === 'object' && p !== null && p.name === name && typeof p.serve === 'function';
}

/**
 * Imports only the row's own module (a reference row, or src/protocols/<name>/), not the whole
 * registry, so the server's peak memory is its own protocol's and not every library's.
 */
async function loadProtocol(name: string): Promise<Protocol | undefined> {
  if (!/^[a-z0-9-]+$/.test(name)) return undefined;
  const candidates = [referenceModules[name], `../protocols/${name}/index.js`].filter(
    (m): m is string => m !== undefined,
  );
  for (const spec of candidates) {
    const url = new URL(spec, import.meta.url);
    const onDisk = fileURLToPath(url);
    if (!existsSync(onDisk) && !existsSync(onDisk.replace(/\.js$/, '.ts'))) continue;
    const mod = (await import(url.href)) as Record<string, unknown>;
    const found = Object.values(mod).find((v) => isProtocol(v, name));
    if (found !== undefined) return found as Protocol;
  }
  const { findBenchProtocol } = await import('./reference/index.js');
  return findBenchProtocol(name);
}

async function main(): Promise<void> {
  const [name, variant] = process.argv.slice(2);
  const protocol = name === undefined ? undefined : await loadProtocol(name);
  if (protocol === undefined) {
    process.stderr.write(`server-process: unknown protocol "${name ?? ''}"\n`);
    process.exit(2);
  }
  const server = await protocol.serve(calculatorContract, calculator, {
    port: 0,
    ...(variant ? { variant } : {}),
  });
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    // Bounded: a server whose close() hangs still exits.
    setTimeout(() => process.exit(0), 2_000).unref();
    server.close().finally(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.stdin.on('end', stop);
  process.stdin.on('close', stop);
  process.stdin.resume();
  process.stdout.write(`${JSON.stringify({ port: server.port, pid: process.pid })}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(
    `server-process: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
