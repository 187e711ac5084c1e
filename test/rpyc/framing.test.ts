import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import zlib from 'node:zlib';
import { payload as randomBytes } from '../../src/bench/scenarios.js';
import { RpcError } from '../../src/contract/errors.js';
import { dumpFramed, dumpFramedParts, SHARED_BYTES } from '../../src/protocols/rpyc/brine.js';
import {
  type Compression,
  compressedBody,
  encodeFrame,
  FrameDecoder,
  frameInPlace,
  framePartsInPlace,
} from '../../src/protocols/rpyc/framing.js';

const frame = (payload: Uint8Array, compress: Compression = true) =>
  Buffer.concat(encodeFrame(payload, compress));

function code(err: unknown): string | undefined {
  return err instanceof RpcError ? err.code : undefined;
}

describe('rpyc channel framing', () => {
  it("writes rpyc's header, the payload and the trailing newline", () => {
    const f = frame(Buffer.from('abc'));
    assert.equal(f.toString('hex'), `00000003${'00'}616263${'0a'}`);
  });

  it('compresses payloads over 3000 bytes with zlib, and inflates them back', () => {
    const payload = Buffer.alloc(5000, 0x61);
    const f = frame(payload);
    assert.equal(f[4], 1);
    assert.ok(f.length < 200);
    assert.ok(zlib.inflateSync(f.subarray(5, f.length - 1)).equals(payload));
    assert.deepEqual(new FrameDecoder(1 << 20).push(f), [payload]);
    assert.equal(frame(payload, false)[4], 0);
    assert.equal(frame(Buffer.alloc(3000))[4], 0);
  });

  it("chooses compression as told: always (rpyc's way), never, or only where it pays", () => {
    const random = Buffer.from(randomBytes(64 * 1024));
    const text = Buffer.from('the quick brown fox jumps over the lazy dog. '.repeat(2000));
    const smallText = text.subarray(0, 3500);
    // rpyc's own choice: everything over the threshold, even bytes that do not shrink.
    assert.equal(frame(random, true)[4], 1);
    assert.equal(frame(text, true)[4], 1);
    // Never.
    assert.equal(frame(text, false)[4], 0);
    // Only where it pays: random bytes go out as they are (no bigger frame), text shrinks.
    assert.equal(compressedBody(random, 'auto'), undefined);
    assert.equal(frame(random, 'auto')[4], 0);
    assert.equal(frame(random, 'auto').length, random.length + 6);
    assert.equal(frame(text, 'auto')[4], 1);
    assert.equal(frame(smallText, 'auto')[4], 1, 'a payload under the sample size is judged whole');
    assert.equal(frame(Buffer.alloc(3000), 'auto')[4], 0, 'at or under 3000 bytes never');
    // A compressible head on random bytes: the sample says yes, the whole says no, sent raw.
    const mixed = Buffer.concat([Buffer.alloc(4096), random]);
    assert.equal(frame(mixed, 'auto')[4], 1, 'still shrinks overall (the zeros)');
    const mostlyRandom = Buffer.concat([Buffer.alloc(4096), Buffer.from(randomBytes(4 * 1024 * 1024))]);
    assert.ok((compressedBody(mostlyRandom, 'auto')?.length ?? 0) < mostlyRandom.length);
    // Whatever was chosen, the frame reads back as the payload.
    for (const p of [random, text, smallText]) {
      for (const c of [true, false, 'auto'] as const) {
        assert.ok(new FrameDecoder(1 << 23).push(frame(p, c))[0]?.equals(p));
      }
    }
    // The in-place framing (what connections send) makes the same choice.
    const inPlace = (p: Buffer, c: Compression) => {
      const buf = Buffer.alloc(p.length + 6);
      p.copy(buf, 5);
      return Buffer.concat(frameInPlace(buf, c));
    };
    assert.equal(inPlace(random, 'auto')[4], 0);
    assert.equal(inPlace(text, 'auto')[4], 1);
    assert.ok(new FrameDecoder(1 << 20).push(inPlace(text, 'auto'))[0]?.equals(text));
    assert.equal(inPlace(random, true)[4], 1);
  });

  it('sends bulk bytes from their own memory, as the same frame the copying path builds', () => {
    const random = Buffer.from(randomBytes(256 * 1024));
    const text = Buffer.from('the quick brown fox jumps over the lazy dog. '.repeat(6000));
    const small = Buffer.from(randomBytes(SHARED_BYTES - 1));
    const copied = (value: Parameters<typeof dumpFramed>[0], c: Compression) =>
      Buffer.concat(frameInPlace(dumpFramed(value, 5, 1), c));
    for (const value of [
      [1, 7, [random]],
      [1, 7, [random, 'tail', text]],
      [1, 7, [small, 3]],
      [1, 7, [text, random]],
    ] as const) {
      for (const c of [true, false, 'auto'] as const) {
        const parts = framePartsInPlace(dumpFramedParts(value as never, 5, 1), c);
        assert.ok(Buffer.concat(parts).equals(copied(value as never, c)), `same frame (${c})`);
      }
    }
    // Uncompressed, a bulk payload is a part of the frame itself: not copied.
    const raw = framePartsInPlace(dumpFramedParts([1, 7, [random, 2]], 5, 1), 'auto');
    assert.ok(raw.some((p) => p.buffer === random.buffer && p.byteOffset === random.byteOffset));
    assert.equal(raw[0]![4], 0);
    // Under SHARED_BYTES, or when compression pays, the frame is one new buffer.
    const one = framePartsInPlace(dumpFramedParts([1, 7, [small]], 5, 1), 'auto');
    assert.equal(one.length, 1);
    assert.notEqual(one[0]!.buffer, small.buffer);
    const squeezed = framePartsInPlace(dumpFramedParts([1, 7, [text]], 5, 1), 'auto');
    assert.equal(squeezed[0]![4], 1);
    assert.ok(squeezed.every((p) => p.buffer !== text.buffer));
    // The sample is read across parts: a compressible head before random bytes still pays.
    const head = Buffer.alloc(8192);
    const mixed = framePartsInPlace(dumpFramedParts([1, 7, [head, random]], 5, 1), 'auto');
    assert.equal(mixed[0]![4], 1);
  });

  it('reassembles frames split at every byte, and several frames in one chunk', () => {
    const a = frame(Buffer.from('first'));
    const b = frame(Buffer.alloc(4000, 7));
    const all = Buffer.concat([a, b, a]);
    const dec = new FrameDecoder(1 << 20);
    const got: Buffer[] = [];
    for (let i = 0; i < all.length; i++) got.push(...dec.push(all.subarray(i, i + 1)));
    assert.equal(got.length, 3);
    assert.equal(got[0]?.toString(), 'first');
    assert.ok(got[1]?.equals(Buffer.alloc(4000, 7)));
    assert.equal(new FrameDecoder(1 << 20).push(all).length, 3);
  });

  it('holds a frame trickled a byte at a time in a few buffers, not one per byte', () => {
    // Each Buffer costs ~100 bytes besides its data: 16 MiB sent one byte per TCP segment would
    // otherwise hold gigabytes for a frame within the limit.
    const payload = Buffer.alloc(300_000);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 7) & 0xff;
    const whole = frame(payload, false);
    const dec = new FrameDecoder(1 << 20);
    const big = 100_000; // the middle arrives as one big chunk, the rest byte by byte
    for (let i = 0; i < 150_000; i++) assert.deepEqual(dec.push(whole.subarray(i, i + 1)), []);
    assert.ok(dec.bufferCount <= 24, `${dec.bufferCount} buffers for 150,000 one-byte chunks`);
    assert.deepEqual(dec.push(whole.subarray(150_000, 150_000 + big)), []);
    const got: Buffer[] = [];
    for (let i = 150_000 + big; i < whole.length; i++) got.push(...dec.push(whole.subarray(i, i + 1)));
    assert.equal(got.length, 1);
    assert.ok(got[0]?.equals(payload));
    assert.equal(dec.bufferCount, 0);
    // The next frame, trickled too, does not see the last one's bytes.
    const next = frame(Buffer.from('next'), false);
    const more: Buffer[] = [];
    for (let i = 0; i < next.length; i++) more.push(...dec.push(next.subarray(i, i + 1)));
    assert.deepEqual(
      more.map((b) => b.toString()),
      ['next'],
    );
    assert.ok(got[0]?.equals(payload), 'a payload handed out is not overwritten by later bytes');
  });

  it('keeps no staging buffer for ordinary traffic or once a frame is through', () => {
    // A 64 KiB staging buffer kept by every idle connection would cost 640 MB for 10,000 of them.
    const dec = new FrameDecoder(1 << 20);
    const small = frame(Buffer.from('hello'), false);
    for (let i = 0; i < 100; i++) {
      assert.equal(dec.push(small.subarray(0, 3)).length, 0);
      assert.equal(dec.push(small.subarray(3)).length, 1);
    }
    assert.equal(dec.stagingBytes, 0, 'a message in two pieces needs no staging');
    const big = frame(Buffer.alloc(1000, 1), false);
    for (let i = 0; i < big.length - 1; i++) dec.push(big.subarray(i, i + 1));
    assert.ok(dec.stagingBytes > 0, 'a trickled frame is staged');
    assert.equal(dec.push(big.subarray(big.length - 1)).length, 1);
    assert.equal(dec.stagingBytes, 0, 'and the staging buffer is let go once it is through');
  });

  it('refuses a frame announcing more than the limit before buffering it', () => {
    const dec = new FrameDecoder(1024);
    assert.throws(
      () => dec.push(Buffer.from('0000040100', 'hex')),
      (e: unknown) => code(e) === 'MESSAGE_TOO_LARGE',
    );
  });

  it('refuses a compressed frame that inflates past the limit (zip bomb)', () => {
    const bomb = frame(Buffer.alloc(64 * 1024));
    assert.ok(bomb.length < 1024);
    assert.throws(
      () => new FrameDecoder(1024).push(bomb),
      (e: unknown) => code(e) === 'MESSAGE_TOO_LARGE',
    );
  });

  it('refuses a bad compression flag and a corrupt zlib stream', () => {
    assert.throws(
      () => new FrameDecoder(1024).push(Buffer.from('00000001076100', 'hex')),
      (e: unknown) => code(e) === 'PROTOCOL',
    );
    assert.throws(
      () => new FrameDecoder(1024).push(Buffer.from('0000000301ffffff0a', 'hex')),
      (e: unknown) => code(e) === 'PROTOCOL',
    );
  });

  it('with onOversized, reads past an oversized frame unbuffered and reports its start once', () => {
    const seen: Array<{ size: number; head: string }> = [];
    const dec = new FrameDecoder(1024, (f) => seen.push({ size: f.size, head: f.head.toString('latin1') }));
    const big = Buffer.alloc(2000, 0x62);
    big.write('start-of-the-message', 0, 'latin1');
    const all = Buffer.concat([frame(big, false), frame(Buffer.from('next'))]);
    const got: Buffer[] = [];
    for (let i = 0; i < all.length; i += 7) got.push(...dec.push(all.subarray(i, i + 7)));
    assert.deepEqual(seen, [{ size: 2000, head: `start-of-the-message${'b'.repeat(44)}` }]);
    assert.deepEqual(
      got.map((b) => b.toString()),
      ['next'],
    );
  });

  it('with onOversized, reports a frame inflating past the limit with its inflated start', () => {
    const seen: Buffer[] = [];
    const dec = new FrameDecoder(1024, (f) => seen.push(f.head));
    const payload = Buffer.concat([Buffer.from('HEAD'), Buffer.alloc(64 * 1024)]);
    assert.deepEqual(dec.push(Buffer.concat([frame(payload), frame(Buffer.from('ok'))])), [
      Buffer.from('ok'),
    ]);
    assert.equal(seen.length, 1);
    assert.equal(seen[0]!.subarray(0, 4).toString(), 'HEAD');
  });

  it('with onOversized, still refuses a frame announcing more than 4 times the limit', () => {
    const dec = new FrameDecoder(1024, () => assert.fail('not reported'));
    assert.throws(
      () => dec.push(Buffer.from('0000100100', 'hex')),
      (e: unknown) => code(e) === 'MESSAGE_TOO_LARGE',
    );
  });
});
