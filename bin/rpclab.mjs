#!/usr/bin/env node
// The rpclab command. Runs the compiled CLI (npm run build); falls back to the TypeScript
// sources through tsx when dist/ is absent, so a fresh checkout works after `npm ci`.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { constants } from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';

// `rpclab bench` hosts every row's load generator in one process. With V8's small initial old
// generation, the rows measured after others paid for a full GC every few dozen bulk calls: a
// 64 KiB Thrift echo after another row's cost its client 245-485 µs per call instead of 66-76
// alone (41 mark-compacts in a 2 s window instead of none; 87-122 µs with this flag). The flag
// only moves the first mark-compacts later; it takes effect only at start-up, hence the re-run.
const BENCH_HEAP_FLAG = '--initial-old-space-size=256';

if (process.argv[2] === 'bench' && !process.execArgv.includes(BENCH_HEAP_FLAG)) {
  const child = spawn(
    process.execPath,
    [BENCH_HEAP_FLAG, ...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)],
    { stdio: 'inherit' },
  );
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => {
    process.exit(code ?? (signal ? 128 + (constants.signals[signal] ?? 0) : 1));
  });
} else {
  const compiled = fileURLToPath(new URL('../dist/src/cli/main.js', import.meta.url));
  if (existsSync(compiled)) {
    await import(pathToFileURL(compiled).href);
  } else {
    const { register } = await import('tsx/esm/api');
    register();
    await import(new URL('../src/cli/main.ts', import.meta.url).href);
  }
}
