/**
 * The survey's RPyC client in TypeScript: conn.root.add(2, 5) on 127.0.0.1:18861, prints 7.
 * With a server offering apply(fn, a, b) (examples/rpyc/server.ts, or a Python service with
 * exposed_apply), `--callback` also passes a TypeScript function that the server calls back.
 * Run (with the server running): npx tsx examples/rpyc/client.ts [port] [--callback]
 */
import { asMethods, connectRpyc, rpyc } from '../../src/protocols/rpyc/index.js';

/** What we expect of the server's root (nothing checks it: RPyC has no schema). */
interface Calculator {
  add(a: number, b: number): Promise<number>;
  apply(fn: (a: number, b: number) => number, a: number, b: number): Promise<number>;
}

const args = process.argv.slice(2);
const portArg = args.find((a) => !a.startsWith('--'));
const port = portArg === undefined ? rpyc.defaultPort : Number(portArg);
const conn = await connectRpyc({ port });
try {
  // conn.root, with each method call one round trip (CALLATTR)
  const root = asMethods<Calculator>(await conn.root());
  console.log(await root.add(2, 5));
  if (args.includes('--callback')) {
    console.log(await root.apply((a: number, b: number) => a * b, 6, 7));
  }
} finally {
  await conn.close();
}
