/**
 * Beyond the survey: many calls in flight on one DEALER socket ("dealer" variant), each
 * matched to its reply by id. Makes N add calls with W in flight, checks every result, and
 * prints the rate next to the same calls made one at a time over REQ.
 * Run (with a server running): npx tsx examples/zeromq/pipelined-client.ts [port] [N] [W]
 */
import { calculatorContract } from '../../src/contract/index.js';
import { zeromq } from '../../src/protocols/zeromq/index.js';

const port = process.argv[2] === undefined ? zeromq.defaultPort : Number(process.argv[2]);
const total = Number(process.argv[3] ?? 20_000);
const window = Number(process.argv[4] ?? 1_000);

async function run(variant: 'req' | 'dealer', inFlight: number): Promise<number> {
  const client = await zeromq.connect(calculatorContract, { port, variant, timeoutMs: 60_000 });
  try {
    let next = 0;
    const started = process.hrtime.bigint();
    const worker = async () => {
      while (next < total) {
        const i = next++;
        const sum = await client.add(i, 1);
        if (sum !== i + 1) throw new Error(`add(${i}, 1) gave ${sum}`);
      }
    };
    await Promise.all(Array.from({ length: inFlight }, worker));
    return total / (Number(process.hrtime.bigint() - started) / 1e9);
  } finally {
    await client.close();
  }
}

const sequential = await run('req', 1);
const pipelined = await run('dealer', window);
console.log(`req, one at a time:       ${Math.round(sequential)} calls/s`);
console.log(`dealer, ${window} in flight: ${Math.round(pipelined)} calls/s`);
console.log(`all ${2 * total} results correct`);
