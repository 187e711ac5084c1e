/**
 * Runs examples/zeromq/server.ts and client.ts as child processes: the client prints 7. The
 * example client also gets 7 from the survey's Python server, and the survey's Python client
 * gets {'result': 7} from the example server.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { freePort } from '../../src/net/free-port.js';
import { runExample, startExampleServer } from '../support/examples.js';
import { peerScript, requirePeers, runPythonScript, startPythonPeer } from '../support/peers.js';

it('examples/zeromq: the client prints 7 from the server (and the survey client gets its reply)', async (t) => {
  const port = await freePort();
  const server = await startExampleServer('zeromq', 'server.ts', port);
  try {
    const client = await runExample('zeromq', 'client.ts', [String(port)]);
    assert.equal(client.code, 0, client.stderr);
    assert.equal(client.stdout.trim(), '7');
    if (!requirePeers(t)) return;
    const survey = await runPythonScript(peerScript('zeromq', 'client.py'), [String(port)]);
    assert.equal(survey.code, 0, survey.stderr);
    assert.equal(survey.stdout.trim(), "{'result': 7}");
  } finally {
    await server.stop();
  }
});

it('examples/zeromq: the pipelined client checks all its results', async () => {
  const port = await freePort();
  const server = await startExampleServer('zeromq', 'server.ts', port);
  try {
    const client = await runExample('zeromq', 'pipelined-client.ts', [String(port), '2000', '100']);
    assert.equal(client.code, 0, client.stderr);
    assert.match(client.stdout, /all 4000 results correct/);
  } finally {
    await server.stop();
  }
});

it("examples/zeromq: the client prints 7 from the survey's Python server", async (t) => {
  if (!requirePeers(t)) return;
  const port = await freePort();
  const peer = await startPythonPeer(peerScript('zeromq', 'server.py'), port);
  try {
    const client = await runExample('zeromq', 'client.ts', [String(port)]);
    assert.equal(client.code, 0, client.stderr);
    assert.equal(client.stdout.trim(), '7');
  } finally {
    await peer.stop();
  }
});
