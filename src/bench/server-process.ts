/**
 * The bench's server runner: serves one registered protocol (or reference row) with the reference
 * Calculator on a free loopback port, in its own process so its CPU time and memory are its own.
 *
 *   node --import tsx src/bench/server-process.ts <protocol> [variant]
 *
 * Prints one JSON line {"port": N, "pid": P} on stdout once listening. Stops when its stdin
 * closes (the bench died) or on SIGTERM/SIGINT, exiting normally so --cpu-prof can write its profile.
 */
import { calculator, calculatorContract } from '../contract/calculator.js';
import { findBenchProtocol } from './reference/index.js';

async function main(): Promise<void> {
  const [name, variant] = process.argv.slice(2);
  const protocol = name === undefined ? undefined : findBenchProtocol(name);
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
