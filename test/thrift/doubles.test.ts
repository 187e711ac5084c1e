/**
 * Doubles travel bit-exact in both encodings. thrift 0.24's own writeDouble loses the sign of
 * -0.0 and halves some tiny powers of two (found against the official Python library), so
 * library.ts writes doubles with Node's IEEE 754 writers; these vectors pin that down.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { calculator, calculatorContract } from '../../src/contract/index.js';
import { thrift } from '../../src/protocols/thrift/index.js';
import { type Encoding, encodeMessage, messageReader } from '../../src/protocols/thrift/library.js';

const VALUES = [
  -0,
  0,
  1,
  -1.5,
  0.1,
  1 / 3,
  Number.MIN_VALUE, // smallest subnormal
  2 ** -1022, // smallest normal
  2 ** -1021,
  2 ** -1020, // written as 2^-1021 by thrift 0.24
  2 ** -1000,
  -(2 ** -990),
  2 ** -990 * (1 + 2 ** -52),
  Number.MAX_VALUE,
  -Number.MAX_VALUE,
  Number.POSITIVE_INFINITY,
  Number.NEGATIVE_INFINITY,
];

function encodeDouble(encoding: Encoding, value: number): Buffer {
  return encodeMessage(encoding, false, (p) => p.writeDouble(value));
}

describe('thrift doubles', () => {
  it('are written as IEEE 754 bytes: big-endian (binary), little-endian (compact)', () => {
    for (const v of VALUES) {
      const be = Buffer.alloc(8);
      be.writeDoubleBE(v);
      const le = Buffer.alloc(8);
      le.writeDoubleLE(v);
      assert.deepEqual(encodeDouble('binary', v), be, `binary ${v}`);
      assert.deepEqual(encodeDouble('compact', v), le, `compact ${v}`);
    }
  });

  it('read back to the same value, -0.0 and NaN included', () => {
    for (const encoding of ['binary', 'compact'] as const) {
      for (const v of [...VALUES, Number.NaN]) {
        const back = messageReader(encoding, encodeDouble(encoding, v)).readDouble();
        assert.ok(Object.is(back, v), `${encoding}: ${v} came back as ${back}`);
      }
    }
  });

  it('divide keeps -0.0, NaN and infinities end to end in every variant', async () => {
    for (const variant of thrift.variants) {
      const server = await thrift.serve(calculatorContract, calculator, { port: 0, variant });
      const c = await thrift.connect(calculatorContract, { port: server.port, variant, timeoutMs: 10_000 });
      try {
        assert.ok(Object.is(await c.divide(-0, 5), -0), `${variant}: -0.0 / 5`);
        assert.ok(Object.is(await c.divide(0, -5), -0), `${variant}: 0.0 / -5`);
        assert.ok(Number.isNaN(await c.divide(Number.NaN, 1)), variant);
        assert.equal(await c.divide(Number.POSITIVE_INFINITY, 2), Number.POSITIVE_INFINITY);
        assert.equal(await c.divide(1e308, 1e-10), Number.POSITIVE_INFINITY);
        assert.equal(await c.divide(2 ** -1019, 2), 2 ** -1020);
      } finally {
        await c.close();
        await server.close();
      }
    }
  });
});
