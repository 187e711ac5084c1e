/**
 * The survey's thriftpy2 server in TypeScript: loads calculator.thrift at runtime (as
 * `thriftpy2.load` does, no generated code) and serves a handler with add, on 127.0.0.1:9090,
 * binary protocol over a buffered transport (thriftpy2's make_server defaults).
 * Run: npx tsx examples/thrift/server.ts [port]
 */
import { fileURLToPath } from 'node:url';
import { calculatorContract, defineContract } from '../../src/contract/index.js';
import { thrift } from '../../src/protocols/thrift/index.js';

const schemaPath = fileURLToPath(new URL('./calculator.thrift', import.meta.url));

// Like the survey's CalculatorHandler, this one implements only add; other functions of the
// IDL answer UNKNOWN_METHOD, as they do from the Python server.
const contract = defineContract({ ...calculatorContract, methods: { add: calculatorContract.methods.add } });

class CalculatorHandler {
  add(a: number, b: number): number {
    return a + b;
  }
}

const port = process.argv[2] === undefined ? thrift.defaultPort : Number(process.argv[2]);
const server = await thrift.serve(contract, new CalculatorHandler(), { port, schemaPath });
console.log(`Thrift server listening on ${server.address}`);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    server.close().then(() => process.exit(0));
  });
}
