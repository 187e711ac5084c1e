/**
 * Fuzzer for the ZeroMQ row: our ROUTER server (msgpack and ZMTP layers) and our REQ/DEALER
 * clients (mutated replies). Loopback only, seeded, bounded by iterations and wall-clock time.
 *
 *   npx tsx scripts/fuzz/zeromq.ts [--target=msg|zmtp|client-req|client-dealer|all]
 *       [--seed=1] [--iterations=5000] [--budget-ms=120000] [--batch=200]
 *
 * Server targets run the server in a child process (`--serve`), so a crash, an uncaught
 * exception or memory growth is seen from outside. After each batch the harness checks: the
 * process is alive, a fresh client's add(2, 5) is 7 (10 s bound), the live JS heap after a
 * forced GC (sampled every 2 s) is under 300 MB and RSS under 1 GB over its size after the
 * first batch (V8 collects lazily: garbage alone took RSS up by 400 MB), nothing reached the
 * child's fatal handlers.
 * A steady client (DEALER for odd seeds, REQ for even) calls add throughout each batch and
 * must always get the right sum. "msg" also checks every request gets a well-formed reply ({result} or {error: {code}}).
 * Client targets point our client at a fake ROUTER answering with mutated replies: every call
 * must settle within its timeout (plus 2 s; a deadline counts from the call, queueing in a
 * REQ client included) as a value or an RpcError, never an uncaught error.
 * Exit code 1 and a "FAIL" line on the first broken check; the seed and iteration reproduce it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { Dealer, Request, Router } from 'zeromq';
import { calculator, calculatorContract, RpcError } from '../../src/contract/index.js';
import { bodyStart } from '../../src/protocols/zeromq/envelope.js';
import { connectZeromq, serveZeromq } from '../../src/protocols/zeromq/index.js';
import { decodeValue, encodeValue } from '../../src/protocols/zeromq/msgpack.js';

import { option, prng } from './common.js';

const SELF = new URL(import.meta.url).pathname;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function fail(why: string): never {
  console.log(`FAIL ${why}`);
  process.exit(1);
}

// ---------------------------------------------------------------------------------------------
// The server under test, in a child process.

async function serveChild(): Promise<void> {
  const fatal = (kind: string) => (err: unknown) => {
    console.error(`FUZZ-FATAL ${kind}:`, err);
    process.exit(70);
  };
  process.on('uncaughtException', fatal('uncaughtException'));
  process.on('unhandledRejection', fatal('unhandledRejection'));
  const server = await serveZeromq(calculatorContract, calculator, { port: 0 });
  console.log(`PORT ${server.port}`);
  // Gone with the harness, however it ends (its end of stdin closes).
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
  // Live memory after a full GC (V8 collects lazily: the heap of garbage from small bad
  // messages swung between 14 and 260 MB, so RSS alone cannot tell growth from garbage).
  setInterval(() => {
    (globalThis as { gc?: () => void }).gc?.();
    const m = process.memoryUsage();
    const mb = (x: number) => (x / 2 ** 20).toFixed(0);
    console.log(`MEM live heap ${mb(m.heapUsed)} MB (of ${mb(m.heapTotal)}), external ${mb(m.external)} MB`);
  }, 2_000).unref();
}

interface Child {
  readonly proc: ChildProcess;
  readonly port: number;
  readonly stderr: string[];
  readonly mem: { last: string };
}

async function startChild(): Promise<Child> {
  const proc = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', SELF, '--serve'], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const stderr: string[] = [];
  proc.stderr!.on('data', (d: Buffer) => stderr.push(d.toString()));
  const mem = { last: '' };
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /PORT (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
      const lines = out.match(/MEM [^\n]*/g);
      if (lines) mem.last = lines[lines.length - 1]!;
      if (out.length > 10_000) out = out.slice(-1_000);
    });
    proc.once('exit', (code) => reject(new Error(`server exited (${code}): ${stderr.join('')}`)));
  });
  return { proc, port, stderr, mem };
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : 0;
}

async function checkHealth(child: Child, where: string, baseline: { rss?: number }): Promise<number> {
  if (child.proc.exitCode !== null || child.proc.signalCode !== null) {
    fail(`${where}: server died (${child.proc.exitCode ?? child.proc.signalCode}): ${child.stderr.join('')}`);
  }
  const errors = child.stderr.join('');
  if (/FUZZ-FATAL|Uncaught|unhandled/i.test(errors)) fail(`${where}: server stderr: ${errors}`);
  const client = await connectZeromq(calculatorContract, { port: child.port, timeoutMs: 10_000, retries: 0 });
  try {
    const v = await client.add(2, 5);
    if (v !== 7) fail(`${where}: add(2, 5) = ${String(v)}`);
  } catch (err) {
    fail(`${where}: add(2, 5) failed: ${String(err)}`);
  } finally {
    await client.close();
  }
  const rss = rssMb(child.proc.pid!);
  baseline.rss ??= rss;
  if (rss > baseline.rss + 1_000)
    fail(`${where}: RSS ${rss.toFixed(0)} MB, ${baseline.rss.toFixed(0)} MB after batch 1`);
  const live = Number(/live heap (\d+)/.exec(child.mem.last)?.[1] ?? 0);
  if (live > 300) fail(`${where}: ${live} MB of live heap after a GC (${child.mem.last})`);
  return rss;
}

// ---------------------------------------------------------------------------------------------
// msgpack mutations.

/** Representatives of every msgpack format byte family (and the never-used 0xc1). */
const TYPE_BYTES = [
  0x00, 0x7f, 0x80, 0x81, 0x8f, 0x90, 0x91, 0x9f, 0xa0, 0xa5, 0xbf, 0xc0, 0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6,
  0xc7, 0xc8, 0xc9, 0xca, 0xcb, 0xcc, 0xcd, 0xce, 0xcf, 0xd0, 0xd1, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8,
  0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0xe0, 0xff,
];

/** Offsets of value headers, and where a length field sits (offset, width), by a lenient walk. */
function headers(b: Uint8Array): { at: number[]; lengths: [number, number][] } {
  const at: number[] = [];
  const lengths: [number, number][] = [];
  let p = 0;
  const lenField = (w: number): number => {
    lengths.push([p + 1, w]);
    let n = 0;
    for (let i = 0; i < w; i++) n = n * 256 + (b[p + 1 + i] ?? 0);
    return n;
  };
  while (p < b.length && at.length < 10_000) {
    at.push(p);
    const t = b[p]!;
    if (t <= 0x7f || t >= 0xe0 || (t >= 0x80 && t <= 0x9f) || (t >= 0xc0 && t <= 0xc3)) p += 1;
    else if (t >= 0xa0 && t <= 0xbf) p += 1 + (t & 0x1f);
    else if (t === 0xc4 || t === 0xd9) p += 2 + lenField(1);
    else if (t === 0xc5 || t === 0xda) p += 3 + lenField(2);
    else if (t === 0xc6 || t === 0xdb) p += 5 + lenField(4);
    else if (t === 0xc7) p += 3 + lenField(1);
    else if (t === 0xc8) p += 4 + lenField(2);
    else if (t === 0xc9) p += 6 + lenField(4);
    else if (t === 0xca || t === 0xce || t === 0xd2) p += 5;
    else if (t === 0xcb || t === 0xcf || t === 0xd3) p += 9;
    else if (t === 0xcc || t === 0xd0) p += 2;
    else if (t === 0xcd || t === 0xd1) p += 3;
    else if (t >= 0xd4 && t <= 0xd8) p += 2 + [1, 2, 4, 8, 16][t - 0xd4]!;
    else if (t === 0xdc || t === 0xde) {
      lenField(2);
      p += 3;
    } else {
      lenField(4);
      p += 5;
    }
  }
  return { at, lengths };
}

/** A random msgpack value as bytes, hand-built so every format (and ext) appears. */
function randomValue(rnd: () => number, depth = 0): Buffer {
  const pick = Math.floor(rnd() * 16);
  const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => Math.floor(rnd() * 256)));
  switch (pick) {
    case 0:
      return Buffer.from([Math.floor(rnd() * 256)]);
    case 1:
      return Buffer.concat([Buffer.from([0xcf]), bytes(8)]);
    case 2:
      return Buffer.concat([Buffer.from([0xd3]), bytes(8)]);
    case 3:
      return Buffer.concat([Buffer.from([0xcb]), bytes(8)]);
    case 4:
      return Buffer.concat([Buffer.from([0xca]), bytes(4)]);
    case 5: {
      const n = Math.floor(rnd() * 40);
      return Buffer.concat([Buffer.from([0xd9, n]), bytes(n)]);
    }
    case 6: {
      const n = Math.floor(rnd() * 40);
      return Buffer.concat([Buffer.from([0xc4, n]), bytes(n)]);
    }
    case 7: {
      const t = [1, 2, 4, 8, 16][Math.floor(rnd() * 5)]!;
      return Buffer.concat([
        Buffer.from([0xd4 + [1, 2, 4, 8, 16].indexOf(t), Math.floor(rnd() * 256)]),
        bytes(t),
      ]);
    }
    case 8: {
      const n = Math.floor(rnd() * 20);
      return Buffer.concat([Buffer.from([0xc7, n, Math.floor(rnd() * 256)]), bytes(n)]);
    }
    case 9: {
      // The timestamp extension, in its three sizes, with arbitrary (maybe invalid) payloads.
      const n = [4, 8, 12][Math.floor(rnd() * 3)]!;
      return Buffer.concat([
        n === 12 ? Buffer.from([0xc7, 12, 0xff]) : Buffer.from([n === 4 ? 0xd6 : 0xd7, 0xff]),
        bytes(n),
      ]);
    }
    case 10: {
      if (depth > 4) return Buffer.from([0xc0]);
      const n = Math.floor(rnd() * 4);
      const items = Array.from({ length: n }, () => randomValue(rnd, depth + 1));
      return Buffer.concat([Buffer.from([0x90 | n]), ...items]);
    }
    case 11: {
      if (depth > 4) return Buffer.from([0xc2]);
      const n = Math.floor(rnd() * 3);
      const items = Array.from({ length: n }, () => [randomKey(rnd), randomValue(rnd, depth + 1)]).flat();
      return Buffer.concat([Buffer.from([0x80 | n]), ...items]);
    }
    case 12: {
      // Deep nesting around the depth limit of 100.
      const d = 95 + Math.floor(rnd() * 10);
      return Buffer.concat([Buffer.alloc(d, rnd() < 0.5 ? 0x91 : 0xdc), Buffer.from([0x01])]);
    }
    case 13:
      return Buffer.from([0xc3]);
    case 14:
      return Buffer.from(encodeValue('x'.repeat(Math.floor(rnd() * 300))));
    default:
      return Buffer.from([0xc0]);
  }
}

function randomKey(rnd: () => number): Buffer {
  const keys = [
    'method',
    'params',
    'id',
    'result',
    'error',
    'code',
    'message',
    '__proto__',
    'constructor',
    '',
  ];
  return rnd() < 0.8 ? Buffer.from(encodeValue(keys[Math.floor(rnd() * keys.length)]!)) : randomValue(rnd, 5);
}

/** One mutation of a msgpack body. */
function mutateBody(rnd: () => number, base: Buffer): Buffer {
  const b = Buffer.from(base);
  const { at, lengths } = headers(b);
  const choose = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  switch (Math.floor(rnd() * 9)) {
    case 0: // type-byte swap at a header
      if (at.length > 0) b[choose(at)] = choose(TYPE_BYTES);
      return b;
    case 1: {
      // a length field set to 0, huge, or one past the end
      if (lengths.length === 0) return b;
      const [off, w] = choose(lengths);
      const v = choose([0, 2 ** (8 * w) - 1, b.length - off + 1, 2 ** (8 * w - 1)]);
      for (let i = w - 1, x = v; i >= 0; i--, x = Math.floor(x / 256))
        if (off + i < b.length) b[off + i] = x & 0xff;
      return b;
    }
    case 2: // truncation
      return b.subarray(0, Math.floor(rnd() * b.length));
    case 3: {
      // a value replaced by a random one (ext, nesting, 64-bit ints, ...)
      const p = at.length > 1 ? choose(at.slice(1)) : 0;
      return Buffer.concat([b.subarray(0, p), randomValue(rnd), b.subarray(p + 1)]);
    }
    case 4: {
      // a whole request of random parts
      const n = Math.floor(rnd() * 4);
      const parts: Buffer[] = [Buffer.from([0x80 | n])];
      for (let i = 0; i < n; i++) parts.push(randomKey(rnd), randomValue(rnd));
      return Buffer.concat(parts);
    }
    case 5: // random byte flips
      for (let i = 0; i < 1 + Math.floor(rnd() * 4); i++)
        b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
      return b;
    case 6: // trailing bytes
      return Buffer.concat([b, randomValue(rnd)]);
    case 7: // params replaced by a big array header claiming many elements
      return Buffer.concat([
        Buffer.from([0x82]),
        Buffer.from(encodeValue('method')),
        Buffer.from(encodeValue('add')),
        Buffer.from(encodeValue('params')),
        Buffer.from([0xdd, 0x7f, 0xff, 0xff, 0xff, 0x01]),
      ]);
    default: // map header claiming more pairs than present
      return Buffer.concat([Buffer.from([0xdf, 0xff, 0xff, 0xff, 0xff]), b.subarray(1)]);
  }
}

// ---------------------------------------------------------------------------------------------
// Capturing real requests (ours and pyzmq's) with a ROUTER.

async function captureRequests(): Promise<Buffer[]> {
  const router = new Router({ linger: 0 });
  await router.bind('tcp://127.0.0.1:0');
  const port = Number(/:(\d+)$/.exec(router.lastEndpoint!)![1]);
  const bodies: Buffer[] = [];
  const loop = (async () => {
    for (;;) {
      let frames: Buffer[];
      try {
        frames = await router.receive();
      } catch {
        return;
      }
      const at = bodyStart(frames);
      bodies.push(...frames.slice(at));
      // Answer so REQ sockets can go on.
      await router
        .send([...frames.slice(0, at), Buffer.from(encodeValue({ result: 7 }))])
        .catch(() => undefined);
    }
  })();
  for (const variant of ['req', 'dealer'] as const) {
    const c = await connectZeromq(calculatorContract, { port, variant, timeoutMs: 3_000, retries: 0 });
    await Promise.allSettled([
      c.add(2, 5),
      c.add(-2147483648, 2147483647),
      c.divide(6, 3),
      c.echo(Uint8Array.of(0, 255, 7)),
      c.echo(new Uint8Array(300)),
    ]);
    await c.close();
  }
  const py = `${process.cwd()}/.venv-peers/bin/python`;
  const script = `
import msgpack, zmq, sys
ctx = zmq.Context(); s = ctx.socket(zmq.REQ); s.connect("tcp://127.0.0.1:${port}")
for req in [{"method": "add", "params": [2, 5]}, {"method": "divide", "params": [6.0, 3.0]},
            {"method": "echo", "params": [b"\\x00\\xff"]}, {"method": "add", "params": [2**40, -2**62], "id": 2**64-1},
            {"method": "add", "params": [1, 2], "id": msgpack.Timestamp(1, 123456789)}]:
    s.send(msgpack.dumps(req)); s.recv()
d = ctx.socket(zmq.DEALER); d.connect("tcp://127.0.0.1:${port}")
d.send_multipart([b"", msgpack.dumps({"method": "add", "params": [2, 5], "id": "x"})]); d.recv_multipart()
`;
  // Not spawnSync: the capturing ROUTER in this process must keep answering meanwhile.
  const r = await new Promise<{ status: number | null; error?: Error; stderr: string }>((resolve) => {
    const p = spawn(py, ['-c', script], { timeout: 15_000 });
    let stderr = '';
    p.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    p.on('error', (error) => resolve({ status: null, error, stderr }));
    p.on('exit', (status) => resolve({ status, stderr }));
  });
  if (r.status !== 0)
    console.log(
      `(pyzmq capture skipped: status ${r.status}, ${String(r.error ?? r.stderr?.toString().trim())})`,
    );
  await sleep(100);
  router.close();
  await loop;
  return bodies;
}

// ---------------------------------------------------------------------------------------------
// Target "msg": mutated messages through real ZeroMQ sockets.

function wellFormedReply(frame: Buffer | undefined): string | undefined {
  if (frame === undefined) return 'no body frame';
  let v: unknown;
  try {
    v = decodeValue(frame);
  } catch (err) {
    return `undecodable reply: ${String(err)}`;
  }
  if (typeof v !== 'object' || v === null) return 'reply not a map';
  const m = v as Record<string, unknown>;
  if ('result' in m) return undefined;
  const e = m.error as Record<string, unknown> | undefined;
  if (typeof e?.code === 'string' && typeof e.message === 'string') return undefined;
  return `reply neither result nor error: ${JSON.stringify(m, (_k, x) => (typeof x === 'bigint' ? String(x) : x))}`;
}

async function msgBatch(
  rnd: () => number,
  port: number,
  corpus: Buffer[],
  n: number,
  where: string,
): Promise<number> {
  const dealer = new Dealer({ linger: 0, receiveTimeout: 10_000 });
  dealer.connect(`tcp://127.0.0.1:${port}`);
  let expected = 0;
  let sent = 0;
  for (let i = 0; i < n; i++) {
    const base = corpus[Math.floor(rnd() * corpus.length)]!;
    let body = mutateBody(rnd, base);
    if (rnd() < 0.3) body = mutateBody(rnd, body);
    const shape = Math.floor(rnd() * 8);
    let frames: Buffer[];
    if (shape === 0) {
      // REQ: one at a time, fresh socket, must get a reply.
      const req = new Request({ linger: 0, receiveTimeout: 10_000 });
      req.connect(`tcp://127.0.0.1:${port}`);
      try {
        await req.send(body);
        const [reply] = await req.receive();
        const bad = wellFormedReply(reply);
        if (bad) fail(`${where} REQ ${body.toString('hex').slice(0, 200)}: ${bad}`);
      } catch (err) {
        fail(`${where} REQ no reply to ${body.toString('hex').slice(0, 200)}: ${String(err)}`);
      } finally {
        req.close();
      }
      continue;
    }
    if (shape <= 3) frames = [Buffer.alloc(0), body];
    else if (shape === 4) frames = [body];
    else if (shape === 5)
      frames = [Buffer.alloc(0), body, randomValue(rnd)]; // extra frame
    else if (shape === 6)
      frames = [Buffer.alloc(0), Buffer.alloc(0), body]; // empty frames
    else
      frames = Array.from({ length: 1 + Math.floor(rnd() * 5) }, () =>
        rnd() < 0.5 ? Buffer.alloc(0) : randomValue(rnd),
      );
    // A first frame that is empty with nothing after it is a request with no body: still answered.
    await dealer.send(frames);
    sent++;
    expected++;
  }
  for (let i = 0; i < expected; i++) {
    let reply: Buffer[];
    try {
      reply = await dealer.receive();
    } catch (err) {
      fail(`${where}: ${expected - i} of ${sent} DEALER messages got no reply: ${String(err)}`);
    }
    const body = reply[reply.length - 1];
    const bad = wellFormedReply(body);
    if (bad) fail(`${where} DEALER: ${bad}`);
  }
  dealer.close();
  return n;
}

// ---------------------------------------------------------------------------------------------
// Target "zmtp": raw TCP, mutated greetings, handshakes and frames.

function greeting(
  opts: { major?: number; minor?: number; mechanism?: Buffer; asServer?: number } = {},
): Buffer {
  const g = Buffer.alloc(64);
  // As libzmq writes it: bytes 1-8 are a ZMTP 1.0 length, 1 (libzmq stalls on 0 there).
  g[0] = 0xff;
  g[8] = 0x01;
  g[9] = 0x7f;
  g[10] = opts.major ?? 3;
  g[11] = opts.minor ?? 1;
  (opts.mechanism ?? Buffer.from('NULL')).copy(g, 12, 0, 20);
  g[32] = opts.asServer ?? 0;
  return g;
}

function command(name: string | Buffer, body: Buffer, long = false): Buffer {
  const n = typeof name === 'string' ? Buffer.from(name) : name;
  const payload = Buffer.concat([Buffer.from([n.length]), n, body]);
  return frame(payload, 0x04, long);
}

function frame(payload: Buffer, flags: number, long = payload.length > 255): Buffer {
  if (long) {
    const h = Buffer.alloc(9);
    h[0] = flags | 0x02;
    h.writeBigUInt64BE(BigInt(payload.length), 1);
    return Buffer.concat([h, payload]);
  }
  return Buffer.concat([Buffer.from([flags & ~0x02, payload.length]), payload]);
}

function property(name: string | Buffer, value: Buffer, valueLen = value.length): Buffer {
  const n = typeof name === 'string' ? Buffer.from(name) : name;
  const l = Buffer.alloc(4);
  l.writeUInt32BE(valueLen >>> 0);
  return Buffer.concat([Buffer.from([n.length & 0xff]), n, l, value]);
}

/** One raw session: a greeting, READY and a request, with one to three mutations. */
function zmtpSession(rnd: () => number): Buffer {
  const choose = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const mutations = new Set<number>();
  const k = Math.floor(rnd() * 3);
  for (let i = 0; i <= k; i++) mutations.add(Math.floor(rnd() * 14));
  let g = greeting({
    major: mutations.has(0) ? choose([0, 1, 2, 4, 255]) : 3,
    minor: mutations.has(1) ? choose([0, 2, 255]) : choose([0, 1]),
    mechanism: mutations.has(2)
      ? choose([
          Buffer.from('PLAIN'),
          Buffer.from('CURVE'),
          Buffer.from('GSSAPI'),
          Buffer.from('null'),
          Buffer.alloc(20, 0xff),
          Buffer.alloc(0),
        ])
      : undefined,
    asServer: mutations.has(3) ? choose([1, 2, 255]) : 0,
  });
  if (mutations.has(4)) {
    g = Buffer.from(g);
    g[Math.floor(rnd() * 10)] = Math.floor(rnd() * 256); // signature
  }
  const sockType = mutations.has(5)
    ? choose(['PUB', 'ROUTER', 'SUB', '', 'X'.repeat(255), 'REP', 'PAIR'])
    : choose(['REQ', 'DEALER']);
  const props: Buffer[] = [property('Socket-Type', Buffer.from(sockType))];
  if (mutations.has(6)) {
    props.push(
      choose([
        property('Identity', Buffer.alloc(Math.floor(rnd() * 300), 0x41)),
        property('Identity', Buffer.from([0])),
        property(Buffer.alloc(0), Buffer.from('x')),
        property(Buffer.alloc(255, 0xe9), Buffer.from('x')),
        property('Socket-Type', Buffer.from('DEALER')),
        property('X-Big', Buffer.from('ab'), 0xffffffff),
        property('X-Past', Buffer.from('ab'), 3),
        Buffer.from([200, 1, 2]),
      ]),
    );
  }
  let ready = command('READY', Buffer.concat(props), mutations.has(7) && rnd() < 0.5);
  if (mutations.has(7)) {
    ready = Buffer.from(ready);
    ready[1 + Math.floor(rnd() * Math.min(3, ready.length - 1))] = Math.floor(rnd() * 256); // size or name length
  }
  const body = Buffer.from(encodeValue({ method: 'add', params: [2, 5] }));
  const frames: Buffer[] = [];
  const pingPong = () =>
    choose([
      command(
        'PING',
        Buffer.concat([Buffer.from([rnd() * 256, rnd() * 256]), Buffer.alloc(Math.floor(rnd() * 20), 0x63)]),
      ),
      command('PING', Buffer.from([0xff, 0xff])),
      command('PING', Buffer.alloc(0)),
      command('PING', Buffer.concat([Buffer.from([0, 1]), Buffer.alloc(300, 0x63)]), true),
      command('PONG', Buffer.alloc(Math.floor(rnd() * 20), 0x64)),
      command('ERROR', Buffer.from([5, 0x62, 0x6f, 0x6f, 0x6d, 0x21])),
      command('READY', Buffer.concat(props)),
      command('SUBSCRIBE', Buffer.from('x')),
      command(Buffer.alloc(0), Buffer.alloc(0)),
      command(Buffer.alloc(255, 0x5a), Buffer.alloc(0)),
      Buffer.from([0x04, 0x00]),
    ]);
  if (mutations.has(8)) frames.push(pingPong());
  frames.push(frame(Buffer.alloc(0), 0x01), frame(body, 0x00, mutations.has(9)));
  if (mutations.has(10)) frames.splice(1, 0, pingPong()); // a command between frames of one message
  if (mutations.has(11))
    frames.push(
      Buffer.from([choose([0x03, 0x05, 0x06, 0x07, 0x08, 0x80, 0xff]), Math.floor(rnd() * 256)]),
      Buffer.alloc(Math.floor(rnd() * 10)),
    );
  if (mutations.has(12)) {
    // a long frame announcing a huge size (past ZMQ_MAXMSGSIZE, or 2^63)
    const h = Buffer.alloc(9);
    h[0] = 0x02;
    h.writeBigUInt64BE(choose([2n ** 63n, 2n ** 64n - 1n, 17n * 1024n * 1024n, 0n]), 1);
    frames.push(h);
  }
  let bytes = Buffer.concat([g, ready, ...frames]);
  if (mutations.has(13)) bytes = bytes.subarray(0, Math.floor(rnd() * bytes.length));
  return bytes;
}

/** Runs one raw connection: writes, reads what comes back for a short while, closes. */
function rawConnection(port: number, bytes: Buffer, rnd: () => number, holdMs: number): Promise<Buffer> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    const got: Buffer[] = [];
    sock.on('data', (d) => got.push(d));
    sock.on('error', () => undefined);
    sock.on('connect', () => {
      // Staged as libzmq's own peers write it: signature, rest of the greeting, then the
      // rest (libzmq 4.3.5 stalls a handshake whose greeting arrives in one piece with what
      // follows, so unstaged sessions would never reach READY or the frames).
      const cuts = [
        10,
        64,
        rnd() < 0.3 ? 64 + Math.floor(rnd() * (bytes.length - 64)) : bytes.length,
        bytes.length,
      ];
      let from = 0;
      cuts.forEach((to, i) => {
        const part = bytes.subarray(from, Math.max(from, to));
        from = Math.max(from, to);
        setTimeout(() => {
          if (part.length > 0 && sock.writable) sock.write(part);
        }, i * 15);
      });
    });
    setTimeout(() => {
      sock.destroy();
      resolve(Buffer.concat(got));
    }, holdMs);
  });
}

async function zmtpBatch(rnd: () => number, port: number, n: number): Promise<number> {
  const parallel = 20;
  for (let i = 0; i < n; i += parallel) {
    await Promise.all(
      Array.from({ length: Math.min(parallel, n - i) }, () =>
        rawConnection(port, zmtpSession(rnd), rnd, 60 + Math.floor(rnd() * 60)),
      ),
    );
  }
  // One valid raw session must be answered: a sanity check of the session builder itself.
  const valid = Buffer.concat([
    greeting(),
    command('READY', property('Socket-Type', Buffer.from('DEALER'))),
    frame(Buffer.alloc(0), 0x01),
    frame(Buffer.from(encodeValue({ method: 'add', params: [2, 5] })), 0x00),
  ]);
  const got = await rawConnection(port, valid, () => 0.9, 300);
  if (!got.includes(Buffer.from([0x81, 0xa6, ...Buffer.from('result'), 0x07]))) {
    fail(`zmtp: a valid raw DEALER session got no {result: 7} (${got.toString('hex').slice(0, 300)})`);
  }
  return n;
}

// ---------------------------------------------------------------------------------------------
// Targets "client-req" / "client-dealer": our clients against a fake ROUTER with mutated replies.

const uncaught: string[] = [];

async function clientBatch(
  rnd: () => number,
  variant: 'req' | 'dealer',
  n: number,
  where: string,
): Promise<number> {
  let router = new Router({ linger: 0 });
  await router.bind('tcp://127.0.0.1:0');
  const port = Number(/:(\d+)$/.exec(router.lastEndpoint!)![1]);
  const replyBases = (id: unknown): unknown[] => [
    { result: 7, id },
    { result: 7 },
    { error: { code: 'DIVIDE_BY_ZERO', message: 'division by zero' }, id },
    { error: 'unknown method', id },
    { error: null, result: 7, id },
    { result: Uint8Array.of(1, 2), id },
    { result: 'x', id },
    { result: 2.5, id },
    { id: id, result: [1, 2, 3] },
  ];
  let sending = Promise.resolve();
  const send = (frames: Buffer[]) => {
    const to = router;
    sending = sending.then(() => (to.closed ? undefined : to.send(frames))).catch(() => undefined);
  };
  const serve = async (router: Router) => {
    for (;;) {
      let frames: Buffer[];
      try {
        frames = await router.receive();
      } catch {
        return;
      }
      const at = bodyStart(frames);
      let id: unknown;
      try {
        id = (decodeValue(frames[at]!) as { id?: unknown }).id;
      } catch {
        id = undefined;
      }
      const envelope = frames.slice(0, at);
      const fate = Math.floor(rnd() * 10);
      if (fate === 0) continue; // no reply
      const base = Buffer.from(encodeValue(replyBases(id)[Math.floor(rnd() * 9)]));
      const body = rnd() < 0.7 ? mutateBody(rnd, base) : base;
      if (fate === 1)
        send([frames[0]!, body]); // no delimiter
      else if (fate === 2)
        send([...envelope, body, randomValue(rnd)]); // extra frame
      else if (fate === 3)
        send([...envelope, Buffer.alloc(0)]); // empty body
      else if (fate === 4) {
        send([...envelope, body]);
        send([...envelope, Buffer.from(encodeValue({ result: 8, id }))]); // a second reply
      } else if (fate === 5)
        send([
          ...envelope,
          Buffer.from(encodeValue({ result: 9, id: rnd() < 0.5 ? 1 : BigInt(id === undefined ? 3 : 4) })),
        ]);
      else send([...envelope, body]);
    }
  };
  let loop = serve(router);
  // Sometimes the peer restarts mid-batch (same port): calls it had are lost with it.
  let restarted: Promise<void> = Promise.resolve();
  if (rnd() < 0.3) {
    const after = Math.floor(rnd() * 400);
    restarted = sleep(after).then(async () => {
      router.close();
      await loop;
      for (let tries = 0; tries < 100; tries++) {
        const next = new Router({ linger: 0 });
        try {
          await next.bind(`tcp://127.0.0.1:${port}`);
        } catch {
          next.close();
          await sleep(10);
          continue;
        }
        router = next;
        loop = serve(next);
        return;
      }
    });
  }
  const timeoutMs = 300 + Math.floor(rnd() * 700);
  const client = await connectZeromq(calculatorContract, {
    port,
    variant,
    timeoutMs,
    retries: Math.floor(rnd() * 3),
  });
  const started = Date.now();
  const outcomes = await Promise.all(
    Array.from({ length: n }, (_v, i) => {
      const call =
        i % 3 === 0
          ? client.add(i, 1)
          : i % 3 === 1
            ? client.echo(Uint8Array.of(i & 0xff))
            : client.divide(i, 2);
      const bound = new Promise<'hang'>((r) => setTimeout(() => r('hang'), timeoutMs + 2_000).unref());
      return Promise.race([
        call.then(
          () => 'ok' as const,
          (err: unknown) => (err instanceof RpcError ? ('rpc-error' as const) : `untyped: ${String(err)}`),
        ),
        bound,
      ]);
    }),
  );
  for (const o of outcomes) {
    if (o === 'hang')
      fail(
        `${where}: a call did not settle within its timeout (${timeoutMs} ms, ${Date.now() - started} ms since start)`,
      );
    if (o.startsWith('untyped')) fail(`${where}: ${o}`);
  }
  await client.close();
  await restarted;
  router.close();
  await loop;
  if (uncaught.length > 0) fail(`${where}: ${uncaught.join('; ')}`);
  return n;
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  if (process.argv.includes('--serve')) return serveChild();
  const target = option('target', 'all');
  const seed = Number(option('seed', '1'));
  const iterations = Number(option('iterations', '5000'));
  const budgetMs = Number(option('budget-ms', '120000'));
  const batch = Number(option('batch', '200'));
  const targets = target === 'all' ? ['msg', 'zmtp', 'client-req', 'client-dealer'] : [target];
  process.on('uncaughtException', (err) => uncaught.push(`uncaughtException: ${String(err)}`));
  process.on('unhandledRejection', (err) => uncaught.push(`unhandledRejection: ${String(err)}`));
  for (const t of targets) {
    const rnd = prng(seed);
    const deadline = Date.now() + budgetMs / targets.length;
    let done = 0;
    let batches = 0;
    if (t === 'msg' || t === 'zmtp') {
      const child = await startChild();
      const baseline: { rss?: number } = {};
      const corpus = t === 'msg' ? await captureRequests() : [];
      if (t === 'msg') console.log(`${t}: ${corpus.length} captured requests`);
      let rss = 0;
      const steady = await connectZeromq(calculatorContract, {
        port: child.port,
        variant: seed % 2 === 0 ? 'req' : 'dealer',
        timeoutMs: 10_000,
        retries: 0,
      });
      let steadyTotal = 0;
      while (done < iterations && Date.now() < deadline) {
        const n = Math.min(batch, iterations - done);
        const where = `${t} seed ${seed} batch ${batches}`;
        // A well-behaved peer connected throughout keeps calling while the batch runs.
        let batchDone = false;
        const steadyCalls = (async () => {
          let calls = 0;
          while (!batchDone || calls === 0) {
            const v = await steady.add(calls, 7).catch((err: unknown) => `failed: ${String(err)}`);
            if (v !== calls + 7) fail(`${where}: a steady peer's add(${calls}, 7) gave ${String(v)}`);
            calls++;
          }
          return calls;
        })();
        done +=
          t === 'msg'
            ? await msgBatch(rnd, child.port, corpus, n, where)
            : await zmtpBatch(rnd, child.port, n);
        batchDone = true;
        steadyTotal += await steadyCalls;
        rss = await checkHealth(child, where, baseline);
        batches++;
        if (batches % 100 === 0)
          console.log(`${where}: ${done} iterations, RSS ${rss.toFixed(0)} MB; ${child.mem.last}`);
        if (uncaught.length > 0) fail(`${where}: harness: ${uncaught.join('; ')}`);
      }
      console.log(
        `${t} seed ${seed}: ${done} iterations in ${batches} batches, healthy; a steady peer's ${steadyTotal} calls all right; RSS ${baseline.rss?.toFixed(0)} -> ${rss.toFixed(0)} MB`,
      );
      await steady.close();
      child.proc.kill();
    } else {
      const variant = t === 'client-req' ? 'req' : 'dealer';
      while (done < iterations && Date.now() < deadline) {
        const n = Math.min(variant === 'req' ? 10 : batch, iterations - done);
        done += await clientBatch(rnd, variant, n, `${t} seed ${seed} batch ${batches}`);
        batches++;
      }
      console.log(`${t} seed ${seed}: ${done} calls in ${batches} batches, all settled`);
    }
  }
  process.exit(0);
}

void main();
