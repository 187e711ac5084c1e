/**
 * Per-connection limits of our server beyond the framing ones (rpc.test.ts): a cap on the calls
 * one connection has open, and reading paused while the peer does not read its replies.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { calculator, calculatorContract, TransportError } from '../../src/contract/index.js';
import {
  BusyError,
  capnpClient,
  openCapnp,
  type RpcConnection,
  serveCapnp,
} from '../../src/protocols/capnp/index.js';

function until(check: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  return new Promise((resolve) => {
    const tick = (): void => {
      if (check()) resolve(true);
      else if (Date.now() > end) resolve(false);
      else setTimeout(tick, 10);
    };
    tick();
  });
}

describe('capnp server limits', () => {
  it('beyond maxOpenCalls a call fails at once (busy, not run); the others are answered', async () => {
    let open!: () => void;
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    let ran = 0;
    const impl = {
      ...calculator,
      add: async (a: number, b: number) => {
        if (a === 0) return b; // the warm-up call: not held
        ran++;
        await gate;
        return a + b;
      },
    };
    const server = await serveCapnp(calculatorContract, impl, { port: 0, maxOpenCalls: 5 });
    const session = await openCapnp({ port: server.port, timeoutMs: 10_000 });
    try {
      const client = capnpClient(calculatorContract, session);
      // Once the bootstrap is answered and finished, 5 held adds fill the table.
      assert.equal(await client.add(0, 7), 7);
      const held = [1, 2, 3, 4, 5].map((i) => client.add(i, i));
      assert.ok(await until(() => ran === 5, 5_000));
      const refused = await client.add(100, 1).then(
        () => undefined,
        (err: unknown) => err,
      );
      assert.ok(refused instanceof TransportError, String(refused));
      assert.match(refused.message, /busy: this connection already has 5 calls open/);
      assert.equal(ran, 5, 'the refused call did not run');
      open();
      assert.deepEqual(await Promise.all(held), [2, 4, 6, 8, 10]);
      assert.equal(await client.add(2, 5), 7);
    } finally {
      await session.close();
      await server.close();
    }
  });

  it('BusyError travels as an overloaded exception', async () => {
    const { exceptionFromError, ExceptionType } = await import('../../src/protocols/capnp/errors.js');
    assert.equal(exceptionFromError(new BusyError('busy')).type, ExceptionType.overloaded);
    assert.equal(exceptionFromError(new TransportError('gone')).type, ExceptionType.disconnected);
  });

  it('a client that does not read its replies is not read either, and all is answered once it does', async () => {
    const served: RpcConnection[] = [];
    const server = await serveCapnp(calculatorContract, calculator, {
      port: 0,
      maxMessageBytes: 1 << 20,
      onConnection: (c) => served.push(c),
    });
    const session = await openCapnp({ port: server.port, timeoutMs: 60_000, maxMessageBytes: 4 << 20 });
    try {
      const client = capnpClient(calculatorContract, session);
      assert.equal(await client.add(1, 1), 2);
      session.connection.socket.pause(); // stop reading replies
      const data = new Uint8Array(randomBytes(900 * 1024));
      const echoes = Array.from({ length: 40 }, () => client.echo(data));
      const conn = served[0]!;
      assert.ok(
        await until(() => conn.socket.isPaused(), 10_000),
        'the server stopped reading while its replies were not read',
      );
      // What the server holds unsent stays near its high-water mark (1 MiB), not 40 replies' worth.
      assert.ok(conn.socket.writableLength < 4 << 20, `holds ${conn.socket.writableLength} bytes unsent`);
      session.connection.socket.resume();
      const back = await Promise.all(echoes);
      assert.equal(back.length, 40);
      for (const b of back) assert.ok(Buffer.from(b).equals(Buffer.from(data)));
      assert.equal(conn.socket.isPaused(), false);
    } finally {
      await session.close();
      await server.close();
    }
  });
});
