/**
 * Fuzzes the RPyC server and client with mutated real traffic (loopback only).
 *
 *   npx tsx scripts/fuzz/rpyc.ts [--target server|client|both] [--seed N] [--iterations N]
 *                                [--seconds N] [--batch N] [--timeout MS]
 *
 * 1. Capture: a recording proxy sits between real peers. Python rpyc 6 and rpyc 5 clients
 *    (peers/python/rpyc/fuzz_client.py: add, divide, a failing divide, a zlib-sized echo, a
 *    callback, dir/getattr/repr/str, async_, ping) talk to our server; our client (the same
 *    usages) talks to rpyc 6 and rpyc 5 servers (peers/python/rpyc/full_server.py).
 * 2. Server target: each iteration sends one recorded client session, mutated (frame header
 *    lengths/flags, zlib corruption/truncation/bombs, brine byte and structure mutations, message
 *    type/handler/seq fields, object ids never handed out, frame drops/duplicates), in random
 *    chunks over a fresh connection. Each connection must get back at least as many frames as
 *    our server had sent in the capture before the first mutated frame (rpyc answers every
 *    request ahead of a bad frame). After every batch: a fresh connection's add(2, 5) must answer
 *    7 (30 s bound), every fuzz connection must be gone from the server, its object table empty,
 *    RSS below a ceiling, and no uncaught exception or unhandled rejection.
 * 3. Client target: a fake server replays a recorded server session in lockstep with our
 *    client's requests, mutated the same way; every call of ours must settle within its timeout
 *    plus a grace as a result or an RpcError, never hang or throw anything else, and a call
 *    whose replies all came ahead of the first mutated frame must end as against the real server.
 *
 * Needs the peer venvs (bash scripts/setup-peers.sh). Findings go to stdout as JSON lines;
 * the exit code is 1 when any was found. Iterations stop at --iterations or --seconds. A server
 * input that was not answered is saved under $TMPDIR/rpyc-fuzz/; replay it in one write with
 *   npx tsx scripts/fuzz/rpyc.ts --replay /tmp/rpyc-fuzz/server-<seed>-<iteration>.bin
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { calculator, calculatorContract, RpcError } from '../../src/contract/index.js';
import { freePort, waitForPort } from '../../src/net/free-port.js';
import { type BrineValue, dump, load } from '../../src/protocols/rpyc/brine.js';
import { connectRpyc, type RemoteRef, type RpycServer, serveRpyc } from '../../src/protocols/rpyc/index.js';

import { option, prng } from './common.js';

const repoRoot = path.resolve(import.meta.dirname, '..', '..');
const peersDir = path.join(repoRoot, 'peers', 'python', 'rpyc');
const python = (v: 5 | 6) =>
  path.join(repoRoot, '.venv-peers', ...(v === 5 ? ['rpyc5'] : []), 'bin', 'python');

// ---------------------------------------------------------------------------------------------
// options and PRNG

const target = option('target', 'both');
const seed = Number(option('seed', '1'));
const iterations = Number(option('iterations', '2000'));
const seconds = Number(option('seconds', '120'));
const batch = Number(option('batch', '50'));
/** The client's per-call timeout against the fake server (short: mutated replies often never come). */
const clientTimeoutMs = Number(option('timeout', '800'));

let rand = prng(seed);
const int = (n: number) => Math.floor(rand() * n);
const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;

const findings: Array<Record<string, unknown>> = [];
function finding(kind: string, detail: Record<string, unknown>): void {
  const f = { kind, seed, ...detail };
  findings.push(f);
  console.log(JSON.stringify(f));
}

let uncaught: unknown[] = [];
process.on('uncaughtException', (e) => uncaught.push(e));
process.on('unhandledRejection', (e) => uncaught.push(e));

/** What the fuzzed side did, to see the mutations reach more than the first check. */
const outcomes = new Map<string, number>();
const count = (what: string) => outcomes.set(what, (outcomes.get(what) ?? 0) + 1);

/** Keeps a failing input for --replay (the bytes sent, as one file). */
function save(name: string, bytes: Buffer): string {
  const dir = path.join(os.tmpdir(), 'rpyc-fuzz');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${name}.bin`);
  writeFileSync(file, bytes);
  return file;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// frames and capture

/** Splits a raw byte stream into whole raw frames (header, body, trailing byte). */
function splitFrames(stream: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  while (stream.length - at >= 5) {
    const len = stream.readUInt32BE(at);
    if (stream.length - at < 5 + len + 1) break;
    out.push(Buffer.from(stream.subarray(at, at + 5 + len + 1)));
    at += 5 + len + 1;
  }
  return out;
}

type Dir = 'c2s' | 's2c';
interface Session {
  readonly label: string;
  readonly events: ReadonlyArray<{ dir: Dir; frame: Buffer }>;
}

/** A TCP proxy recording each connection's frames, in the order they went through. */
async function recordingProxy(targetPort: number) {
  const sessions: Array<Array<{ dir: Dir; frame: Buffer }>> = [];
  const server = net.createServer((client) => {
    const events: Array<{ dir: Dir; frame: Buffer }> = [];
    sessions.push(events);
    const upstream = net.connect({ host: '127.0.0.1', port: targetPort });
    const pending: Record<Dir, Buffer> = { c2s: Buffer.alloc(0), s2c: Buffer.alloc(0) };
    const relay = (dir: Dir, from: net.Socket, to: net.Socket) => {
      from.on('data', (chunk: Buffer) => {
        pending[dir] = Buffer.concat([pending[dir], chunk]);
        const frames = splitFrames(pending[dir]);
        let used = 0;
        for (const frame of frames) {
          events.push({ dir, frame });
          used += frame.length;
        }
        pending[dir] = pending[dir].subarray(used);
        to.write(chunk);
      });
      from.on('end', () => to.end());
      from.on('error', () => to.destroy());
    };
    relay('c2s', client, upstream);
    relay('s2c', upstream, client);
    upstream.on('error', () => client.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    sessions,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

function runPython(v: 5 | 6, script: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(python(v), ['-u', path.join(peersDir, script), ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      out += c.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('close', () => {
      clearTimeout(timer);
      resolve(out);
    });
  });
}

const extras = {
  apply: (fn: RemoteRef, a: unknown, b: unknown) => fn.call(a, b),
};

async function captureServerTraffic(server: RpycServer): Promise<Session[]> {
  const out: Session[] = [];
  for (const v of [6, 5] as const) {
    const proxy = await recordingProxy(server.port);
    const said = await runPython(v, 'fuzz_client.py', [String(proxy.port)], 60_000);
    if (!said.includes('ok')) throw new Error(`rpyc ${v} capture client failed:\n${said}`);
    await sleep(200);
    await proxy.close();
    for (const events of proxy.sessions) out.push({ label: `python rpyc ${v} client`, events });
  }
  return out;
}

/** The usages our client makes in each client iteration; each returns a promise to watch. */
function clientUsages(c: Awaited<ReturnType<typeof connectRpyc>>): Array<() => Promise<unknown>> {
  const big = Buffer.alloc(16_384, 7);
  return [
    () => c.call('add', 2, 5),
    () => c.call('divide', 7, 2),
    () => c.call('divide', 1, 0),
    () => c.call('echo', big),
    () => c.call('apply', (a: number, b: number) => a * b, 6, 7),
    async () => {
      const root = await c.root();
      await root.dir();
      await root.repr();
      const add = (await root.getAttr('add')) as RemoteRef;
      return add.str();
    },
    () => c.call('make_list', 1, 2, 3),
    () => c.ping('hello'),
  ];
}

interface ClientSession extends Session {
  readonly version: 5 | 6;
  /** What each usage gave against the real server: 'ok' or an error code. */
  readonly outcomes: readonly string[];
  /** How many server frames had come when each usage settled. */
  readonly marks: readonly number[];
}

const outcomeOf = (e: unknown) => (e instanceof RpcError ? e.code : `not an RpcError: ${String(e)}`);

async function captureClientTraffic(): Promise<ClientSession[]> {
  const out: ClientSession[] = [];
  for (const v of [6, 5] as const) {
    const port = await freePort();
    const child = spawn(python(v), ['-u', path.join(peersDir, 'full_server.py'), String(port)], {
      stdio: 'ignore',
    });
    try {
      await waitForPort(port, '127.0.0.1', 20_000);
      const proxy = await recordingProxy(port);
      const c = await connectRpyc({ port: proxy.port, timeoutMs: 10_000, rpycVersion: v });
      const outcomes: string[] = [];
      const marks: number[] = [];
      for (const usage of clientUsages(c)) {
        outcomes.push(await usage().then(() => 'ok', outcomeOf));
        marks.push(proxy.sessions[0]?.filter((e) => e.dir === 's2c').length ?? 0);
      }
      await c.close();
      await sleep(200);
      await proxy.close();
      const events = proxy.sessions[0];
      if (proxy.sessions.length !== 1 || events === undefined)
        throw new Error('capture: expected one connection');
      out.push({ label: `python rpyc ${v} server`, events, version: v, outcomes, marks });
    } finally {
      child.kill('SIGKILL');
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// mutations

function payloadOf(frame: Buffer): Buffer {
  const body = frame.subarray(5, frame.length - 1);
  if (frame[4] !== 1) return body;
  try {
    return zlib.inflateSync(body);
  } catch {
    return body;
  }
}

function frameOf(payload: Buffer, compress = payload.length > 3000): Buffer {
  const body = compress ? zlib.deflateSync(payload) : payload;
  const head = Buffer.alloc(5);
  head.writeUInt32BE(body.length, 0);
  head[4] = compress ? 1 : 0;
  return Buffer.concat([head, body, Buffer.of(0x0a)]);
}

/** zlib header and a sync-flushed 1 MiB block of zeros repeated: `mib` MiB from ~1 KiB each. */
const bombBlock = zlib.deflateRawSync(Buffer.alloc(1 << 20), {
  level: 9,
  finishFlush: zlib.constants.Z_SYNC_FLUSH,
});
const bomb = (mib: number) =>
  Buffer.concat([Buffer.of(0x78, 0xda), ...Array.from({ length: mib }, () => bombBlock)]);

const interesting = [
  0,
  1,
  -1,
  2,
  255,
  256,
  65535,
  2 ** 31 - 1,
  -(2 ** 31),
  2 ** 32,
  2 ** 53,
  Number.MAX_SAFE_INTEGER,
  2n ** 64n,
  -(2n ** 70n),
];

/** A random brine value: what a mutated structure puts where a field was. */
function randomValue(depth = 0): BrineValue {
  switch (int(depth > 3 ? 6 : 9)) {
    case 0:
      return pick(interesting);
    case 1:
      return int(40) - 5;
    case 2:
      return pick(['', 'add', 'exposed_add', '__class__', 'x'.repeat(int(300)), '\u{1f600}']);
    case 3:
      return Buffer.from(Array.from({ length: int(20) }, () => int(256)));
    case 4:
      return pick([null, true, false]);
    case 5:
      return rand() * 1e6;
    case 6:
      return [pick(['builtins.int', 'rpclab.CalculatorService', '']), int(2 ** 31), pick(interesting)];
    case 7:
      return Array.from({ length: int(4) }, () => randomValue(depth + 1));
    default:
      return [int(6) - 1, randomValue(depth + 1)];
  }
}

/** Mutates a decoded brine tree in place-free style: one random node replaced, or nested deeper. */
function mutateTree(v: BrineValue, depth = 0): BrineValue {
  if (Array.isArray(v) && v.length > 0 && (depth === 0 || rand() < 0.7)) {
    const copy = [...(v as BrineValue[])];
    const i = int(copy.length);
    const op = int(8);
    if (op === 0) copy.splice(i, 1);
    else if (op === 1) copy.push(randomValue());
    else copy[i] = mutateTree(copy[i]!, depth + 1);
    return copy;
  }
  switch (int(5)) {
    case 0: {
      // nesting: a tower of 1-tuples
      let x: BrineValue = v;
      for (let k = int(2000); k > 0; k--) x = [x];
      return x;
    }
    case 1:
      // An id pack whose instance id was never handed out, or a box label swapped.
      return Array.isArray(v) && v.length === 3
        ? [v[0]!, v[1]!, pick(interesting)]
        : [pick([0, 1, 2, 3, 4, 9]), v];
    default:
      return randomValue();
  }
}

/** Replaces every id pack's instance id (an object never handed out) or every box label. */
function mutateIds(v: BrineValue, how: number): BrineValue {
  if (!Array.isArray(v)) return v;
  if (v.length === 3 && typeof v[0] === 'string' && typeof v[2] === 'number' && how === 0)
    return [v[0], v[1]!, pick(interesting)];
  if (v.length === 2 && typeof v[0] === 'number' && v[0] >= 0 && v[0] <= 3 && how === 1 && rand() < 0.5)
    return [int(6) - 1, mutateIds(v[1]!, how)];
  return (v as BrineValue[]).map((x) => mutateIds(x, how));
}

/** Changes an envelope field: seq, handler, or every id pack / box label inside. */
function mutateFields(tree: BrineValue, legacy: boolean): { what: string; tree: BrineValue } {
  if (!Array.isArray(tree)) return { what: 'fields (not a tuple)', tree };
  const t = [...(tree as BrineValue[])];
  const bodyAt = legacy ? 2 : 1;
  const seqAt = legacy ? 1 : 0;
  switch (int(4)) {
    case 0:
      t[seqAt] = pick<BrineValue>([...interesting, 'seq', null, -1, [1, 2]]);
      return { what: `seq ${String(t[seqAt])}`, tree: t };
    case 1: {
      const body = t[bodyAt];
      if (Array.isArray(body) && body.length === 2) {
        const handler = pick<BrineValue>([int(25), -1, 2 ** 40, 'x', null]);
        t[bodyAt] = [handler, body[1]!];
        return { what: `handler ${String(handler)}`, tree: t };
      }
      return { what: 'handler (no body)', tree: t };
    }
    case 2:
      return { what: 'ids never handed out', tree: mutateIds(t, 0) };
    default:
      return { what: 'box labels', tree: mutateIds(t, 1) };
  }
}

const BRINE_TAGS = Array.from({ length: 0x20 }, (_, i) => i);

function mutateBytes(p: Buffer): Buffer {
  const b = Buffer.from(p);
  if (b.length === 0) return Buffer.of(int(256));
  const i = int(b.length);
  switch (int(8)) {
    case 0:
      b[i] = int(256);
      return b;
    case 1:
      b[i] = pick(BRINE_TAGS);
      return b;
    case 2:
      return b.subarray(0, i);
    case 3:
      return Buffer.concat([b.subarray(0, i), Buffer.from([int(256), int(256)]), b.subarray(i)]);
    case 4:
      return Buffer.concat([b.subarray(0, i), b.subarray(i + 1 + int(8))]);
    case 5: {
      // a length byte made large (the byte after a tag is often one)
      b[i] = 0xff;
      return b;
    }
    case 6: {
      const j = int(b.length);
      return Buffer.concat([b, b.subarray(Math.min(i, j), Math.max(i, j))]);
    }
    default:
      b[0] = pick([0, 1, 2, 3, 4, 0x12, 0xff]);
      return b;
  }
}

/** One mutated frame: what, and the bytes. */
function mutateFrame(frame: Buffer): { what: string; bytes: Buffer } {
  const payload = payloadOf(frame);
  const op = int(12);
  switch (op) {
    case 0: {
      const b = Buffer.from(frame);
      const len = frame.readUInt32BE(0);
      const v = pick([
        0,
        0xffffffff,
        16 * 1024 * 1024 + 1,
        64 * 1024 * 1024 + 5,
        Math.max(0, len - 1 - int(4)),
        len + 1 + int(30),
      ]);
      b.writeUInt32BE(v >>> 0, 0);
      return { what: `length ${v}`, bytes: b };
    }
    case 1: {
      const b = Buffer.from(frame);
      b[4] = pick([1, 2, 0x80, 0xff, frame[4] === 1 ? 0 : 1]);
      return { what: `flag ${b[4]}`, bytes: b };
    }
    case 2: {
      // corrupt or truncate a zlib stream
      const z = zlib.deflateSync(payload);
      const cut = rand() < 0.5;
      const body = cut ? z.subarray(0, int(z.length)) : mutateBytes(z);
      return { what: cut ? 'zlib truncated' : 'zlib corrupt', bytes: frameOf(body, false).fill(1, 4, 5) };
    }
    case 3: {
      const mib = pick([1, 15, 17, 40]);
      const body = bomb(mib);
      const f = frameOf(body, false);
      f[4] = 1;
      return { what: `zlib bomb ${mib} MiB`, bytes: f };
    }
    case 4:
    case 5:
    case 6:
      return { what: 'brine bytes', bytes: frameOf(mutateBytes(payload), rand() < 0.3) };
    case 7:
    case 8: {
      try {
        const legacy = payload[0] === 0x12;
        const tree = load(legacy ? payload : payload.subarray(1));
        const m = mutateFields(legacy ? tree : [...(tree as BrineValue[])], legacy);
        const body = dump(m.tree);
        const type = rand() < 0.15 ? pick([0, 1, 2, 3, 4, 0x12, 0xff]) : payload[0]!;
        const out = legacy ? body : Buffer.concat([Buffer.of(type), body]);
        return {
          what: `${m.what}${type === payload[0] ? '' : `, type ${type}`}`,
          bytes: frameOf(out, rand() < 0.3),
        };
      } catch {
        return { what: 'brine bytes', bytes: frameOf(mutateBytes(payload)) };
      }
    }
    default: {
      // structure: decode the envelope and change one field (seq, handler, ids, args)
      try {
        const legacy = payload[0] === 0x12;
        const tree = load(legacy ? payload : payload.subarray(1));
        const mutated = mutateTree(tree);
        const body = dump(mutated);
        const out = legacy ? body : Buffer.concat([Buffer.of(rand() < 0.1 ? int(6) : payload[0]!), body]);
        return { what: 'structure', bytes: frameOf(out, rand() < 0.3) };
      } catch {
        return { what: 'brine bytes', bytes: frameOf(mutateBytes(payload)) };
      }
    }
  }
}

/** Mutates a list of frames: 1-3 frame mutations, sometimes a drop, duplicate or swap. */
function mutateFrames(frames: readonly Buffer[]): { whats: string[]; frames: Buffer[]; first: number } {
  const out = [...frames];
  const whats: string[] = [];
  let first = frames.length;
  for (let k = 1 + int(3); k > 0 && out.length > 0; k--) {
    const i = int(out.length);
    first = Math.min(first, i);
    const r = rand();
    if (r < 0.08) {
      out.splice(i, 1);
      whats.push(`drop ${i}`);
    } else if (r < 0.14) {
      out.splice(i, 0, out[i]!);
      whats.push(`dup ${i}`);
    } else if (r < 0.2 && out.length > 1) {
      const j = int(out.length);
      [out[i], out[j]] = [out[j]!, out[i]!];
      first = Math.min(first, j);
      whats.push(`swap ${i} ${j}`);
    } else {
      const m = mutateFrame(out[i]!);
      out[i] = m.bytes;
      whats.push(`${i}: ${m.what}`);
    }
  }
  return { whats, frames: out, first };
}

/** Writes bytes in random chunks (1 byte to 64 KiB), yielding between some of them. */
async function writeChunked(socket: net.Socket, bytes: Buffer): Promise<void> {
  let at = 0;
  while (at < bytes.length && !socket.destroyed) {
    const n = pick([1, 2, 5, 7, 100, 1500, 65536, bytes.length]);
    socket.write(bytes.subarray(at, at + n));
    at += n;
    if (rand() < 0.05) await sleep(1);
  }
}

// ---------------------------------------------------------------------------------------------
// server target

async function fuzzServer(deadline: number): Promise<number> {
  const server = await serveRpyc(calculatorContract, calculator, { port: 0, extras, timeoutMs: 2_000 });
  const sessions = await captureServerTraffic(server);
  console.error(
    `server: captured ${sessions.map((s) => `${s.label}: ${s.events.length} frames`).join(', ')}`,
  );
  const rssCeiling = process.memoryUsage().rss + 1024 * 1024 * 1024;
  let done = 0;
  while (done < iterations && Date.now() < deadline) {
    const runs: Promise<void>[] = [];
    const inBatch: Array<{ iteration: number; label: string; whats: string[] }> = [];
    for (let k = 0; k < batch && done < iterations; k++, done++) {
      const session = pick(sessions);
      const sent = session.events.filter((e) => e.dir === 'c2s').map((e) => e.frame);
      const { whats, frames, first } = mutateFrames(sent);
      // The oracle beyond "still alive": the frames ahead of the first mutated one are the real
      // client's, so at least as many frames must come back as our server had sent before the
      // real client sent that one (rpyc would answer them too).
      const owed = framesOwedBefore(session, first);
      const iteration = done;
      inBatch.push({ iteration, label: session.label, whats });
      runs.push(
        (async () => {
          const socket = net.connect({ host: '127.0.0.1', port: server.port });
          let answered = false;
          let closedByServer = true;
          let received = Buffer.alloc(0);
          let framesBack = 0;
          socket.on('error', () => undefined);
          socket.on('data', (chunk: Buffer) => {
            answered = true;
            received = Buffer.concat([received, chunk]);
            for (const f of splitFrames(received)) {
              received = received.subarray(f.length);
              framesBack++;
            }
          });
          socket.once('close', () =>
            count(`server ${answered ? 'answered' : 'silent'}, ${closedByServer ? 'closed it' : 'kept it'}`),
          );
          await new Promise<void>((r) => {
            socket.once('connect', r);
            socket.once('close', () => r());
          });
          await writeChunked(socket, Buffer.concat(frames));
          await sleep(20 + int(200));
          // Bounded wait for what is owed (a loaded machine may be slow), then judge.
          for (let w = 0; w < 100 && framesBack < owed && !socket.destroyed && !socket.readableEnded; w++)
            await sleep(50);
          closedByServer = socket.destroyed || socket.readableEnded;
          if (framesBack < owed)
            finding('server', {
              saved: save(`server-${seed}-${iteration}`, Buffer.concat(frames)),
              iteration,
              label: session.label,
              whats,
              problems: [
                `${framesBack} frame(s) back, ${owed} owed for the unmutated frames 0..${first - 1}`,
              ],
            });
          socket.destroy();
        })(),
      );
      // a few connections at once, as clients would
      if (runs.length >= 8) await Promise.all(runs.splice(0));
    }
    await Promise.all(runs);
    await checkServer(server, inBatch, rssCeiling);
  }
  await server.close();
  return done;
}

/** Frames our server sent in the capture before the client's c2s frame number `index`. */
function framesOwedBefore(session: Session, index: number): number {
  let c2s = 0;
  let s2c = 0;
  for (const e of session.events) {
    if (e.dir === 'c2s') {
      if (c2s === index) break;
      c2s++;
    } else s2c++;
  }
  return s2c;
}

const rssSeen: number[] = [];

async function checkServer(
  server: RpycServer,
  inBatch: ReadonlyArray<Record<string, unknown>>,
  rssCeiling: number,
): Promise<void> {
  const problems: string[] = [];
  try {
    const c = await connectRpyc({ port: server.port, timeoutMs: 30_000 });
    const r = await c.call('add', 2, 5);
    if (r !== 7) problems.push(`add(2, 5) answered ${String(r)}`);
    await c.close();
  } catch (e) {
    problems.push(`add(2, 5) failed: ${String(e)}`);
  }
  // Closed connections leave the server's set once their sockets close.
  for (let k = 0; k < 100 && server.stats().connections > 0; k++) await sleep(50);
  const stats = server.stats();
  if (stats.connections > 0) problems.push(`${stats.connections} connection(s) still open`);
  if (stats.localObjects > 0) problems.push(`object table holds ${stats.localObjects}`);
  const rss = process.memoryUsage().rss;
  rssSeen.push(rss);
  if (rss > rssCeiling) problems.push(`rss ${rss} over ${rssCeiling}`);
  if (uncaught.length > 0)
    problems.push(...uncaught.map((e) => `uncaught: ${e instanceof Error ? e.stack : String(e)}`));
  uncaught = [];
  if (problems.length > 0) finding('server', { problems, batch: inBatch });
}

// ---------------------------------------------------------------------------------------------
// client target

/** A fake server answering our client with a recorded session, mutated, in lockstep. */
async function fakeServer(events: ReadonlyArray<{ dir: Dir; frame: Buffer }>) {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    let received = 0;
    let buf = Buffer.alloc(0);
    let wake: (() => void) | undefined;
    socket.on('data', (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      const frames = splitFrames(buf);
      for (const f of frames) buf = buf.subarray(f.length);
      received += frames.length;
      wake?.();
    });
    socket.on('close', () => {
      sockets.delete(socket);
      wake?.();
    });
    void (async () => {
      let expected = 0;
      for (const e of events) {
        if (socket.destroyed) return;
        if (e.dir === 'c2s') {
          expected++;
          // Wait for the client's frame, but not forever: a mutation may have made it stop.
          const until = Date.now() + 300;
          while (received < expected && !socket.destroyed && Date.now() < until)
            await new Promise<void>((r) => {
              wake = r;
              setTimeout(r, 50);
            });
          continue;
        }
        await writeChunked(socket, e.frame);
      }
    })();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

async function fuzzClient(deadline: number): Promise<number> {
  const sessions = await captureClientTraffic();
  for (const session of sessions) console.error(`${session.label}: ${session.outcomes.join(', ')}`);
  console.error(
    `client: captured ${sessions.map((s) => `${s.label}: ${s.events.length} frames`).join(', ')}`,
  );
  const timeoutMs = clientTimeoutMs;
  let done = 0;
  while (done < iterations && Date.now() < deadline) {
    const session = pick(sessions);
    const s2c = session.events.filter((e) => e.dir === 's2c').map((e) => e.frame);
    const { whats, frames, first } = mutateFrames(s2c);
    let k = 0;
    const events = session.events.map((e) =>
      e.dir === 's2c' ? { dir: e.dir, frame: frames[k++] ?? Buffer.alloc(0) } : e,
    );
    for (; k < frames.length; k++) events.push({ dir: 's2c', frame: frames[k]! });
    const fake = await fakeServer(events);
    const problems: string[] = [];
    try {
      const c = await connectRpyc({ port: fake.port, timeoutMs, rpycVersion: session.version });
      for (const [i, usage] of clientUsages(c).entries()) {
        const settled = await Promise.race([
          usage().then(
            () => 'ok',
            (e: unknown) => {
              if (!(e instanceof RpcError)) return `non-RpcError rejection: ${String(e)}`;
              count(`client ${e.code}`);
              return e.code;
            },
          ),
          sleep(timeoutMs * 3 + 2_000).then(() => 'hang'),
        ]);
        if (settled === 'hang' || settled.startsWith('non-RpcError')) problems.push(`usage ${i}: ${settled}`);
        // A usage whose every reply came ahead of the first mutated frame must end as it did
        // against the real server.
        else if ((session.marks[i] ?? Infinity) <= first && settled !== session.outcomes[i])
          problems.push(
            `usage ${i}: ${settled}, ${session.outcomes[i]} against the real server (replies unmutated)`,
          );
      }
      await Promise.race([c.close(), sleep(5_000).then(() => problems.push('close hangs'))]);
    } catch (e) {
      if (!(e instanceof RpcError)) problems.push(`connect: ${String(e)}`);
    }
    await fake.close();
    await sleep(0);
    if (uncaught.length > 0)
      problems.push(...uncaught.map((e) => `uncaught: ${e instanceof Error ? e.stack : String(e)}`));
    uncaught = [];
    if (problems.length > 0) finding('client', { iteration: done, label: session.label, whats, problems });
    done++;
  }
  return done;
}

// ---------------------------------------------------------------------------------------------

/** --replay FILE: sends a saved server input in one write and prints what comes back. */
async function replay(file: string): Promise<void> {
  const server = await serveRpyc(calculatorContract, calculator, { port: 0, extras, timeoutMs: 2_000 });
  const socket = net.connect({ host: '127.0.0.1', port: server.port });
  let received = Buffer.alloc(0);
  socket.on('data', (c: Buffer) => {
    received = Buffer.concat([received, c]);
  });
  socket.on('error', () => undefined);
  await new Promise<void>((r) => socket.once('connect', r));
  socket.write(readFileSync(file));
  await Promise.race([new Promise((r) => socket.once('close', r)), sleep(5_000)]);
  for (const f of splitFrames(received)) {
    const p = payloadOf(f);
    let shown: string;
    try {
      shown = JSON.stringify(load(p[0] === 0x12 ? p : p.subarray(1)), (_k, v) =>
        typeof v === 'bigint' ? `${v}n` : v instanceof Uint8Array ? `<${v.length} bytes>` : v,
      ).slice(0, 300);
    } catch (e) {
      shown = String(e);
    }
    console.log(`msg ${p[0]}: ${shown}`);
  }
  console.log(`closed by the server: ${socket.readableEnded || socket.destroyed}`);
  socket.destroy();
  await server.close();
}

if (process.argv.includes('--replay')) {
  await replay(option('replay', ''));
  process.exit(0);
}

const started = Date.now();
const budget = seconds * 1000;
const summary: Record<string, unknown> = { seed, iterations, seconds };
if (target === 'server' || target === 'both') {
  rand = prng(seed);
  summary.serverIterations = await fuzzServer(started + (target === 'both' ? budget / 2 : budget));
}
if (target === 'client' || target === 'both') {
  rand = prng(seed ^ 0x5bd1e995);
  summary.clientIterations = await fuzzClient(started + budget);
}
if (rssSeen.length > 0)
  summary.serverRssMiB = {
    first: Math.round(rssSeen[0]! / 2 ** 20),
    max: Math.round(Math.max(...rssSeen) / 2 ** 20),
    last: Math.round(rssSeen[rssSeen.length - 1]! / 2 ** 20),
  };
summary.outcomes = Object.fromEntries([...outcomes].sort());
summary.findings = findings.length;
summary.elapsedMs = Date.now() - started;
console.log(JSON.stringify(summary));
process.exit(findings.length > 0 ? 1 : 0);
