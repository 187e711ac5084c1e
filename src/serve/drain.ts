/** Graceful shutdown of any registered protocol's server, through the Protocol interface. */
import type { RunningServer } from '../protocols/types.js';

/** How long a drain waits for calls in progress before it cuts them (the 10 s). */
export const DEFAULT_GRACE_MS = 10_000;

/**
 * Stops accepting, lets the calls in progress be answered for up to `graceMs`, then closes.
 * A server without drain() is closed at once (its in-progress calls fail with TRANSPORT).
 */
export async function drainServer(server: RunningServer, graceMs = DEFAULT_GRACE_MS): Promise<void> {
  try {
    if (server.drain !== undefined) await server.drain(graceMs);
  } finally {
    await server.close();
  }
}
