/** Runs examples/rpyc/server.ts and client.ts as child processes: the client prints 7 (and 42 via a callback). */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { freePort } from '../../src/net/free-port.js';
import { runExample, startExampleServer } from '../support/examples.js';

it('examples/rpyc: the client prints 7 from the server, and 42 through a callback', async () => {
  const port = await freePort();
  const server = await startExampleServer('rpyc', 'server.ts', port);
  try {
    const client = await runExample('rpyc', 'client.ts', [String(port)]);
    assert.equal(client.code, 0, client.stderr);
    assert.equal(client.stdout.trim(), '7');
    const withCallback = await runExample('rpyc', 'client.ts', [String(port), '--callback']);
    assert.equal(withCallback.code, 0, withCallback.stderr);
    assert.deepEqual(withCallback.stdout.trim().split('\n'), ['7', '42']);
  } finally {
    await server.stop();
  }
});
