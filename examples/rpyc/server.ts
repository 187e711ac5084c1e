/**
 * The survey's RPyC ThreadedServer in TypeScript: serves the Calculator (add, divide, echo) as
 * an rpyc service on 127.0.0.1:18861, plus apply(fn, a, b), which calls back a function the
 * client passes in. A Python client works unchanged: rpyc.connect(host, port).root.add(2, 5).
 * Run: npx tsx examples/rpyc/server.ts [port]
 */
import { calculator, calculatorContract } from '../../src/contract/index.js';
import { RemoteRef, rpyc, serveRpyc } from '../../src/protocols/rpyc/index.js';

const port = process.argv[2] === undefined ? rpyc.defaultPort : Number(process.argv[2]);
const server = await serveRpyc(calculatorContract, calculator, {
  port,
  extras: {
    // Extras get the client's arguments unchecked: a TypeError here reaches Python as TypeError.
    apply: (fn: unknown, a: unknown, b: unknown) => {
      if (!(fn instanceof RemoteRef)) throw new TypeError(`apply() needs a callable, got ${typeof fn}`);
      return fn.call(a, b);
    },
  },
});
console.log(`RPyC server listening on ${server.address}`);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    server.close().then(() => process.exit(0));
  });
}
