/**
 * The chained-call scenarios (what promise pipelining buys): the delay relay relays bytes intact
 * and in order and stays on loopback; the round-trip counter counts the client's waits, not its
 * messages; and a quick bench run over the Cap'n Proto rows (ours and pycapnp's) counts 2 round
 * trips per awaited chained call and 1 per pipelined one, directly and through the delay relay,
 * and shows them in the report. Correctness only: no timing thresholds.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import * as rpc from 'capnp-es/capnp/rpc';
import { RoundTripCounter } from '../../src/bench/chain.js';
import { DOCS_BEGIN, DOCS_END, writeDocs } from '../../src/bench/report.js';
import type { BenchResults } from '../../src/bench/results.js';
import { findScenario } from '../../src/bench/scenarios.js';
import { benchCommand } from '../../src/cli/commands/bench.js';
import { isLoopback, startDelayRelay } from '../../src/net/delay-relay.js';
import { peerScript, pythonForScript, requirePeerScript } from '../support/peers.js';

function echoServer(): Promise<net.Server> {
  const server = net.createServer((s) => s.pipe(s));
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

const portOf = (server: net.Server) => (server.address() as net.AddressInfo).port;

/** Sends `data` through the relay to an echo server and reads it all back. */
function roundTrip(port: number, chunks: readonly Buffer[]): Promise<Buffer> {
  const total = chunks.reduce((n, c) => n + c.length, 0);
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const got: Buffer[] = [];
    let n = 0;
    socket.on('data', (c: Buffer) => {
      got.push(c);
      n += c.length;
      if (n >= total) {
        socket.end();
        resolve(Buffer.concat(got));
      }
    });
    socket.on('error', reject);
    for (const c of chunks) socket.write(c);
  });
}

describe('delay relay', () => {
  it('relays every byte in order, both ways, and lets an observer see them', async () => {
    const server = await echoServer();
    const seen = { toServer: 0, toClient: 0 };
    const relay = await startDelayRelay({
      target: { host: '127.0.0.1', port: portOf(server) },
      delayMs: 2,
      observe: (_connection, direction, chunk) => {
        seen[direction] += chunk.length;
      },
    });
    try {
      const chunks = Array.from({ length: 50 }, (_, i) => Buffer.alloc(1000 + i * 37, i));
      const back = await roundTrip(relay.port, chunks);
      assert.ok(back.equals(Buffer.concat(chunks)), 'the echoed bytes differ');
      assert.equal(seen.toServer, back.length);
      assert.equal(seen.toClient, back.length);
      assert.equal(relay.connections(), 1);
      assert.ok(relay.held().chunks > 0);
    } finally {
      await relay.close();
      server.close();
    }
  });

  it('pauses a sender past its queue bound and still delivers everything', async () => {
    const server = await echoServer();
    const relay = await startDelayRelay({
      target: { host: '127.0.0.1', port: portOf(server) },
      delayMs: 1,
      maxQueuedBytes: 4096,
    });
    try {
      const chunks = Array.from({ length: 64 }, (_, i) => Buffer.alloc(16 * 1024, i));
      const back = await roundTrip(relay.port, chunks);
      assert.ok(back.equals(Buffer.concat(chunks)));
    } finally {
      await relay.close();
      server.close();
    }
  });

  it('works on loopback only, with a bounded delay', async () => {
    assert.ok(isLoopback('127.0.0.1') && isLoopback('::1') && isLoopback('localhost'));
    assert.ok(!isLoopback('0.0.0.0') && !isLoopback('10.0.0.1') && !isLoopback('example.org'));
    await assert.rejects(
      startDelayRelay({ target: { host: '10.0.0.1', port: 7000 }, delayMs: 2 }),
      /loopback/,
    );
    await assert.rejects(
      startDelayRelay({ target: { host: '127.0.0.1', port: 7000 }, delayMs: 2, listenHost: '0.0.0.0' }),
      /loopback/,
    );
    await assert.rejects(
      startDelayRelay({ target: { host: '127.0.0.1', port: 7000 }, delayMs: 5_000 }),
      /delayMs/,
    );
    await assert.rejects(
      startDelayRelay({ target: { host: '127.0.0.1', port: 7000 }, delayMs: 1.5 }),
      /delayMs/,
    );
  });
});

describe('round-trip counter', () => {
  const { BOOTSTRAP, CALL, RETURN, FINISH, RELEASE } = rpc.Message;

  it('counts the waits between calls, not the messages', () => {
    const c = new RoundTripCounter();
    // Awaited: Call, its Return, then the call on the returned capability and its Return.
    for (const [d, m] of [
      ['toServer', CALL],
      ['toClient', RETURN],
      ['toServer', FINISH],
      ['toServer', CALL],
      ['toClient', RETURN],
      ['toServer', FINISH],
      ['toServer', RELEASE],
    ] as const)
      c.record(1, d, m);
    assert.equal(c.roundTrips(), 2);
    assert.deepEqual(c.messages(), {
      'client CALL': 2,
      'server RETURN': 2,
      'client FINISH': 2,
      'client RELEASE': 1,
    });
    c.reset();
    // Pipelined: both calls leave before any Return.
    for (const [d, m] of [
      ['toServer', CALL],
      ['toServer', CALL],
      ['toClient', RETURN],
      ['toServer', FINISH],
      ['toClient', RETURN],
      ['toServer', FINISH],
    ] as const)
      c.record(1, d, m);
    assert.equal(c.roundTrips(), 1);
  });

  it('counts a Bootstrap as a question and keeps connections apart', () => {
    const c = new RoundTripCounter();
    c.record(1, 'toServer', BOOTSTRAP);
    c.record(2, 'toServer', CALL);
    c.record(1, 'toServer', CALL);
    c.record(2, 'toClient', RETURN);
    c.record(1, 'toClient', RETURN);
    c.record(1, 'toServer', CALL);
    assert.equal(c.roundTrips(), 3);
  });
});

describe('rpclab bench: chained calls, awaited vs pipelined', () => {
  const out = mkdtempSync(path.join(os.tmpdir(), 'rpclab-bench-chain-'));
  after(() => rmSync(out, { recursive: true, force: true }));
  const asked = ['chain-awaited', 'chain-pipelined', 'chain-awaited-2ms', 'chain-pipelined-2ms'];

  it('the scenarios exist and say how the second call is made', () => {
    for (const id of asked) assert.ok(findScenario(id)?.chain, id);
    assert.equal(findScenario('chain-pipelined-2ms')?.chain?.delayMs, 2);
    assert.equal(findScenario('chain-awaited')?.chain?.mode, 'awaited');
  });

  it('counts 2 round trips awaited and 1 pipelined, for our server and pycapnp, and reports them', async (t) => {
    const script = peerScript('capnp', 'full_server.py');
    // pycapnp's row is mandatory under CI=true (requirePeerScript throws there); locally it may be missing.
    const python = existsSync(pythonForScript(script));
    if (!python) t.diagnostic("pycapnp peer missing: only our server's row runs");
    if (!python && process.env.CI === 'true') requirePeerScript(t, script);
    const code = await benchCommand.run([
      '--quick',
      '--quiet',
      '--out',
      out,
      '--protocols',
      'capnp',
      '--scenarios',
      asked.join(','),
      ...(python ? [] : ['--no-python']),
    ]);
    assert.equal(code, 0);
    const results = JSON.parse(readFileSync(path.join(out, 'results.json'), 'utf8')) as BenchResults;
    const rows = ['capnp', ...(python ? ['capnp@python'] : [])];
    assert.deepEqual(results.rows.map((r) => r.id).sort(), ['raw-tcp', ...rows].sort());
    for (const row of results.rows) assert.equal(row.error, undefined, `${row.id}: ${row.error}`);
    for (const c of results.cells) {
      const at = `${c.row} ${c.scenario}`;
      if (c.row === 'raw-tcp') {
        assert.match(c.skipped ?? '', /capability/, `${at} should sit out`);
        continue;
      }
      assert.equal(c.error, undefined, `${at}: ${c.error}`);
      assert.equal(c.roundTripsPerCall, c.scenario.startsWith('chain-pipelined') ? 1 : 2, at);
      assert.ok((c.callsPerSec?.median ?? 0) > 0 && (c.latencyUs?.p50 ?? 0) > 0, at);
      if (c.scenario.endsWith('-2ms')) assert.ok((c.relayHeldMeanMs ?? 0) >= 2, `${at}: held`);
      else assert.equal(c.relayHeldMeanMs, undefined, at);
    }
    for (const row of rows) {
      const kinds = results.wire.find((w) => w.row === row)?.kinds ?? [];
      assert.deepEqual(kinds.map((k) => k.kind).sort(), ['chain-awaited', 'chain-pipelined']);
      for (const k of kinds) {
        // Two calls and two returns per chained call either way: pipelining saves waits, not messages.
        assert.equal(k.messagesPerCall?.['client CALL'], 2, `${row} ${k.kind}`);
        assert.equal(k.messagesPerCall?.['server RETURN'], 2, `${row} ${k.kind}`);
      }
    }

    const report = readFileSync(path.join(out, 'report.md'), 'utf8');
    assert.ok(report.includes('## Pipelining: a chained call'));
    assert.ok(report.includes('+2 ms each way'), 'the report says the delay relay was used');
    assert.ok(report.includes('charts/pipelining.svg'));
    assert.ok(existsSync(path.join(out, 'charts', 'pipelining.svg')));
    for (const id of asked) assert.ok(report.includes(`### ${id}:`), `report.md lacks scenario ${id}`);
    assert.ok(!report.includes('NaN') && !report.includes('undefined'));
    const section = report.slice(report.indexOf('## Pipelining'), report.indexOf('## Scenarios'));
    const lines = section.split('\n').filter((l) => l.startsWith("| Cap'n Proto"));
    assert.equal(lines.length, rows.length * 2, 'a loopback line and a delayed line per row');
    for (const line of lines) {
      const cells = line.split('|').map((x) => x.trim());
      assert.deepEqual([cells[3], cells[4]], ['2', '1'], line);
    }

    const doc = path.join(out, 'performance.md');
    writeFileSync(doc, `# Performance\n\n${DOCS_BEGIN}\n${DOCS_END}\n`);
    writeDocs(results, doc);
    const page = readFileSync(doc, 'utf8');
    assert.ok(page.includes('### Pipelining: a chained call') && page.includes('](bench/pipelining.svg)'));
  });
});
