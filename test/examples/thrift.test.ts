/** Runs examples/thrift/server.ts and client.ts as child processes: the client prints 7. */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { freePort } from '../../src/net/free-port.js';
import { runExample, startExampleServer } from '../support/examples.js';
import { peerScript, requirePeers, runPythonScript } from '../support/peers.js';

it('examples/thrift: the client prints 7 from the server', async () => {
  const port = await freePort();
  const server = await startExampleServer('thrift', 'server.ts', port);
  try {
    const client = await runExample('thrift', 'client.ts', [String(port)]);
    assert.equal(client.code, 0, client.stderr);
    assert.equal(client.stdout.trim(), '7');
  } finally {
    await server.stop();
  }
});

it("examples/thrift: the survey's Python client.py prints 7 from the TypeScript example server", async (t) => {
  if (!requirePeers(t)) return;
  const port = await freePort();
  const server = await startExampleServer('thrift', 'server.ts', port);
  try {
    const client = await runPythonScript(peerScript('thrift', 'client.py'), [String(port)]);
    assert.equal(client.code, 0, client.stderr);
    assert.equal(client.stdout.trim(), '7');
  } finally {
    await server.stop();
  }
});
