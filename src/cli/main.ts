/** The rpclab command line: dispatches to one sub-command and maps failures to exit codes. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { RpcError } from '../contract/errors.js';
import { repoRoot } from '../peers/python.js';
import { protocols } from '../protocols/index.js';
import type { Command } from './command.js';
import { benchCommand } from './commands/bench.js';
import { callCommand } from './commands/call.js';
import { interopCommand } from './commands/interop.js';
import { serveCommand } from './commands/serve.js';
import { tourCommand } from './commands/tour.js';
import { formatError, jsonError } from './format.js';
import { isUsageError } from './options.js';

const commands: readonly Command[] = [tourCommand, serveCommand, callCommand, benchCommand, interopCommand];

function version(): string {
  const pkg = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

function help(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return `rpclab ${version()} — seven RPC alternatives to REST/gRPC, in TypeScript

usage: rpclab <command> [options]     (rpclab <command> --help for details)

commands:
${commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n')}

protocols: ${protocols.map((p) => `${p.name} (${p.defaultPort})`).join(', ') || '(none registered)'}`;
}

/** Exit codes: 0 ok, 1 failed check or remote error, 2 usage error, 3 transport failure or timeout. */
export async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(help());
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-v') {
    console.log(version());
    return 0;
  }
  const command = commands.find((c) => c.name === name);
  if (!command) {
    console.error(`rpclab: unknown command "${name}"\n\n${help()}`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(command.usage);
    return 0;
  }
  try {
    return await command.run(rest);
  } catch (err) {
    if (isUsageError(err)) {
      console.error(`rpclab ${command.name}: ${err instanceof Error ? err.message : String(err)}`);
      console.error(`(see rpclab ${command.name} --help)`);
      return 2;
    }
    if (rest.includes('--json')) console.log(JSON.stringify({ error: jsonError(err) }));
    else console.error(`rpclab ${command.name}: ${formatError(err)}`);
    if (err instanceof RpcError && (err.code === 'TRANSPORT' || err.code === 'TIMEOUT')) return 3;
    return 1;
  }
}

const code = await main(process.argv.slice(2));
process.exitCode = code;
// Exit on our own if a library left a handle open (a keep-alive socket, a ZeroMQ context):
// the timer is unref'd, so a process with nothing left running exits at once as usual.
setTimeout(() => process.exit(code), 1_000).unref();
