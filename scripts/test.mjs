#!/usr/bin/env node
// Runs every test file (test/**/*.test.ts) with Node's test runner, TypeScript loaded by tsx.
// Type-checks and lints first so a type or lint error fails the run. Extra arguments are passed to node --test
// (e.g. `npm test -- --test-name-pattern=jsonrpc`); files named as arguments narrow the run.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';

function find(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) out.push(...find(full));
    else if (name.endsWith('.test.ts')) out.push(full);
  }
  return out;
}

// A `--` (as in `npm test -- --test-name-pattern=x`) only separates npm's options from ours.
const args = process.argv.slice(2).filter((a) => a !== '--');
// Test files and folders narrow the run; anything else is passed to node --test as a flag.
const isPath = (a) =>
  a.endsWith('.test.ts') || (!a.startsWith('-') && existsSync(a) && statSync(a).isDirectory());
const named = args.filter(isPath).flatMap((a) => (a.endsWith('.test.ts') ? [a] : find(a)));
const flags = args.filter((a) => !isPath(a));
const files = named.length > 0 ? named : find('test');

if (!process.env.RPCLAB_SKIP_TYPECHECK) {
  const tsc = spawnSync('npx', ['--no-install', 'tsc', '-p', 'tsconfig.json', '--noEmit'], {
    stdio: 'inherit',
  });
  if (tsc.status !== 0) {
    console.error('type check failed');
    process.exit(tsc.status ?? 1);
  }
  const lint = spawnSync('npx', ['--no-install', 'biome', 'check', 'src', 'test', 'examples', 'scripts'], {
    stdio: 'inherit',
  });
  if (lint.status !== 0) {
    console.error('lint failed (npm run format fixes formatting)');
    process.exit(lint.status ?? 1);
  }
}

const run = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-reporter=spec', '--test-timeout=300000', ...flags, ...files],
  { stdio: 'inherit' },
);
process.exit(run.status ?? 1);
