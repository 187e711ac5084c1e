/**
 * The conformance suite: one set of behaviours every registered protocol (and each of its
 * variants) must show, TS client against TS server over loopback.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import {
  type Calculator,
  type CalculatorClient,
  calculator,
  calculatorContract,
  DivideByZeroError,
  defineContract,
  RpcError,
} from '../../src/contract/index.js';
import type { Protocol, RunningServer } from '../../src/protocols/types.js';
import { drainServer } from '../../src/serve/drain.js';
import { startSilentServer } from '../support/silent-server.js';

/** Calculator plus a method the server does not implement, to provoke NO_SUCH_METHOD. */
export const probeContract = defineContract({
  ...calculatorContract,
  methods: {
    ...calculatorContract.methods,
    multiply: {
      params: [
        { name: 'a', type: 'i32' },
        { name: 'b', type: 'i32' },
      ],
      result: 'i32',
    },
  },
});

function bytes(n: number, seed = 7): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

async function expectCode(promise: Promise<unknown>, code: string): Promise<RpcError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof RpcError, `expected an RpcError, got ${String(err)}`);
    assert.equal(err.code, code, `expected ${code}, got ${err.code}: ${err.message}`);
    return err;
  }
  assert.fail(`expected the call to fail with ${code}`);
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** The calculator with an add that takes a while, so a drain finds calls in progress. */
const slowCalculator: Calculator = {
  ...calculator,
  add: (a, b) => new Promise((resolve) => setTimeout(() => resolve(a + b), 20)),
};

export function conformanceSuite(protocol: Protocol, variant: string): void {
  describe(`${protocol.name} [${variant}] conformance`, () => {
    let server: RunningServer;
    let client: CalculatorClient;
    const connect = (timeoutMs = 20_000) =>
      protocol.connect(calculatorContract, { port: server.port, variant, timeoutMs });

    before(async () => {
      server = await protocol.serve(calculatorContract, calculator, { port: 0, variant });
      client = await connect();
    });
    after(async () => {
      await client?.close();
      await server?.close();
    });

    it('serves on loopback by default', () => {
      assert.equal(server.host, '127.0.0.1');
      assert.ok(server.port > 0);
    });

    it('add', async () => {
      assert.equal(await client.add(2, 5), 7);
      assert.equal(await client.add(-2147483648, 2147483647), -1);
      assert.equal(await client.add(-40, 40), 0);
    });

    it('rejects invalid arguments with INVALID_ARGUMENT', async () => {
      const add = client.add as unknown as (a: unknown, b: unknown) => Promise<number>;
      await expectCode(add(1.5, 2), 'INVALID_ARGUMENT');
      await expectCode(add('x', 2), 'INVALID_ARGUMENT');
      await expectCode(add(2 ** 31, 0), 'INVALID_ARGUMENT');
      await expectCode(add(-(2 ** 31) - 1, 0), 'INVALID_ARGUMENT');
      // A sum outside the i32 range cannot be carried by the contract either.
      await expectCode(client.add(2147483647, 1), 'INVALID_ARGUMENT');
      assert.equal(await client.add(1, 1), 2, 'the connection still works after rejected calls');
    });

    it('divide', async () => {
      assert.equal(await client.divide(1, 4), 0.25);
      assert.equal(await client.divide(-9, 3), -3);
      assert.equal(await client.divide(1e308, 1e-10), Number.POSITIVE_INFINITY);
    });

    it('divide by zero arrives as the typed error', async () => {
      const err = await expectCode(client.divide(1, 0), 'DIVIDE_BY_ZERO');
      assert.ok(err instanceof DivideByZeroError, `expected DivideByZeroError, got ${err.constructor.name}`);
      assert.equal(await client.divide(6, 3), 2);
    });

    for (const size of [0, 1024, 8 * 1024 * 1024]) {
      it(`echo returns ${size} bytes unchanged`, async () => {
        const data = bytes(size, size + 1);
        const back = await client.echo(data);
        assert.ok(back instanceof Uint8Array);
        assert.equal(back.byteLength, size);
        assert.ok(Buffer.from(back).equals(Buffer.from(data)), 'echoed bytes differ');
      });
    }

    it('echo carries every byte value', async () => {
      const all = Uint8Array.from({ length: 256 }, (_, i) => i);
      assert.deepEqual([...(await client.echo(all))], [...all]);
    });

    it('an unknown method gives NO_SUCH_METHOD', async () => {
      const probe = await protocol.connect(probeContract, { port: server.port, variant, timeoutMs: 20_000 });
      try {
        await expectCode(probe.multiply(2, 3), 'NO_SUCH_METHOD');
        assert.equal(await probe.add(2, 3), 5, 'the connection still works after an unknown method');
      } finally {
        await probe.close();
      }
    });

    it('100 concurrent calls all answer correctly', async () => {
      const calls = Array.from({ length: 100 }, (_, i) => client.add(i, 1000 * i));
      const results = await Promise.all(calls);
      assert.deepEqual(
        results,
        Array.from({ length: 100 }, (_, i) => 1001 * i),
      );
    });

    it('a server that never answers gives TIMEOUT within the configured timeout', async () => {
      const silent = await startSilentServer();
      const timeoutMs = 400;
      const started = Date.now();
      try {
        const c = await protocol.connect(calculatorContract, { port: silent.port, variant, timeoutMs });
        try {
          await expectCode(c.add(2, 5), 'TIMEOUT');
        } finally {
          await c.close();
        }
      } catch (err) {
        // Protocols with a handshake may already time out in connect(); that is fine too.
        assert.ok(err instanceof RpcError && err.code === 'TIMEOUT', `expected TIMEOUT, got ${String(err)}`);
      } finally {
        await silent.close();
      }
      // Not a timing test: a generous bound that only catches a hang or an ignored timeout.
      assert.ok(Date.now() - started < timeoutMs + 9_000, 'the timeout was not honoured');
    });

    it('a timeout longer than a timer can wait (or Infinity) means no early TIMEOUT', async () => {
      // Node fires a timer of more than 2^31 - 1 ms after 1 ms; a client must clamp, not time out.
      for (const timeoutMs of [Number.POSITIVE_INFINITY, 2 ** 40]) {
        const c = await protocol.connect(calculatorContract, { port: server.port, variant, timeoutMs });
        try {
          assert.equal(await c.add(2, 5), 7, `timeoutMs ${timeoutMs}`);
          assert.equal((await c.echo(bytes(256 * 1024))).byteLength, 256 * 1024, `timeoutMs ${timeoutMs}`);
        } finally {
          await c.close();
        }
      }
    });

    it('keeps serving after a client disconnects mid-call', async () => {
      const quitter = await connect();
      const pending = quitter.echo(bytes(4 * 1024 * 1024)).catch(() => undefined);
      await new Promise((r) => setTimeout(r, 5));
      await quitter.close();
      await pending;
      const fresh = await connect();
      try {
        assert.equal(await fresh.add(2, 5), 7);
      } finally {
        await fresh.close();
      }
      assert.equal(await client.add(3, 4), 7);
    });

    it('drain during a flood of calls: each is answered or fails cleanly, then the port is free', async (t) => {
      const s = await protocol.serve(calculatorContract, slowCalculator, { port: 0, variant });
      const timeoutMs = 5_000;
      const clients = await Promise.all(
        Array.from({ length: 4 }, () =>
          protocol.connect(calculatorContract, { port: s.port, variant, timeoutMs }),
        ),
      );
      let drainStarted = false;
      let answeredInDrain = 0;
      let answered = 0;
      let firstAnswers: () => void = () => undefined;
      const tenAnswered = new Promise<void>((resolve) => {
        firstAnswers = resolve;
      });
      // Each call's failure, or undefined once answered (caught at once: no unhandled rejection).
      const calls: Promise<unknown>[] = [];
      for (const [k, c] of clients.entries()) {
        for (let i = 0; i < 150; i++) {
          calls.push(
            c.add(k, i).then(
              (sum) => {
                assert.equal(sum, k + i);
                if (drainStarted) answeredInDrain++;
                if (++answered === 10) firstAnswers();
              },
              (err: unknown) => err ?? new Error('rejected with nothing'),
            ),
          );
        }
      }
      await tenAnswered;
      drainStarted = true;
      const graceMs = 3_000;
      const started = Date.now();
      await drainServer(s, graceMs);
      const drainMs = Date.now() - started;
      const failures = (await Promise.all(calls)).filter((f) => f !== undefined);
      for (const c of clients) await c.close();
      // ZeroMQ has no connection to fail a call on: one sent after the socket closed (a REQ
      // client's queued calls) can only time out; every other protocol fails it with TRANSPORT.
      const clean = protocol.name === 'zeromq' ? ['TRANSPORT', 'TIMEOUT'] : ['TRANSPORT'];
      for (const err of failures) {
        assert.ok(
          err instanceof RpcError && clean.includes(err.code),
          `a call failed uncleanly: ${err instanceof RpcError ? err.code : ''} ${String(err)}`,
        );
      }
      // A server without drain() is closed at once by drainServer (its calls fail cleanly, as
      // checked above); one with it answers the calls it had in progress.
      if (s.drain !== undefined)
        assert.ok(answeredInDrain > 0, 'calls in progress when the drain began were answered');
      else
        t.diagnostic(
          `${protocol.name} has no drain(): closed at once, calls in progress failed with TRANSPORT`,
        );
      // Not a timing test: a generous bound that only catches a drain ignoring its grace period.
      assert.ok(drainMs < graceMs + 5_000, `drain took ${drainMs} ms for a grace of ${graceMs} ms`);
      assert.ok(await portIsFree(s.port), `port ${s.port} still taken after drain`);
    });

    it('close() frees the port', async () => {
      const s = await protocol.serve(calculatorContract, calculator, { port: 0, variant });
      const c = await protocol.connect(calculatorContract, { port: s.port, variant, timeoutMs: 20_000 });
      assert.equal(await c.add(1, 2), 3);
      await c.close();
      await s.close();
      assert.ok(await portIsFree(s.port), `port ${s.port} still taken after close()`);
    });
  });
}
