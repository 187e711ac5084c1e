/**
 * The survey's pycapnp client in TypeScript: add(2, 5) on the server's bootstrap capability
 * prints 7 (against the example server or the survey's Python server). The typed contract
 * client sends the first call pipelined on the Bootstrap question, so it costs one round trip.
 * Run (with a server running): npx tsx examples/capnp/client.ts [port]
 */
import { calculatorContract } from '../../src/contract/index.js';
import { connectCapnp } from '../../src/protocols/capnp/index.js';

const port = process.argv[2] === undefined ? 7000 : Number(process.argv[2]);
const calc = await connectCapnp(calculatorContract, { port, timeoutMs: 10_000 });
try {
  console.log(await calc.add(2, 5));
} finally {
  await calc.close();
}
