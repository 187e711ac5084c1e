/**
 * Test-side access to the Python peers. Locally a missing venv skips interop tests with a
 * message; under CI=true it fails them, because interop is mandatory there.
 */
import type { TestContext } from 'node:test';
import { peersInstalled, peersPython } from '../../src/peers/python.js';

export * from '../../src/peers/python.js';

export function requirePeers(t: TestContext): boolean {
  if (peersInstalled()) return true;
  const why = `Python peers missing (${peersPython}); run: bash scripts/setup-peers.sh`;
  if (process.env.CI === 'true') throw new Error(why);
  t.skip(why);
  return false;
}
