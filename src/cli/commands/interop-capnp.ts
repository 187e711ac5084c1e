/**
 * `rpclab interop`'s extra Cap'n Proto checks: what the contract cannot say. Our client against
 * pycapnp's full server: a chained call pipelined on a capability not yet returned, and a
 * Function capability of ours the server calls back; the full client's own pipelining and
 * callback against our server are read from its report by the generic check.
 */
import { freePort } from '../../net/free-port.js';
import { peerScript, startPythonPeer } from '../../peers/python.js';
import { openCapnp } from '../../protocols/capnp/index.js';
import { formatError } from '../format.js';
import type { InteropCheck } from './interop.js';

const TIMEOUT_MS = 15_000;

export async function capnpChecks(): Promise<InteropCheck[]> {
  let peer: Awaited<ReturnType<typeof startPythonPeer>> | undefined;
  let result: { ok: boolean; detail: string };
  try {
    peer = await startPythonPeer(peerScript('capnp', 'full_server.py'), await freePort());
    const session = await openCapnp({ port: peer.port, timeoutMs: TIMEOUT_MS });
    try {
      const calc = session.bootstrap();
      const pending = calc.call('adder', { base: 10 });
      const adder = pending.cap('adder');
      const sum = (await adder.call('add', { x: 2 }).result).result;
      if (sum !== 12) throw new Error(`adder(10).adder.add(2) = ${String(sum)}`);
      adder.release();
      ((await pending.result).adder as { release(): void }).release();
      let calls = 0;
      const fn = session.serve('Function', {
        call: ({ a, b }) => {
          calls++;
          return { result: (a as number) * (b as number) };
        },
      });
      const applied = (await calc.call('apply', { fn, a: 5, b: 6 }).result).result;
      if (applied !== 30 || calls !== 1)
        throw new Error(`apply(fn, 5, 6) = ${String(applied)} after ${calls} calls`);
      fn.release();
      calc.release();
      result = {
        ok: true,
        detail: 'adder(10).adder.add(2) = 12 pipelined; apply(fn, 5, 6) called fn back = 30',
      };
    } finally {
      await session.close();
    }
  } catch (err) {
    result = { ok: false, detail: formatError(err).split('\n')[0]! };
  } finally {
    await peer?.stop();
  }
  return [{ protocol: 'capnp', direction: 'ts→python', peer: 'full_server.py (capabilities)', ...result }];
}
