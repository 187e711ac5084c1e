/**
 * The survey's pyzmq server in TypeScript: answers {"method": ..., "params": [...]} msgpack
 * requests with {"result": ...} or {"error": ...} on 127.0.0.1:5555. Where the survey uses a
 * REP socket, this one is a ROUTER, so REQ clients (the survey's) and pipelining DEALER
 * clients are all served at once; it serves the whole Calculator (add, divide, echo).
 * Run: npx tsx examples/zeromq/server.ts [port]
 */
import { calculator, calculatorContract } from '../../src/contract/index.js';
import { zeromq } from '../../src/protocols/zeromq/index.js';

const port = process.argv[2] === undefined ? zeromq.defaultPort : Number(process.argv[2]);
const server = await zeromq.serve(calculatorContract, calculator, { port });
console.log(`ZeroMQ server listening on ${server.address}`);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    server.close().then(() => process.exit(0));
  });
}
