/**
 * The survey's jsonrpclib server in TypeScript: serves the Calculator (add, divide, echo)
 * over JSON-RPC 2.0 on HTTP, on 127.0.0.1:4000.
 * Run: npx tsx examples/jsonrpc/server.ts [port]
 */
import { calculator, calculatorContract } from '../../src/contract/index.js';
import { jsonrpc } from '../../src/protocols/jsonrpc/index.js';

const port = process.argv[2] === undefined ? jsonrpc.defaultPort : Number(process.argv[2]);
const server = await jsonrpc.serve(calculatorContract, calculator, { port });
console.log(`JSON-RPC server listening on ${server.address}`);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    server.close().then(() => process.exit(0));
  });
}
