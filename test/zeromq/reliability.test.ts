/**
 * Reliability of both client variants: a server killed mid-call and restarted on the same
 * port, lost replies (lazy pirate: reset the socket, resend only idempotent calls), late
 * replies that must not be taken for another call's, a dead port, and close().
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { describe, it } from 'node:test';
import { calculatorContract, defineContract, RpcError } from '../../src/contract/index.js';
import { freePort } from '../../src/net/free-port.js';
import { peersPython, repoRoot } from '../../src/peers/python.js';
import { CallEngine } from '../../src/protocols/zeromq/client.js';
import { connectZeromq, ZEROMQ_VARIANTS } from '../../src/protocols/zeromq/index.js';
import type { ZmtpClient } from '../../src/protocols/zeromq/zmtp-client.js';
import { requirePeers } from '../support/peers.js';
import { startScriptedRouter } from './scripted-router.js';

/** The same add, declared not idempotent: a client must never resend it. */
const onceContract = defineContract({
  name: 'Once',
  namespace: 'once',
  methods: { add: { ...calculatorContract.methods.add, idempotent: false } },
});

function hasCode(...codes: string[]) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof RpcError, `expected an RpcError, got ${String(err)}`);
    assert.ok(codes.includes(err.code), `expected ${codes.join(' or ')}, got ${err.code}: ${err.message}`);
    return true;
  };
}

interface ServerProcess {
  readonly child: ChildProcess;
  /** Resolves when the server prints the given line. */
  waitFor(line: string): Promise<void>;
}

/** Our ROUTER server (echoes ids), or a Python REP server that ignores them as the survey's does. */
function startServerProcess(port: number, kind: 'ours' | 'python-rep' = 'ours'): ServerProcess {
  const fixtures = path.join(repoRoot, 'test', 'zeromq', 'fixtures');
  // node itself with tsx's loader (not the tsx binary, which would put a parent process
  // between us and the server, and SIGKILL would then miss the server).
  const [command, args] =
    kind === 'ours'
      ? [process.execPath, ['--import', 'tsx', path.join(fixtures, 'hanging-server.ts'), String(port)]]
      : [peersPython, [path.join(fixtures, 'hanging_rep_server.py'), String(port)]];
  const child = spawn(command, args, {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  const waiters: { line: string; resolve: () => void }[] = [];
  child.stdout!.on('data', (chunk: Buffer) => {
    out += chunk.toString();
    for (const w of [...waiters]) {
      if (out.split('\n').includes(w.line)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  });
  return {
    child,
    waitFor: (line) =>
      new Promise<void>((resolve, reject) => {
        if (out.split('\n').includes(line)) return resolve();
        const timer = setTimeout(() => reject(new Error(`server never printed "${line}"`)), 30_000);
        waiters.push({
          line,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        });
      }),
  };
}

function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

for (const variant of ZEROMQ_VARIANTS) {
  describe(`zeromq [${variant}] reliability`, () => {
    it('survives the server being killed mid-call and restarted on the same port', async () => {
      const port = await freePort();
      let server = startServerProcess(port);
      const client = await connectZeromq(calculatorContract, { port, variant, timeoutMs: 1_500 });
      try {
        await server.waitFor('ready');
        assert.equal(await client.add(1, 2), 3);
        const pending = client.add(666, 0);
        await server.waitFor('hanging');
        await kill(server.child);
        await assert.rejects(pending, hasCode('TIMEOUT', 'TRANSPORT'));
        server = startServerProcess(port);
        await server.waitFor('ready');
        assert.equal(await client.add(2, 5), 7, 'the same client object works after the restart');
      } finally {
        await client.close();
        await kill(server.child);
      }
    });

    for (const echoIds of [true, false]) {
      const peer = echoIds ? 'a peer echoing ids' : 'an id-ignoring peer (like REP)';

      it(`a lost reply: an idempotent call is resent and succeeds (${peer})`, async () => {
        const server = await startScriptedRouter({ echoIds, fate: (n) => (n === 2 ? 'drop' : 'answer') });
        const client = await connectZeromq(calculatorContract, {
          port: server.port,
          variant,
          timeoutMs: 3_000,
          retries: 2,
        });
        try {
          assert.equal(await client.add(1, 1), 2);
          assert.equal(await client.add(2, 5), 7, 'answered by the resend');
          assert.equal(server.seen.length, 3);
          assert.deepEqual(server.seen[2]!.params, [2, 5]);
          assert.equal(await client.add(3, 4), 7);
        } finally {
          await client.close();
          await server.close();
        }
      });

      it(`a lost reply: a non-idempotent call is not resent, fails with TIMEOUT, and the client goes on (${peer})`, async () => {
        const server = await startScriptedRouter({ echoIds, fate: (n) => (n === 2 ? 'drop' : 'answer') });
        const client = await connectZeromq(onceContract, { port: server.port, variant, timeoutMs: 1_500 });
        try {
          assert.equal(await client.add(1, 1), 2);
          await assert.rejects(client.add(2, 5), hasCode('TIMEOUT'));
          assert.equal(server.seen.length, 2, 'sent exactly once');
          assert.equal(await client.add(3, 4), 7, 'not wedged');
        } finally {
          await client.close();
          await server.close();
        }
      });

      it(`a late reply is never taken for the next call's (${peer})`, async () => {
        // Request 2's reply is held past its timeout and sent just before request 3's reply.
        const server = await startScriptedRouter({ echoIds, fate: (n) => (n === 2 ? 'hold' : 'answer') });
        const client = await connectZeromq(onceContract, { port: server.port, variant, timeoutMs: 1_500 });
        try {
          assert.equal(await client.add(1, 1), 2);
          await assert.rejects(client.add(100, 1), hasCode('TIMEOUT'));
          assert.equal(await client.add(2, 5), 7, 'not the late 101');
          assert.equal(await client.add(3, 4), 7);
        } finally {
          await client.close();
          await server.close();
        }
      });
    }

    it('a call to a dead port ends in TIMEOUT (ZeroMQ connects never fail)', async () => {
      const port = await freePort();
      const client = await connectZeromq(calculatorContract, { port, variant, timeoutMs: 400 });
      try {
        await assert.rejects(client.add(2, 5), hasCode('TIMEOUT'));
        // Queued calls too: each one ends within its own timeout.
        const many = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => client.add(i, i)));
        for (const r of many) assert.ok(r.status === 'rejected' && hasCode('TIMEOUT')(r.reason));
      } finally {
        await client.close();
      }
    });

    it('close() fails pending calls with TRANSPORT, and later calls too', async () => {
      const server = await startScriptedRouter({ echoIds: true, fate: () => 'drop' });
      const client = await connectZeromq(calculatorContract, {
        port: server.port,
        variant,
        timeoutMs: 10_000,
      });
      try {
        const pending = [client.add(1, 2), client.add(3, 4)];
        await client.close();
        for (const p of pending) await assert.rejects(p, hasCode('TRANSPORT'));
        await assert.rejects(client.add(1, 1), hasCode('TRANSPORT'));
      } finally {
        await client.close();
        await server.close();
      }
    });
  });
}

describe('zeromq [dealer] client while its peer is away', () => {
  it('calls that time out leave nothing behind in the send queue', async () => {
    // The peer echoes ids (so timeouts do not reset the socket), then goes away: the socket
    // keeps reconnecting and sends wait for a connection. Calls made meanwhile time out; their
    // messages must not stay queued client-side.
    const server = await startScriptedRouter({ echoIds: true });
    const engine = new CallEngine({
      variant: 'dealer',
      endpoint: server.address,
      contract: calculatorContract,
      timeoutMs: 1_000,
      retries: 0,
    });
    const socket = () => (engine as unknown as { socket: ZmtpClient }).socket;
    try {
      assert.equal(await engine.call('add', [2, 5]), 7);
      await server.close();
      for (let i = 0; i < 500 && socket().connected; i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(socket().connected, false, 'the disconnect was seen');
      const calls = Array.from({ length: 12_000 }, (_, i) => engine.call('echo', [new Uint8Array(i % 64)]));
      assert.equal(socket().backlog, 12_000, 'sends wait for a connection');
      const outcomes = await Promise.allSettled(calls);
      assert.ok(outcomes.every((o) => o.status === 'rejected' && hasCode('TIMEOUT')(o.reason)));
      assert.equal(socket().backlog, 0);
    } finally {
      await engine.close();
    }
  });
});

for (const variant of ZEROMQ_VARIANTS) {
  describe(`zeromq [${variant}] client, id-less REP peer restarted while a call is in flight`, () => {
    it("the new server's reply is never given to the call the old one lost", async (t) => {
      if (!requirePeers(t)) return;
      // Without ids, replies are matched by order. The old server took add(666, 0) with it;
      // the new one answers add(2, 5): that 7 must not become add(666, 0)'s result.
      const port = await freePort();
      let server = startServerProcess(port, 'python-rep');
      const client = await connectZeromq(onceContract, { port, variant, timeoutMs: 10_000 });
      try {
        await server.waitFor('ready');
        assert.equal(await client.add(1, 2), 3);
        const lost = client.add(666, 0);
        lost.catch(() => undefined); // it may fail before the assertion below is reached
        await server.waitFor('hanging');
        await kill(server.child);
        server = startServerProcess(port, 'python-rep');
        await server.waitFor('ready');
        const next = client.add(2, 5);
        next.catch(() => undefined); // judged below; not left unhandled if `lost` fails first
        // The disconnect tells the client that order is lost: TRANSPORT at once (before, the
        // dealer gave 7 to `lost`, and the req client waited out the 10 s timeout).
        await assert.rejects(
          lost,
          (err: unknown) => hasCode('TRANSPORT')(err) && /disconnected/.test(String(err)),
        );
        assert.equal(await next, 7);
      } finally {
        await client.close();
        await kill(server.child);
      }
    });
  });
}
