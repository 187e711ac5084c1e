/**
 * The survey's jsonrpclib client in TypeScript: calls add(2, 5) on 127.0.0.1:4000 and prints 7.
 * Run (with the server running): npx tsx examples/jsonrpc/client.ts [port]
 */
import { calculatorContract } from '../../src/contract/index.js';
import { jsonrpc } from '../../src/protocols/jsonrpc/index.js';

const port = process.argv[2] === undefined ? jsonrpc.defaultPort : Number(process.argv[2]);
const client = await jsonrpc.connect(calculatorContract, { port });
try {
  console.log(await client.add(2, 5));
} finally {
  await client.close();
}
