/**
 * Our client and server against msgpack written by other encoders: other integer widths,
 * string forms and container headers than @msgpack/msgpack and Python's msgpack choose.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { calculatorContract, defineContract, RpcError } from '../../src/contract/index.js';
import { connectZeromq, serveZeromq, ZEROMQ_VARIANTS } from '../../src/protocols/zeromq/index.js';
import { encodeValue } from '../../src/protocols/zeromq/msgpack.js';
import { startAddRouter, startScriptedRouter } from './scripted-router.js';

describe('zeromq client: replies from other encoders', () => {
  it('[dealer] ids echoed as 64-bit ints (0xcf) still match their calls', async () => {
    const server = await startScriptedRouter({ echoIds: true, wideIds: true });
    const client = await connectZeromq(calculatorContract, {
      port: server.port,
      variant: 'dealer',
      timeoutMs: 2_000,
    });
    try {
      const sums = await Promise.all(Array.from({ length: 50 }, (_, i) => client.add(i, 1000)));
      assert.deepEqual(
        sums,
        Array.from({ length: 50 }, (_, i) => i + 1000),
      );
    } finally {
      await client.close();
      await server.close();
    }
  });
});

/** Strings a handler may produce that have no UTF-8 form. */
const textContract = defineContract({
  name: 'Text',
  namespace: 'text',
  methods: {
    half: { params: [{ name: 's', type: 'string' }], result: 'string' },
    fail: { params: [{ name: 's', type: 'string' }], result: 'string' },
  },
});

describe('zeromq server: strings without a UTF-8 form', () => {
  it('a result or error message with a lone surrogate gets an error reply; the server goes on', async () => {
    const server = await serveZeromq(
      textContract,
      {
        half: (s) => s.slice(0, 1), // '😀' -> '\ud83d'
        fail: (s) => {
          throw new Error(`bad ${s.slice(0, 1)}`);
        },
      },
      { port: 0 },
    );
    const client = await connectZeromq(textContract, { port: server.port, timeoutMs: 2_000 });
    try {
      await assert.rejects(client.half('😀'), (err: unknown) => {
        assert.ok(err instanceof RpcError && err.code === 'INTERNAL', String(err));
        assert.match(err.message, /lone surrogate/);
        return true;
      });
      // The message itself cannot be sent as is: its lone surrogate becomes U+FFFD.
      await assert.rejects(client.fail('😀'), (err: unknown) => {
        assert.ok(err instanceof RpcError && err.code === 'INTERNAL', String(err));
        assert.equal(err.message, 'bad \ufffd');
        return true;
      });
      assert.equal(await client.half('ab'), 'a');
      // Our client refuses to send one too, rather than send bytes Python would reject.
      await assert.rejects(
        client.half('\udc00'),
        (err: unknown) => err instanceof RpcError && err.code === 'PROTOCOL',
      );
    } finally {
      await client.close();
      await server.close();
    }
  });
});

/** A ROUTER that answers add with the right reply, followed by `extra` frames when a is 0. */
const startMultiFrameServer = (extra: Buffer[]) =>
  startAddRouter((a, good) => [good, ...(a === 0 ? extra : [])]);

for (const variant of ZEROMQ_VARIANTS) {
  describe(`zeromq [${variant}] client: a reply in several body frames`, () => {
    it('is a PROTOCOL error for its call, never a result taken from a later frame', async () => {
      // The trailing frame is itself a well-formed reply, with another result.
      const server = await startMultiFrameServer([Buffer.from(encodeValue({ result: 999, id: 1 }))]);
      const client = await connectZeromq(calculatorContract, {
        port: server.port,
        variant,
        timeoutMs: 2_000,
      });
      try {
        await assert.rejects(client.add(0, 7), (err: unknown) => {
          assert.ok(err instanceof RpcError, String(err));
          assert.equal(err.code, 'PROTOCOL', err.message);
          assert.match(err.message, /2 body frames/);
          return true;
        });
        assert.equal(await client.add(2, 5), 7, 'single-frame replies still work');
      } finally {
        await client.close();
        server.close();
      }
    });
  });
}
