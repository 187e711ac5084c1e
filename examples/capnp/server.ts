/**
 * The survey's pycapnp server in TypeScript: the Calculator of calculator.capnp served on
 * 127.0.0.1:7000. Beyond the survey's add, it serves what Cap'n Proto is for, both built into
 * serveCapnp for this schema: `adder(base)` returns a capability (an Adder the caller then
 * calls, pipelined on the not-yet-returned result) and `apply(fn, a, b)` calls back a Function
 * capability the caller passed. Plain TCP, the standard stream framing: pycapnp's client
 * (peers/python/capnp/client.py) gets 7 from it as well.
 * Run: npx tsx examples/capnp/server.ts [port]
 */
import { calculator, calculatorContract } from '../../src/contract/index.js';
import { serveCapnp } from '../../src/protocols/capnp/index.js';
import { drainServer } from '../../src/serve/drain.js';

const port = process.argv[2] === undefined ? 7000 : Number(process.argv[2]);
const server = await serveCapnp(calculatorContract, calculator, { port });
console.log(`Cap'n Proto server listening on ${server.address}`);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    // Stop accepting, answer the calls in progress (up to 5 s), then exit.
    drainServer(server, 5_000).then(() => process.exit(0));
  });
}
