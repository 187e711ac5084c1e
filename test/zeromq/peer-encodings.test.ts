/**
 * Our client and server against msgpack written by other encoders: other integer widths,
 * string forms and container headers than @msgpack/msgpack and Python's msgpack choose.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { calculatorContract } from '../../src/contract/index.js';
import { connectZeromq } from '../../src/protocols/zeromq/index.js';
import { startScriptedRouter } from './scripted-router.js';

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
