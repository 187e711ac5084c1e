/**
 * The client against a misbehaving server: replies that are not msgpack, not a map, lack both
 * "result" and "error", or carry a result of the wrong type. Each call fails with a clear
 * typed error (never a hang), and the client keeps working.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { calculatorContract, RpcError } from '../../src/contract/index.js';
import { connectZeromq, ZEROMQ_VARIANTS } from '../../src/protocols/zeromq/index.js';
import { encodeValue } from '../../src/protocols/zeromq/msgpack.js';
import { startAddRouter } from './scripted-router.js';

/** Answers add(a, b) with replies[a] (raw bytes), or a correct reply when a is out of range. */
const startBadServer = (replies: readonly Uint8Array[]) =>
  startAddRouter((a, good) => [Buffer.from(replies[a] ?? good)]);

for (const variant of ZEROMQ_VARIANTS) {
  describe(`zeromq [${variant}] client against a misbehaving server`, () => {
    it('bad replies fail the call with PROTOCOL or INVALID_ARGUMENT, and the client goes on', async () => {
      const server = await startBadServer([
        Buffer.from([0xc1]), // not msgpack
        encodeValue([7]), // not a map
        encodeValue({ outcome: 7 }), // neither result nor error
        encodeValue({ result: 'seven' }), // wrong result type (checked against the contract)
        encodeValue({ error: { code: 'NOT_A_CODE', message: 'odd' } }), // unknown error code
      ]);
      const client = await connectZeromq(calculatorContract, {
        port: server.port,
        variant,
        timeoutMs: 5_000,
      });
      try {
        const expected = ['PROTOCOL', 'PROTOCOL', 'PROTOCOL', 'INVALID_ARGUMENT', 'INTERNAL'];
        for (const [a, code] of expected.entries()) {
          await assert.rejects(client.add(a, 0), (err: unknown) => {
            assert.ok(err instanceof RpcError, String(err));
            assert.equal(err.code, code, `add(${a}, 0): ${err.message}`);
            return true;
          });
        }
        assert.equal(await client.add(20, 22), 42);
      } finally {
        await client.close();
        server.close();
      }
    });
  });
}

describe('zeromq client: an endpoint libzmq refuses', () => {
  it('connect rejects with TRANSPORT instead of throwing synchronously', async () => {
    let connecting: Promise<unknown> | undefined;
    assert.doesNotThrow(() => {
      connecting = connectZeromq(calculatorContract, { host: 'not a host', port: 5555 });
    });
    await assert.rejects(connecting!, (err: unknown) => {
      assert.ok(err instanceof RpcError && err.code === 'TRANSPORT', String(err));
      assert.match(err.message, /cannot connect to tcp:\/\/not a host:5555/);
      return true;
    });
  });
});

describe('zeromq client: timeouts too long for a Node timer', () => {
  for (const variant of ZEROMQ_VARIANTS) {
    it(`[${variant}] timeoutMs Infinity means no practical timeout, not an immediate TIMEOUT`, async () => {
      const server = await startBadServer([]);
      const client = await connectZeromq(calculatorContract, {
        port: server.port,
        variant,
        timeoutMs: Number.POSITIVE_INFINITY,
      });
      try {
        assert.equal(await client.add(2, 5), 7);
      } finally {
        await client.close();
        server.close();
      }
    });
  }
});
