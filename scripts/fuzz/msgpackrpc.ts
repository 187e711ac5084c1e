/**
 * Fuzzes the msgpack-rpc server and client with mutated traffic (loopback only).
 *
 *   npx tsx scripts/fuzz/msgpackrpc.ts [--target server|client|both] [--seed N]
 *                                      [--iterations N] [--seconds N] [--batch N]
 *
 * Corpus: requests, notifications and responses as our client and server write them, the same
 * in the old msgpack spec's forms (raw str for bytes, as msgpack-rpc-python 0.4.1 sends them;
 * str8/16/32 and map/array 16/32 headers other encoders choose), Neovim's error shape, and, when
 * the peer venv exists, the bytes msgpack-python 0.5.6 itself packs
 * (peers/python/msgpackrpc/fuzz_corpus.py).
 *
 * Server target: the server runs in a child process (Calculator, plus `apply`, which calls the
 * client's `mul` back, so mutated streams also answer or break the server's own calls). Each
 * iteration sends 1-4 corpus messages, mutated (bit flips, boundary bytes, length fields set to
 * huge or off-by-one values, truncation, duplication, splices, message type and arity changes,
 * deep nesting, declared 4 GiB containers), in random chunks on a fresh connection; whatever
 * comes back must be well-formed msgpack-rpc (a response, or the server's `mul` request).
 * After every batch: a fresh client's add(2, 5) must be 7 (10 s bound), the fuzz connections
 * must all be gone from the server, its RSS below a ceiling, and its stderr empty.
 *
 * Client target: a fake server answers each of our client's calls with a mutated response
 * (and sometimes junk, a request of its own or a notification first); every call must settle
 * within its timeout plus a grace as a result or an RpcError, never hang or throw anything
 * else, and an unmutated response must give the right result. No uncaught exception or
 * unhandled rejection anywhere.
 *
 * Findings go to stdout; the exit code is 1 when any was found.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { encode } from '@msgpack/msgpack';
import { DivideByZeroError, NoSuchMethodError } from '../../src/contract/errors.js';
import { calculator, calculatorContract, RpcError } from '../../src/contract/index.js';
import {
  decodeMessage,
  encodeErrorResponse,
  encodeNotification,
  encodeRequest,
  encodeResult,
} from '../../src/protocols/msgpackrpc/codec.js';
import { errorElement } from '../../src/protocols/msgpackrpc/errors.js';
import { MessageReader } from '../../src/protocols/msgpackrpc/framing.js';
import {
  connectMsgpackRpc,
  type MsgpackRpcConnection,
  type MsgpackRpcServer,
  openMsgpackRpc,
  serveMsgpackRpc,
} from '../../src/protocols/msgpackrpc/index.js';
import { option, prng } from './common.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

// ---- corpus -------------------------------------------------------------------------------

function ourMessages(): { calls: Buffer[]; replies: Buffer[] } {
  const calls = [
    encodeRequest(1, 'add', [2, 5]),
    encodeRequest(2, 'divide', [1, 0], ['double', 'double']),
    encodeRequest(3, 'divide', [6, 3], ['double', 'double']),
    encodeRequest(4, 'echo', [Buffer.from('hello')]),
    encodeRequest(5, 'echo', [Buffer.alloc(300, 0xab)]),
    encodeRequest(0xffffffff, 'add', [-2147483648, 2147483647]),
    encodeRequest(7, 'apply', [6, 7]),
    encodeRequest(8, 'multiply', [2, 3]),
    encodeRequest(9, 'add', ['x', { k: [1, 2] }]),
    encodeNotification('note', ['hello', 42, null, true]),
    Buffer.from(encode([0, 10, 'echo', ['text for a binary param']])),
    // Old-spec raw str carrying bytes, as msgpack-python 0.5.6 packs b'\xff\x00\xfe'.
    Buffer.from([0x94, 0x00, 0x0b, 0xa4, 0x65, 0x63, 0x68, 0x6f, 0x91, 0xa3, 0xff, 0x00, 0xfe]),
    // Other encoders' headers: str8 method, array16 params, uint32 msgid.
    Buffer.from([0x94, 0x00, 0xce, 0, 0, 0, 12, 0xd9, 0x03, 0x61, 0x64, 0x64, 0xdc, 0x00, 0x02, 0x01, 0x02]),
  ];
  const replies = [
    encodeResult(1, 7),
    encodeResult(2, 2, 'double'),
    encodeResult(3, Buffer.alloc(64, 7)),
    encodeErrorResponse(4, errorElement(new DivideByZeroError())),
    encodeErrorResponse(5, errorElement(new NoSuchMethodError('x'))),
    Buffer.from(encode([1, 6, [0, 'Invalid method: x'], null])),
    Buffer.from(encode([1, 7, "'x' method not found", null])),
    Buffer.from(encode([1, 8, { code: 'INTERNAL', message: 'boom' }, null])),
    Buffer.from(encode([1, 9, null, { nested: [1, [2, [3]]] }])),
    encodeRequest(100, 'mul', [6, 7]),
    encodeNotification('pushed', ['x']),
  ];
  // The codec returns Uint8Arrays; the mutators work on Buffers.
  return { calls: calls.map((c) => Buffer.from(c)), replies: replies.map((r) => Buffer.from(r)) };
}

/** The bytes msgpack-python 0.5.6 packs (its defaults: bytes as raw str), when its venv is there. */
function pythonCalls(): Buffer[] {
  const python = path.join(root, '.venv-peers', 'msgpackrpc', 'bin', 'python');
  const script = path.join(root, 'peers', 'python', 'msgpackrpc', 'fuzz_corpus.py');
  if (!existsSync(python) || !existsSync(script)) {
    console.error('fuzz: no .venv-peers/msgpackrpc, seeding with our own messages only');
    return [];
  }
  const run = spawnSync(python, [script], { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`fuzz_corpus.py failed: ${run.stderr}`);
  return (JSON.parse(run.stdout) as string[]).map((h) => Buffer.from(h, 'hex'));
}

// ---- mutations ----------------------------------------------------------------------------

const BOUNDARY = [0x00, 0x7f, 0x80, 0x90, 0x9f, 0xc0, 0xc1, 0xdc, 0xdd, 0xde, 0xdf, 0xd9, 0xdb, 0xc6, 0xff];

class Mutator {
  constructor(readonly rnd: () => number) {}
  int(n: number): number {
    return Math.floor(this.rnd() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }

  mutate(msg: Buffer, other: Buffer): { bytes: Buffer; ops: string[] } {
    let b = Buffer.from(msg);
    const ops: string[] = [];
    const n = 1 + this.int(3);
    for (let k = 0; k < n; k++) {
      const at = b.length > 0 ? this.int(b.length) : 0;
      switch (this.int(12)) {
        case 0: {
          const flips = 1 + this.int(6);
          for (let i = 0; i < flips && b.length > 0; i++) {
            const j = this.int(b.length);
            b[j] = b[j]! ^ (1 << this.int(8));
          }
          ops.push(`flip${flips}`);
          break;
        }
        case 1:
          if (b.length > 0) b[at] = this.pick(BOUNDARY);
          ops.push(`boundary@${at}`);
          break;
        case 2: {
          // A 32-bit length field (array32/map32/str32/bin32) declaring something big or off.
          const header = this.pick([0xdd, 0xdf, 0xdb, 0xc6, 0xc9]);
          const value = this.pick([0xffffffff, 0x7fffffff, 16 * 1024 * 1024 + 1, b.length - at, 3]);
          const field = Buffer.from([
            header,
            value >>> 24,
            (value >>> 16) & 0xff,
            (value >>> 8) & 0xff,
            value & 0xff,
          ]);
          b = Buffer.concat([b.subarray(0, at), field, b.subarray(at + 1)]);
          ops.push(`len${header.toString(16)}:${value}@${at}`);
          break;
        }
        case 3:
          b = b.subarray(0, at);
          ops.push(`trunc@${at}`);
          break;
        case 4: {
          const end = at + this.int(b.length - at + 1);
          b = Buffer.concat([b.subarray(0, end), b.subarray(at, end), b.subarray(end)]);
          ops.push(`dup${at}-${end}`);
          break;
        }
        case 5: {
          const cut = this.int(other.length + 1);
          b = Buffer.concat([b.subarray(0, at), other.subarray(cut)]);
          ops.push(`splice@${at}/${cut}`);
          break;
        }
        case 6:
          // Message type and arity: the first two bytes of a message.
          if (b.length > 1) {
            b[0] = this.pick([0x90, 0x91, 0x92, 0x93, 0x94, 0x95, 0x80]);
            b[1] = this.pick([0x00, 0x01, 0x02, 0x03, 0xff, 0xc0]);
          }
          ops.push('type');
          break;
        case 7: {
          const depth = this.pick([50, 99, 100, 101, 5000]);
          b = Buffer.concat([
            b.subarray(0, at),
            Buffer.alloc(depth, 0x91),
            Buffer.from([0xc0]),
            b.subarray(at),
          ]);
          ops.push(`nest${depth}@${at}`);
          break;
        }
        case 8: {
          const len = 1 + this.int(8);
          const junk = Buffer.alloc(len);
          for (let i = 0; i < len; i++) junk[i] = this.rnd() < 0.5 ? this.pick(BOUNDARY) : this.int(256);
          b = Buffer.concat([b.subarray(0, at), junk, b.subarray(at)]);
          ops.push(`insert${len}@${at}`);
          break;
        }
        case 9:
          b = Buffer.concat([b.subarray(0, at), b.subarray(at + 1 + this.int(8))]);
          ops.push(`delete@${at}`);
          break;
        case 10:
          // A msgid beyond uint32, negative, or a str.
          if (b.length > 2) {
            const id = this.pick([
              [0xcf, 0, 0, 0, 1, 0, 0, 0, 0],
              [0xff],
              [0xa1, 0x31],
              [0xc0],
              [0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0],
            ]);
            b = Buffer.concat([b.subarray(0, 2), Buffer.from(id), b.subarray(3)]);
          }
          ops.push('msgid');
          break;
        default:
          if (b.length > 0) b[at] = this.int(256);
          ops.push(`byte@${at}`);
      }
    }
    return { bytes: b, ops };
  }

  chunks(b: Buffer): Buffer[] {
    const cuts = new Set<number>();
    const n = this.int(6);
    for (let i = 0; i < n && b.length > 1; i++) cuts.add(1 + this.int(b.length - 1));
    const out: Buffer[] = [];
    let prev = 0;
    for (const c of [...[...cuts].sort((x, y) => x - y), b.length]) {
      out.push(b.subarray(prev, c));
      prev = c;
    }
    return out.filter((c) => c.length > 0);
  }
}

async function writeChunks(s: net.Socket, chunks: readonly Buffer[], rnd: () => number): Promise<void> {
  for (const c of chunks) {
    if (s.destroyed) return;
    s.write(c);
    if (rnd() < 0.5) await new Promise((r) => setImmediate(r));
  }
}

/** A message our server may send a fuzz connection: a response, or its call back to `mul`. */
function wellFormed(m: unknown): string | undefined {
  if (!Array.isArray(m)) return 'not an array';
  const id = m[1];
  const isId = typeof id === 'number' && Number.isInteger(id) && id >= 0 && id <= 0xffffffff;
  if (m[0] === 1 && m.length === 4 && isId) {
    if (m[2] !== null && typeof m[2] !== 'string') return `error element ${String(m[2])}`;
    return undefined;
  }
  if (m[0] === 0 && m.length === 4 && isId && m[2] === 'mul' && Array.isArray(m[3])) return undefined;
  return `unexpected message ${JSON.stringify(m, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))}`;
}

// ---- server target ------------------------------------------------------------------------

interface Child {
  readonly proc: ChildProcess;
  readonly port: number;
  stderr: string;
  exited: string | undefined;
}

async function startChild(): Promise<Child> {
  const proc = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--serve'], {
    cwd: root,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  let exited: string | undefined;
  proc.stderr?.on('data', (c: Buffer) => {
    stderr += c.toString('utf8');
  });
  proc.on('exit', (code, signal) => {
    exited = `exit code ${code} signal ${signal}`;
  });
  const line = await new Promise<string>((resolve, reject) => {
    let out = '';
    proc.stdout?.on('data', (c: Buffer) => {
      out += c.toString('utf8');
      if (out.includes('\n')) resolve(out.split('\n')[0]!);
    });
    proc.on('exit', () => reject(new Error(`server child exited: ${stderr}`)));
  });
  const child = {
    proc,
    port: (JSON.parse(line) as { port: number }).port,
    get stderr() {
      return stderr;
    },
    set stderr(v: string) {
      stderr = v;
    },
    get exited() {
      return exited;
    },
  };
  return child as Child;
}

function rssMiB(pid: number): number {
  const kb = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return kb ? Number(kb[1]) / 1024 : 0;
}

function sendMutated(
  port: number,
  chunks: readonly Buffer[],
  rnd: () => number,
): Promise<string | undefined> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    const reader = new MessageReader({ maxMessageBytes: 64 << 20 });
    let problem: string | undefined;
    let timer: NodeJS.Timeout | undefined;
    const done = () => {
      clearTimeout(timer);
      s.destroy();
      resolve(problem);
    };
    s.on('error', done);
    s.on('close', done);
    s.on('data', (c: Buffer) => {
      try {
        reader.push(c, (m) => {
          const why = wellFormed(decodeMessage(m));
          if (why !== undefined) problem ??= `the server sent ${why}`;
        });
      } catch (err) {
        problem ??= `the server sent bytes that do not frame: ${String(err)}`;
      }
    });
    s.on('connect', () => {
      void writeChunks(s, chunks, rnd).then(() => {
        if (rnd() < 0.3) s.end();
        timer = setTimeout(done, 20 + Math.floor(rnd() * 60));
      });
    });
  });
}

async function checkServer(child: Child, baseline: number): Promise<string | undefined> {
  if (child.exited) return `server child died: ${child.exited}\n${child.stderr}`;
  let client: MsgpackRpcConnection | undefined;
  try {
    client = await openMsgpackRpc({ port: child.port, timeoutMs: 10_000 });
    const sum = await client.call('add', [2, 5]);
    if (sum !== 7) return `add(2, 5) = ${String(sum)}`;
    // Every fuzz connection is closed on our side: the server must let go of them all.
    const deadline = Date.now() + 10_000;
    for (;;) {
      const open = (await client.call('connections', [])) as number;
      if (open === 1) break;
      if (Date.now() > deadline) return `${open - 1} fuzz connections still open on the server`;
      await new Promise((r) => setTimeout(r, 20));
    }
  } catch (err) {
    return `add(2, 5) failed: ${String(err)}`;
  } finally {
    await client?.close();
  }
  const rss = rssMiB(child.proc.pid!);
  if (rss > 1024 || rss > baseline + 512)
    return `server RSS ${rss.toFixed(0)} MiB (baseline ${baseline.toFixed(0)})`;
  if (child.stderr.trim() !== '') return `unexpected server output: ${child.stderr.trim().split('\n')[0]}`;
  return undefined;
}

async function fuzzServer(
  corpus: readonly Buffer[],
  rnd: () => number,
  iterations: number,
  deadline: number,
  batch: number,
) {
  const child = await startChild();
  const m = new Mutator(rnd);
  const baseline = rssMiB(child.proc.pid!);
  let done = 0;
  try {
    while (done < iterations && Date.now() < deadline) {
      const jobs: Promise<string | undefined>[] = [];
      const sent: string[] = [];
      for (let i = 0; i < batch && done < iterations; i++, done++) {
        const parts: Buffer[] = [];
        const ops: string[] = [];
        for (let k = 1 + m.int(4); k > 0; k--) {
          const seed = m.pick(corpus);
          if (rnd() < 0.6) {
            const mutated = m.mutate(seed, m.pick(corpus));
            parts.push(mutated.bytes);
            ops.push(mutated.ops.join(','));
          } else {
            parts.push(seed);
            ops.push('as is');
          }
        }
        const stream = Buffer.concat(parts);
        sent.push(`[${ops.join(' | ')}] ${stream.toString('hex').slice(0, 400)}`);
        jobs.push(sendMutated(child.port, m.chunks(stream), rnd));
      }
      const answers = await Promise.all(jobs);
      const bad = answers.findIndex((a) => a !== undefined);
      if (bad >= 0) {
        console.log(`server: FINDING in the batch ending at ${done}: ${answers[bad]}\n${sent[bad]}`);
        return false;
      }
      const problem = await checkServer(child, baseline);
      if (problem) {
        console.log(`server: FINDING after iteration ${done}: ${problem}\nbatch:\n${sent.join('\n')}`);
        return false;
      }
    }
    console.log(
      `server: ${done} mutated streams, every check passed; RSS ${rssMiB(child.proc.pid!).toFixed(0)} MiB (start ${baseline.toFixed(0)})`,
    );
    return true;
  } finally {
    child.proc.stdin?.end();
    child.proc.kill('SIGTERM');
  }
}

// ---- client target ------------------------------------------------------------------------

async function fuzzClient(
  replies: readonly Buffer[],
  rnd: () => number,
  iterations: number,
  deadline: number,
) {
  const m = new Mutator(rnd);
  // The fake server answers each request with what `answer` prepares.
  let answer: ((msgid: number) => Buffer[]) | undefined;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    const reader = new MessageReader({ maxMessageBytes: 64 << 20 });
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
    s.on('data', (c: Buffer) => {
      try {
        reader.push(c, (msg) => {
          const v = decodeMessage(msg) as unknown[];
          if (v[0] !== 0) return; // our client's responses to the fake server's own requests
          const out = answer?.(v[1] as number);
          if (out) void writeChunks(s, out, rnd);
        });
      } catch {
        s.destroy();
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const timeoutMs = 300;
  const outcomes = new Map<string, number>();
  let done = 0;
  let ok = true;
  try {
    while (done < iterations && Date.now() < deadline && ok) {
      let client = await connectMsgpackRpc(calculatorContract, { port, timeoutMs });
      for (let i = 0; i < 20 && done < iterations; i++, done++) {
        const intact = rnd() < 0.2;
        if (intact) {
          // An earlier mutated reply may have left a partial message on this connection (the
          // stream cannot resynchronise): an intact exchange is checked on a fresh one.
          await client.close();
          client = await connectMsgpackRpc(calculatorContract, { port, timeoutMs });
        }
        answer = (msgid) => {
          const before: Buffer[] = [];
          if (rnd() < 0.15) before.push(m.pick(replies.filter((r) => r[1] !== 0x01))); // a request or notification
          const reply = intact ? Buffer.from(encodeResult(msgid, 7)) : withMsgid(m.pick(replies), msgid, rnd);
          const body = intact ? reply : m.mutate(reply, m.pick(replies)).bytes;
          return m.chunks(Buffer.concat([...before, body]));
        };
        const started = Date.now();
        let outcome: string;
        try {
          const v = await client.add(2, 5);
          outcome = v === 7 ? 'result' : `result ${String(v)}`;
        } catch (err) {
          if (!(err instanceof RpcError)) {
            console.log(`client: FINDING: a call threw ${String(err)}`);
            ok = false;
            break;
          }
          outcome = err.code;
        }
        if (intact && outcome !== 'result') {
          console.log(`client: FINDING: an intact reply on a fresh connection gave ${outcome}`);
          ok = false;
          break;
        }
        if (Date.now() - started > timeoutMs + 2_000) {
          console.log(`client: FINDING: a call took ${Date.now() - started} ms (timeout ${timeoutMs})`);
          ok = false;
          break;
        }
        outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
      }
      await client.close();
    }
    // After all that, an intact exchange on a fresh connection gives 7.
    answer = (msgid) => [Buffer.from(encodeResult(msgid, 7))];
    const fresh = await connectMsgpackRpc(calculatorContract, { port, timeoutMs: 5_000 });
    try {
      if ((await fresh.add(2, 5)) !== 7) {
        console.log('client: FINDING: a fresh client did not get 7');
        ok = false;
      }
    } finally {
      await fresh.close();
    }
  } finally {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  }
  const summary = [...outcomes].map(([k, v]) => `${k} ${v}`).join(', ');
  console.log(`client: ${done} mutated replies${ok ? ', every check passed' : ''}; outcomes: ${summary}`);
  return ok;
}

/** A reply rewritten to answer `msgid` (most of the time; sometimes another id on purpose). */
function withMsgid(reply: Buffer, msgid: number, rnd: () => number): Buffer {
  let v: unknown[];
  try {
    v = decodeMessage(reply) as unknown[];
  } catch {
    return reply;
  }
  if (v[0] !== 1) return reply;
  v[1] = rnd() < 0.9 ? msgid : (msgid + 1) >>> 0;
  return Buffer.from(encode(v, { useBigInt64: true }));
}

// ---- main ---------------------------------------------------------------------------------

async function main(): Promise<void> {
  const target = option('target', 'both');
  const seed = Number(option('seed', '1'));
  const iterations = Number(option('iterations', '5000'));
  const seconds = Number(option('seconds', '60'));
  const batch = Number(option('batch', '50'));
  const rnd = prng(seed);
  const uncaught: unknown[] = [];
  process.on('uncaughtException', (e) => uncaught.push(e));
  process.on('unhandledRejection', (e) => uncaught.push(e));

  const ours = ourMessages();
  const corpus = [...ours.calls, ...pythonCalls()];
  const deadline = Date.now() + seconds * 1000;
  let ok = true;
  console.log(
    `fuzz msgpackrpc: seed ${seed}, target ${target}, corpus ${corpus.length} calls / ${ours.replies.length} replies`,
  );
  if (target === 'server' || target === 'both') {
    const until = target === 'both' ? Date.now() + (seconds * 1000) / 2 : deadline;
    ok = (await fuzzServer(corpus, rnd, iterations, until, batch)) && ok;
  }
  if (target === 'client' || target === 'both')
    ok = (await fuzzClient(ours.replies, rnd, iterations, deadline)) && ok;
  if (uncaught.length > 0) {
    console.log(
      `FINDING: ${uncaught.length} uncaught exception(s) or unhandled rejection(s): ${String(uncaught[0])}`,
    );
    ok = false;
  }
  process.exit(ok ? 0 : 1);
}

// ---- server child -------------------------------------------------------------------------

async function serveChild(): Promise<void> {
  const server: MsgpackRpcServer = await serveMsgpackRpc(calculatorContract, calculator, {
    port: 0,
    timeoutMs: 500, // calls back into fuzz connections mostly never answer
    extras: {
      apply: async (peer: MsgpackRpcConnection, a: unknown, b: unknown) =>
        ((await peer.call('mul', [a, b])) as number) + 1,
      connections: (): number => server.connections().size,
    },
  });
  process.stdout.write(`${JSON.stringify({ port: server.port })}\n`);
  process.stdin.resume();
  process.stdin.on('end', () => process.exit(0));
}

if (process.argv.includes('--serve')) await serveChild();
else await main();
