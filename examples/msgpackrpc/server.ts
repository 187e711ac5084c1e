/**
 * The survey's msgpack-rpc-python server in TypeScript: serves the Calculator (add, divide,
 * echo) on 127.0.0.1:7001. Beyond the survey, it uses what msgpack-rpc is for: `apply(a, b)`
 * calls back into the client, on the same connection, to ask for `mul(a, b)`, and adds 1 to the
 * answer; notifications from clients are printed.
 * Run: npx tsx examples/msgpackrpc/server.ts [port]
 */
import { calculator, calculatorContract } from '../../src/contract/index.js';
import { type MsgpackRpcConnection, serveMsgpackRpc } from '../../src/protocols/msgpackrpc/index.js';

const port = process.argv[2] === undefined ? 7001 : Number(process.argv[2]);
const server = await serveMsgpackRpc(calculatorContract, calculator, {
  port,
  extras: {
    apply: async (client: MsgpackRpcConnection, a: number, b: number) => {
      const product = (await client.call('mul', [a, b])) as number;
      return product + 1;
    },
  },
  onNotification: (method, params) => console.log(`notification: ${method} ${JSON.stringify(params)}`),
});
console.log(`msgpack-rpc server listening on ${server.address}`);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    server.close().then(() => process.exit(0));
  });
}
