/**
 * Bytes on the wire per call are deterministic: two bytes-only passes over every row (each
 * registered protocol, its Python peer if any, the floor, gRPC and REST) give identical figures.
 * One figure is allowed to move: gRPC's set-up bytes. Its first reply carries an HTTP/2 Date
 * header that HPACK Huffman-codes, and the code of a digit is 5 or 6 bits, so that header is a
 * byte or two longer at some times of day than at others (seen: 268 and 269 bytes).
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { createProgress } from '../../src/bench/progress.js';
import { runBench } from '../../src/bench/run.js';
import { findScenario, QUICK_SETTINGS } from '../../src/bench/scenarios.js';

const chosen = ['add-1', 'echo-1KiB'].map((id) => findScenario(id)!);

async function bytesPass() {
  const results = await runBench({
    settings: QUICK_SETTINGS,
    scenarios: chosen,
    python: true,
    timing: false,
    command: 'test',
    progress: createProgress(0, process.stderr, true),
  });
  return results.wire;
}

it('bytes per call are identical across two runs', async () => {
  const a = await bytesPass();
  const b = await bytesPass();
  assert.ok(a.length >= 4, 'floor, gRPC, REST and at least one more row');
  for (const w of a) assert.equal(w.error, undefined, `${w.row}: ${w.error}`);
  const grpcSetup = (pass: typeof a) => pass.find((w) => w.row === 'grpc')!.kinds.map((k) => k.setupBytes);
  const [setupA, setupB] = [grpcSetup(a), grpcSetup(b)];
  for (const [i, bytes] of setupA.entries())
    assert.ok(
      Math.abs(bytes - setupB[i]!) <= 2,
      `gRPC set-up bytes ${bytes} and ${setupB[i]} differ by more than the Date header can`,
    );
  const clockFree = (pass: typeof a) =>
    pass.map((w) => (w.row === 'grpc' ? { ...w, kinds: w.kinds.map((k) => ({ ...k, setupBytes: 0 })) } : w));
  assert.deepEqual(clockFree(b), clockFree(a));
  const floor = a.find((w) => w.row === 'raw-tcp')!;
  // The floor's frames are known exactly: 4-byte length, 1-byte method or status, then the values.
  assert.deepEqual(
    floor.kinds.map((k) => [k.kind, k.requestBytes, k.responseBytes]),
    [
      ['add', 4 + 1 + 8, 4 + 1 + 4],
      ['echo-1KiB', 4 + 1 + 1024, 4 + 1 + 1024],
    ],
  );
});
