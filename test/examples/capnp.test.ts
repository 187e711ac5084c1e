/**
 * Runs examples/capnp/ as child processes: against the example server, the client prints 7 and
 * the pipelining example prints a chained call pipelined on a not-yet-returned capability and a
 * callback the server made into it; the survey's pycapnp client (2.x form) gets 7 from the
 * example server. Against pycapnp: the client prints 7 from the survey's Python server, and the
 * pipelining example prints the same lines from the full Python server (the C++ RPC underneath).
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { freePort } from '../../src/net/free-port.js';
import { runExample, startExampleServer } from '../support/examples.js';
import { peerScript, requirePeerScript, runPythonScript, startPythonPeer } from '../support/peers.js';

const PIPELINING_OUTPUT = [
  'adder(5).adder.add(2) = 7 (pipelined: 3 questions sent before any reply)',
  'apply(multiply, 6, 7) = 42 (the server called multiply back: 1 call)',
];

it('examples/capnp: the client prints 7, the pipelining example its chained call and callback (the survey client gets 7 too)', async (t) => {
  const port = await freePort();
  const server = await startExampleServer('capnp', 'server.ts', port);
  try {
    const client = await runExample('capnp', 'client.ts', [String(port)]);
    assert.equal(client.code, 0, client.stderr);
    assert.equal(client.stdout.trim(), '7');
    const pipelining = await runExample('capnp', 'pipelining.ts', [String(port)]);
    assert.equal(pipelining.code, 0, pipelining.stderr);
    assert.deepEqual(pipelining.stdout.trim().split('\n'), PIPELINING_OUTPUT);
    const script = peerScript('capnp', 'client.py');
    if (!requirePeerScript(t, script)) return;
    const survey = await runPythonScript(script, [String(port)], { timeoutMs: 60_000 });
    assert.equal(survey.code, 0, survey.stderr);
    assert.equal(survey.stdout.trim(), '2 + 5 = 7');
  } finally {
    await server.stop();
  }
});

it("examples/capnp: the client prints 7 from the survey's Python server", async (t) => {
  const script = peerScript('capnp', 'server.py');
  if (!requirePeerScript(t, script)) return;
  const peer = await startPythonPeer(script, await freePort());
  try {
    const client = await runExample('capnp', 'client.ts', [String(peer.port)]);
    assert.equal(client.code, 0, client.stderr);
    assert.equal(client.stdout.trim(), '7');
  } finally {
    await peer.stop();
  }
});

it('examples/capnp: the pipelining example prints the same lines against the full pycapnp server', async (t) => {
  const script = peerScript('capnp', 'full_server.py');
  if (!requirePeerScript(t, script)) return;
  const peer = await startPythonPeer(script, await freePort());
  try {
    const pipelining = await runExample('capnp', 'pipelining.ts', [String(peer.port)]);
    assert.equal(pipelining.code, 0, pipelining.stderr);
    assert.deepEqual(pipelining.stdout.trim().split('\n'), PIPELINING_OUTPUT);
  } finally {
    await peer.stop();
  }
});
