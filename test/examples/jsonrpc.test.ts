/** Runs examples/jsonrpc/server.ts and client.ts as child processes: the client prints 7. */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { freePort } from '../../src/net/free-port.js';
import { runExample, startExampleServer } from '../support/examples.js';

it('examples/jsonrpc: the client prints 7 from the server', async () => {
  const port = await freePort();
  const server = await startExampleServer('jsonrpc', 'server.ts', port);
  try {
    const client = await runExample('jsonrpc', 'client.ts', [String(port)]);
    assert.equal(client.code, 0, client.stderr);
    assert.equal(client.stdout.trim(), '7');
  } finally {
    await server.stop();
  }
});
