/**
 * Runs `rpclab bench` on its own, e.g. `node --import tsx src/bench/cli-entry.ts --quick`, or
 * compiled from dist/. The rpclab CLI runs the same command as `rpclab bench`.
 */
import { benchCommand } from '../cli/commands/bench.js';

let code: number;
try {
  code = await benchCommand.run(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`rpclab bench: ${err instanceof Error ? err.message : String(err)}\n`);
  code = err instanceof Error && err.constructor.name === 'UsageError' ? 2 : 1;
}
process.exitCode = code;
// Exit even if a library left a handle open (keep-alive sockets, a ZeroMQ context).
setTimeout(() => process.exit(code), 1_000).unref();
