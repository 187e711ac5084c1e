/**
 * The survey's Spyne service in TypeScript: serves the Calculator (add, divide, echo) over
 * SOAP 1.1 and 1.2 on 127.0.0.1:8000, with its WSDL at http://127.0.0.1:8000/?wsdl, so the
 * survey's zeep client (peers/python/soap/client.py) works against it unchanged.
 * Run: npx tsx examples/soap/server.ts [port]
 */
import { calculator, calculatorContract } from '../../src/contract/index.js';
import { soap } from '../../src/protocols/soap/index.js';

const port = process.argv[2] === undefined ? soap.defaultPort : Number(process.argv[2]);
const server = await soap.serve(calculatorContract, calculator, { port });
console.log(`SOAP server listening on ${server.address} (WSDL: ${server.address}?wsdl)`);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    server.close().then(() => process.exit(0));
  });
}
