/**
 * The survey's zeep client in TypeScript: reads the service's WSDL from
 * http://127.0.0.1:8000/?wsdl, calls add(2, 5) and prints 7. Works against the example server
 * and against the survey's Spyne service (peers/python/soap/server.py) alike.
 * Run (with a server running): npx tsx examples/soap/client.ts [port] [soap11|soap12]
 */
import { calculatorContract } from '../../src/contract/index.js';
import { soap } from '../../src/protocols/soap/index.js';

const port = process.argv[2] === undefined ? soap.defaultPort : Number(process.argv[2]);
const variant = process.argv[3] ?? 'soap11';
const client = await soap.connect(calculatorContract, {
  port,
  variant,
  schemaPath: `http://127.0.0.1:${port}/?wsdl`,
});
try {
  console.log(await client.add(2, 5));
} finally {
  await client.close();
}
