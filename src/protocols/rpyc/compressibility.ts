/**
 * A cheap guess at what zlib would make of a few KiB, so the sender's 'auto' compression can
 * judge a bulk payload by its first bytes without deflating them: zlib.deflateSync sets up a
 * fresh stream per call, and judging each 64 KiB or 1 MiB frame that way cost 30-60 µs of CPU
 * per frame, on both sides of an echo.
 *
 * The model is deflate's own: an LZ77 pass finds repeats of 4 or more bytes (each costing about
 * MATCH_COST bytes once coded), and the bytes left as literals cost their order-0 entropy, as
 * Huffman coding makes them. Tests hold its verdict to deflate's on text, random, zero-filled,
 * periodic, base64 and skewed samples.
 */

const HASH_BITS = 12;
const MIN_MATCH = 4;
const MAX_MATCH = 258;
/** Bytes a coded match takes in deflate's output (length and distance codes with extra bits). */
const MATCH_COST = 3;
/** Deflate's block headers and code tables, roughly, for a sample of a few KiB. */
const OVERHEAD_BYTES = 24;
/** Consecutive misses per extra byte of stride. */
const SKIP_SHIFT = 5;

const table = new Int32Array(1 << HASH_BITS);
const counts = new Uint32Array(256);

/** About how many bytes deflate (level 1) would turn `sample` into. */
export function estimatedDeflatedSize(sample: Uint8Array): number {
  const n = sample.length;
  table.fill(-1);
  counts.fill(0);
  let matches = 0;
  let covered = 0;
  // Literal positions looked at: their byte histogram stands for all uncovered bytes. After
  // a run of misses the scan steps further each time (as LZ4 does), so bytes with nothing
  // to find (random, already compressed) are judged from a few hundred positions.
  let seen = 0;
  let misses = 0;
  let i = 0;
  while (i + MIN_MATCH <= n) {
    const word = (sample[i]! | (sample[i + 1]! << 8) | (sample[i + 2]! << 16) | (sample[i + 3]! << 24)) >>> 0;
    const h = Math.imul(word, 2654435761) >>> (32 - HASH_BITS);
    const candidate = table[h]!;
    table[h] = i;
    if (
      candidate >= 0 &&
      sample[candidate] === sample[i] &&
      sample[candidate + 1] === sample[i + 1] &&
      sample[candidate + 2] === sample[i + 2] &&
      sample[candidate + 3] === sample[i + 3]
    ) {
      let length = MIN_MATCH;
      while (length < MAX_MATCH && i + length < n && sample[candidate + length] === sample[i + length])
        length++;
      matches++;
      covered += length;
      misses = 0;
      i += length;
      continue;
    }
    counts[sample[i]!]!++;
    seen++;
    misses++;
    i += 1 + (misses >>> SKIP_SHIFT);
  }
  if (seen === 0) return matches * MATCH_COST + OVERHEAD_BYTES;
  let bitsPerLiteral = 0;
  let distinct = 0;
  for (let b = 0; b < 256; b++) {
    const c = counts[b]!;
    if (c === 0) continue;
    distinct++;
    bitsPerLiteral -= (c / seen) * Math.log2(c / seen);
  }
  // A few hundred positions understate the entropy of what they stand for (random bytes cannot
  // show all 256 values in 300 samples): the Miller-Madow correction adds what is missed.
  bitsPerLiteral = Math.min(8, bitsPerLiteral + (distinct - 1) / (2 * seen * Math.LN2));
  return Math.ceil(((n - covered) * bitsPerLiteral) / 8) + matches * MATCH_COST + OVERHEAD_BYTES;
}
