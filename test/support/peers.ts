/**
 * Test-side access to the Python peers. Locally a missing venv skips interop tests with a
 * message; under CI=true it fails them, because interop is mandatory there.
 */
import { existsSync } from 'node:fs';
import type { TestContext } from 'node:test';
import { neovimPath } from '../../src/peers/neovim.js';
import { peersInstalled, peersPython, pythonForScript } from '../../src/peers/python.js';

export * from '../../src/peers/python.js';

export function requirePeers(t: TestContext): boolean {
  if (peersInstalled()) return true;
  const why = `Python peers missing (${peersPython}); run: bash scripts/setup-peers.sh`;
  if (process.env.CI === 'true') throw new Error(why);
  t.skip(why);
  return false;
}

/** As requirePeers, for a peer script with its own venv (.venv-peers/<dir>, from its requirements.txt). */
export function requirePeerScript(t: TestContext, script: string): boolean {
  const python = pythonForScript(script);
  if (existsSync(python)) return true;
  const why = `Python peer venv missing (${python}); run: bash scripts/setup-peers.sh`;
  if (process.env.CI === 'true') throw new Error(why);
  t.skip(why);
  return false;
}

/** Neovim (Debian's neovim, from peers/python/msgpackrpc/apt.txt): mandatory under CI=true. */
export function requireNeovim(t: TestContext): boolean {
  if (neovimPath() !== undefined) return true;
  const why =
    'nvim missing; run: bash scripts/setup-peers.sh (installs neovim from peers/python/msgpackrpc/apt.txt)';
  if (process.env.CI === 'true') throw new Error(why);
  t.skip(why);
  return false;
}
