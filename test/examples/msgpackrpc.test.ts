/**
 * Runs examples/msgpackrpc/ as child processes: the client prints 7 from the server, and 43
 * with --callback (the server calls the client's mul back on the same connection); the survey's
 * Python client gets 7 from the example server, the example client gets 7 from the survey's
 * Python server, and the Neovim example prints nvim_eval("1+2") = 3.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { freePort } from '../../src/net/free-port.js';
import { startNeovim } from '../../src/peers/neovim.js';
import { runExample, startExampleServer } from '../support/examples.js';
import {
  peerScript,
  requireNeovim,
  requirePeerScript,
  runPythonScript,
  startPythonPeer,
} from '../support/peers.js';

it('examples/msgpackrpc: the client prints 7, and 43 through a call back (the survey client gets 7 too)', async (t) => {
  const port = await freePort();
  const server = await startExampleServer('msgpackrpc', 'server.ts', port);
  try {
    const client = await runExample('msgpackrpc', 'client.ts', [String(port)]);
    assert.equal(client.code, 0, client.stderr);
    assert.equal(client.stdout.trim(), '7');
    const callback = await runExample('msgpackrpc', 'client.ts', [String(port), '--callback']);
    assert.equal(callback.code, 0, callback.stderr);
    assert.deepEqual(callback.stdout.trim().split('\n'), ['7', '43']);
    const script = peerScript('msgpackrpc', 'client.py');
    if (!requirePeerScript(t, script)) return;
    const survey = await runPythonScript(script, [String(port)]);
    assert.equal(survey.code, 0, survey.stderr);
    assert.equal(survey.stdout.trim(), '7');
  } finally {
    await server.stop();
  }
});

it("examples/msgpackrpc: the client prints 7 from the survey's Python server", async (t) => {
  const script = peerScript('msgpackrpc', 'server.py');
  if (!requirePeerScript(t, script)) return;
  const port = await freePort();
  const peer = await startPythonPeer(script, port);
  try {
    const client = await runExample('msgpackrpc', 'client.ts', [String(port)]);
    assert.equal(client.code, 0, client.stderr);
    assert.equal(client.stdout.trim(), '7');
  } finally {
    await peer.stop();
  }
});

it('examples/msgpackrpc: the Neovim example prints nvim_eval("1+2") = 3', async (t) => {
  if (!requireNeovim(t)) return;
  const nvim = await startNeovim(await freePort());
  try {
    const run = await runExample('msgpackrpc', 'neovim.ts', [String(nvim.port)]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^nvim_eval\("1\+2"\) = 3\nchannel \d+, API level \d+$/m);
  } finally {
    await nvim.stop();
  }
});
