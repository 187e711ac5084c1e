/**
 * A REQ client, as the survey's client.py: sends {"method": "add", "params": [2, 5]} to
 * 127.0.0.1:5555 and prints the result, 7. Also works against the survey's Python server.
 * Run (with a server running): npx tsx examples/zeromq/client.ts [port]
 */
import { calculatorContract } from '../../src/contract/index.js';
import { zeromq } from '../../src/protocols/zeromq/index.js';

const port = process.argv[2] === undefined ? zeromq.defaultPort : Number(process.argv[2]);
const client = await zeromq.connect(calculatorContract, { port, variant: 'req' });
try {
  console.log(await client.add(2, 5));
} finally {
  await client.close();
}
