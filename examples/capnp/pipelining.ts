/**
 * What Cap'n Proto adds to request/response, with the capability API (openCapnp):
 *
 * 1. Promise pipelining. `adder(5)` returns a capability; we call `add(2)` on it at once, on
 *    the promised result, without awaiting adder(). Both calls leave before any reply comes
 *    back, so the chained call costs one round trip instead of two (the line shows how many
 *    questions were on the wire at that moment: the Bootstrap, adder and add).
 * 2. A callback. `apply(fn, 6, 7)` passes a Function capability served here; the server calls
 *    it back across the same connection and returns its answer.
 *
 * Works against the example server and against pycapnp (peers/python/capnp/full_server.py).
 * Run (with a server running): npx tsx examples/capnp/pipelining.ts [port]
 */
import { openCapnp } from '../../src/protocols/capnp/index.js';

const port = process.argv[2] === undefined ? 7000 : Number(process.argv[2]);
const session = await openCapnp({ port, timeoutMs: 10_000 });
try {
  const calc = session.bootstrap(); // a promise of the server's Calculator: usable at once

  // 1. Pipelined: add() is addressed to "the adder field of adder()'s answer".
  const pending = calc.call('adder', { base: 5 });
  const adder = pending.cap('adder');
  const sum = adder.call('add', { x: 2 });
  const inFlight = session.connection.tableSizes().questions; // bootstrap, adder, add
  const { result } = await sum.result;
  console.log(
    `adder(5).adder.add(2) = ${String(result)} (pipelined: ${inFlight} questions sent before any reply)`,
  );
  adder.release();
  const returned = await pending.result; // the results own their capability: release it too
  (returned.adder as { release(): void }).release();

  // 2. A callback: the server calls our Function.
  let calls = 0;
  const multiply = session.serve('Function', {
    call: ({ a, b }) => {
      calls++;
      return { result: (a as number) * (b as number) };
    },
  });
  const applied = await calc.call('apply', { fn: multiply, a: 6, b: 7 }).result;
  console.log(
    `apply(multiply, 6, 7) = ${String(applied.result)} (the server called multiply back: ${calls} call)`,
  );
  multiply.release();
  calc.release();
} finally {
  await session.close();
}
