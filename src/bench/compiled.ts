/**
 * Our bench servers run as plain JavaScript, like any deployment would run them. Started from
 * the TypeScript sources (no `npm run build`), a server under `node --import tsx` carries tsx's
 * loader, which runs on its own thread with its own V8 heap: 34 MiB of RSS on Node 20 before the
 * server has loaded anything (39 MiB for a bare `node`, 73 MiB with tsx), charged to every row's
 * idle and peak memory although no server needs it. So the bench transpiles src/ once per run
 * (TypeScript's transpileModule, type-checking is the build's job) into .bench-build/<pid>/src
 * inside the repository (so node_modules and the repository root resolve as from dist/), and
 * removes it when it exits.
 */
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../peers/python.js';

let built: Promise<string> | undefined;

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...walk(full));
    else out.push(full);
  }
  return out;
}

async function build(): Promise<string> {
  const ts = (await import('typescript')).default;
  const root = path.join(repoRoot, '.bench-build', String(process.pid));
  rmSync(root, { recursive: true, force: true });
  process.on('exit', () => rmSync(root, { recursive: true, force: true }));
  const srcDir = path.join(repoRoot, 'src');
  for (const file of walk(srcDir)) {
    const target = path.join(root, path.relative(repoRoot, file));
    mkdirSync(path.dirname(target), { recursive: true });
    if (!file.endsWith('.ts')) {
      copyFileSync(file, target); // IDL and schema files some rows read next to their module
      continue;
    }
    const out = ts.transpileModule(readFileSync(file, 'utf8'), {
      fileName: file,
      compilerOptions: {
        module: ts.ModuleKind.ESNext,
        target: ts.ScriptTarget.ES2022,
        verbatimModuleSyntax: true,
        esModuleInterop: true,
      },
    });
    writeFileSync(target.replace(/\.ts$/, '.js'), out.outputText);
  }
  return root;
}

/** The directory holding a compiled copy of src/ for this process (built on first use). */
export function compiledSources(): Promise<string> {
  built ??= build();
  return built;
}
