/**
 * The 'auto' sender judges a bulk payload by a model of deflate (compressibility.ts) instead of
 * deflating its first 4 KiB: the model's verdict must be deflate's own wherever the sample is
 * clearly on one side of the 10% threshold, whatever kind of bytes it holds.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import zlib from 'node:zlib';
import { payload } from '../../src/bench/scenarios.js';
import { estimatedDeflatedSize } from '../../src/protocols/rpyc/compressibility.js';
import { COMPRESSION_PAYS_RATIO, COMPRESSION_SAMPLE_BYTES } from '../../src/protocols/rpyc/framing.js';

const N = COMPRESSION_SAMPLE_BYTES;

/** A deterministic generator, so a failure reproduces. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}
const bytesOf = (f: (i: number) => number) => Buffer.from(Array.from({ length: N }, (_, i) => f(i) & 0xff));

function samples(seed: number): Record<string, Buffer> {
  const r = rng(seed);
  const random = bytesOf(() => Math.floor(r() * 256));
  return {
    random,
    'bench payload': Buffer.from(payload(N)),
    text: Buffer.from('the quick brown fox jumps over the lazy dog. '.repeat(100)).subarray(0, N),
    zeros: Buffer.alloc(N),
    'period 256': bytesOf((i) => i * 7919 + 13),
    base64: Buffer.from(random.toString('base64')).subarray(0, N),
    hex: Buffer.from(random.toString('hex')).subarray(0, N),
    'random letters': bytesOf(() => 97 + Math.floor(r() * 26)),
    'mostly zeros': bytesOf(() => (r() < 0.8 ? 0 : Math.floor(r() * 256))),
    json: Buffer.from(
      JSON.stringify(Array.from({ length: 300 }, (_, i) => ({ id: i, ok: i % 3 === 0 }))),
    ).subarray(0, N),
    'half zeros': Buffer.concat([Buffer.alloc(N / 2), random.subarray(N / 2)]),
    '16 values': bytesOf(() => Math.floor(r() * 16)),
    '200 values': bytesOf(() => Math.floor(r() * 200)),
    'repeated random block': Buffer.concat(Array.from({ length: 8 }, () => random.subarray(0, N / 8))),
  };
}

describe('rpyc compression model', () => {
  it("agrees with deflate's verdict on every kind of bytes clearly either side of the threshold", () => {
    let judged = 0;
    for (const seed of [1, 2, 3]) {
      for (const [name, sample] of Object.entries(samples(seed))) {
        assert.equal(sample.length, N, name);
        const real = zlib.deflateSync(sample, { level: 1 }).length / N;
        const estimate = estimatedDeflatedSize(sample) / N;
        // Near the threshold either verdict costs little: the whole payload is still only
        // sent compressed when that frame is smaller.
        if (Math.abs(real - COMPRESSION_PAYS_RATIO) < 0.03) continue;
        judged++;
        assert.equal(
          estimate <= COMPRESSION_PAYS_RATIO,
          real <= COMPRESSION_PAYS_RATIO,
          `${name} (seed ${seed}): deflate ${real.toFixed(3)}, model ${estimate.toFixed(3)}`,
        );
      }
    }
    assert.ok(judged >= 36, `${judged} samples judged`);
  });

  it('sizes what deflate makes of random, text and zeros within reason', () => {
    const s = samples(7);
    const ratio = (b: Buffer) => estimatedDeflatedSize(b) / b.length;
    assert.ok(ratio(s.random!) > 0.95, `random ${ratio(s.random!)}`);
    assert.ok(ratio(s.text!) < 0.1, `text ${ratio(s.text!)}`);
    assert.ok(ratio(s.zeros!) < 0.05, `zeros ${ratio(s.zeros!)}`);
    assert.ok(ratio(s.hex!) > 0.4 && ratio(s.hex!) < 0.6, `hex ${ratio(s.hex!)}`);
  });
});
