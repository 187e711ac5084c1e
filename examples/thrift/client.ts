/**
 * The survey's thriftpy2 client in TypeScript (make_client's defaults: binary protocol,
 * buffered transport): calls add(2, 5) on 127.0.0.1:9090 and prints 7.
 * Run (with the server running): npx tsx examples/thrift/client.ts [port]
 */
import { fileURLToPath } from 'node:url';
import { calculatorContract, defineContract } from '../../src/contract/index.js';
import { thrift } from '../../src/protocols/thrift/index.js';

const schemaPath = fileURLToPath(new URL('./calculator.thrift', import.meta.url));
const contract = defineContract({ ...calculatorContract, methods: { add: calculatorContract.methods.add } });

const port = process.argv[2] === undefined ? thrift.defaultPort : Number(process.argv[2]);
const client = await thrift.connect(contract, { port, schemaPath });
try {
  console.log(await client.add(2, 5));
} finally {
  await client.close();
}
