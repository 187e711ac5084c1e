/**
 * The survey's client: add(2, 5) on 127.0.0.1:7001 prints 7 (against the example server or the
 * survey's Python server). With --callback, the client also serves `mul` on its connection and
 * calls the example server's `apply(6, 7)`, which calls `mul` back and prints 43; then it sends
 * a notification.
 * Run (with a server running): npx tsx examples/msgpackrpc/client.ts [port] [--callback]
 */
import { calculatorContract } from '../../src/contract/index.js';
import { msgpackRpcClient, openMsgpackRpc } from '../../src/protocols/msgpackrpc/index.js';

const args = process.argv.slice(2);
const callback = args.includes('--callback');
const portArg = args.find((a) => !a.startsWith('--'));
const port = portArg === undefined ? 7001 : Number(portArg);

const connection = await openMsgpackRpc({
  port,
  timeoutMs: 10_000,
  handlers: { mul: (a: number, b: number) => a * b }, // the server may call this
});
const calc = msgpackRpcClient(calculatorContract, connection);
try {
  console.log(await calc.add(2, 5));
  if (callback) {
    console.log(await connection.call('apply', [6, 7]));
    connection.notify('bye', ['from the example client']);
  }
} finally {
  await calc.close();
}
