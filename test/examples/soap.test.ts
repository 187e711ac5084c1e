/**
 * Runs examples/soap/server.ts and client.ts as child processes: the client prints 7 over SOAP
 * 1.1 and 1.2, the survey's zeep client prints 7 from the example server, and the example
 * client prints 7 from the survey's Spyne service.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { freePort } from '../../src/net/free-port.js';
import { runExample, startExampleServer } from '../support/examples.js';
import { peerScript, requirePeerScript, runPythonScript, startPythonPeer } from '../support/peers.js';

it('examples/soap: the client prints 7 from the server, over SOAP 1.1 and 1.2; zeep too', async (t) => {
  const port = await freePort();
  const server = await startExampleServer('soap', 'server.ts', port);
  try {
    for (const variant of ['soap11', 'soap12']) {
      const client = await runExample('soap', 'client.ts', [String(port), variant]);
      assert.equal(client.code, 0, client.stderr);
      assert.equal(client.stdout.trim(), '7');
    }
    if (!requirePeerScript(t, peerScript('soap', 'client.py'))) return;
    const zeep = await runPythonScript(peerScript('soap', 'client.py'), [String(port)], {
      timeoutMs: 60_000,
    });
    assert.equal(zeep.code, 0, zeep.stderr);
    assert.equal(zeep.stdout.trim(), '7');
  } finally {
    await server.stop();
  }
});

it("examples/soap: the client prints 7 from the survey's Spyne service", async (t) => {
  if (!requirePeerScript(t, peerScript('soap', 'server.py'))) return;
  const spyne = await startPythonPeer(peerScript('soap', 'server.py'), await freePort());
  try {
    const client = await runExample('soap', 'client.ts', [String(spyne.port)]);
    assert.equal(client.code, 0, client.stderr);
    assert.equal(client.stdout.trim(), '7');
  } finally {
    await spyne.stop();
  }
});
