/**
 * The bench's reference rows serve the same Calculator as every protocol: gRPC and REST pass the
 * full conformance suite; the raw-TCP floor (no validation by design) answers the calls the bench makes.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { grpcReference, rawTcp, restReference } from '../../src/bench/reference/index.js';
import { calculator, calculatorContract, DivideByZeroError } from '../../src/contract/index.js';
import { conformanceSuite } from '../conformance/suite.js';

conformanceSuite(grpcReference, 'proto3');
conformanceSuite(restReference, 'json');

describe('raw-tcp floor', () => {
  it('answers add, divide, echo and keeps replies in order with many in flight', async () => {
    const server = await rawTcp.serve(calculatorContract, calculator, { port: 0 });
    const client = await rawTcp.connect(calculatorContract, { port: server.port, timeoutMs: 5_000 });
    try {
      assert.equal(await client.add(2, 5), 7);
      assert.equal(await client.divide(1, 4), 0.25);
      await assert.rejects(client.divide(1, 0), DivideByZeroError);
      const data = Uint8Array.from({ length: 3000 }, (_, i) => i & 255);
      assert.deepEqual([...(await client.echo(data))], [...data]);
      const big = new Uint8Array(2 * 1024 * 1024).fill(7);
      assert.equal((await client.echo(big)).byteLength, big.byteLength);
      const sums = await Promise.all(Array.from({ length: 64 }, (_, i) => client.add(i, i)));
      assert.deepEqual(
        sums,
        Array.from({ length: 64 }, (_, i) => 2 * i),
      );
    } finally {
      await client.close();
      await server.close();
    }
  });
});
