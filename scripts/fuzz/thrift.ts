/**
 * Fuzzes the Thrift server and client with mutated real traffic, on loopback only.
 *
 *   npx tsx scripts/fuzz/thrift.ts --target server|client|both --seed 1 --iterations 5000 --seconds 120
 *
 * Seed corpus: the calls and replies thriftpy2 and the Apache Python library write
 * (peers/python/thrift/fuzz_corpus.py, needs .venv-peers; skipped without it), our client's
 * calls and our server's replies to all of those, for calculator.thrift and
 * test/cli/fixtures/toolbox.thrift (structs, enums, lists, sets, maps, oneway, exceptions), in
 * all four variants. Mutations: bit flips, boundary bytes (0x00/0x7f/0x80/0xff), length fields
 * set to 0/-1/huge/just past the end, truncation, duplication, splicing two messages, type-id
 * swaps, a valid message after a mutated one; every stream is written in random chunks.
 *
 * server: a child process serves both IDLs in all four variants; mutated calls go to it, many
 * connections at once. After each batch: the child is alive, answers add(2, 5) on a new
 * connection within 2 s, its RSS stayed under 1 GiB, and its stderr has nothing but the
 * documented one-line "dropped the connection" warnings.
 * client: a fake server answers each call of our client with a mutated reply (its sequence id set
 * to the call's before mutating); every call must settle within its timeout plus 2 s, with a result or
 * an RpcError, and the process must see no uncaught exception, unhandled rejection or warning.
 *
 * Exits 1 on the first failed check, printing the seed, iteration and the bytes (hex).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { calculator, calculatorContract, RpcError } from '../../src/contract/index.js';
import type { Contract, Implementation, MethodSpec } from '../../src/contract/spec.js';
import { bindContract } from '../../src/protocols/thrift/binding.js';
import type { StructLookup } from '../../src/protocols/thrift/codec.js';
import {
  MessageReader,
  parseVariant,
  VARIANTS,
  type VariantName,
} from '../../src/protocols/thrift/framing.js';
import type { ThriftType } from '../../src/protocols/thrift/idl.js';
import { thrift } from '../../src/protocols/thrift/index.js';
import { messageReader } from '../../src/protocols/thrift/library.js';
import { encodeCall, readHeader } from '../../src/protocols/thrift/messages.js';

import { option, prng } from './common.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const TOOLBOX = path.join(root, 'test', 'cli', 'fixtures', 'toolbox.thrift');
type Idl = 'calculator' | 'toolbox';

// ---- the toolbox service, served and called ad hoc (types come from the IDL) ---------------

const TOOLBOX_ARGS: Record<string, unknown[]> = {
  ping: [],
  reset: [],
  note: ['hi'],
  notes: [],
  compute: [{ num1: 3, num2: 4, op: 1, comment: 'c' }, 16],
  summarize: [[1n, -2n], new Map([['a', 1]]), ['x', 'y']],
  echoS: ['s\u00e9'],
  add: ['a', 'b'],
  half: [9],
  flip: [Buffer.from([1, 2, 3])],
  scale: [1.5, true],
  fail: ['why'],
};

const toolboxContract: Contract = {
  name: 'Toolbox',
  namespace: 'toolbox',
  methods: Object.fromEntries(
    Object.entries(TOOLBOX_ARGS).map(([name, args]): [string, MethodSpec] => [
      name,
      { params: args.map((_, i) => ({ name: `p${i}`, type: 'dynamic' })), result: 'dynamic' },
    ]),
  ),
};

const toolboxImpl: Record<string, (...args: unknown[]) => unknown> = {
  ping: () => 'pong',
  reset: () => undefined,
  note: () => undefined,
  notes: () => ['a', 'bc'],
  compute: (work, mode) => ({
    value: 2n ** 53n + 1n,
    op: mode,
    raw: Buffer.from([0, 255]),
    counts: new Map([['big', 2n ** 62n]]),
    tags: [3, 1],
    history: [work, work],
    ratio: Number.POSITIVE_INFINITY,
  }),
  summarize: () => new Map([['sum', 3n]]),
  echoS: (s) => s,
  add: (a, b) => `${String(a)}${String(b)}`,
  half: (n) => (typeof n === 'number' ? n >> 1 : 0),
  flip: (d) => (d instanceof Uint8Array ? Buffer.from(d).reverse() : Buffer.alloc(0)),
  scale: (x, neg) => (typeof x === 'number' ? (neg ? -x : 2 * x) : 0),
  fail: (why) => {
    throw new Error(String(why));
  },
};

// ---- arguments and PRNG -------------------------------------------------------------------

// ---- corpus -------------------------------------------------------------------------------

interface Seed {
  readonly source: string;
  readonly idl: Idl;
  readonly encoding: 'binary' | 'compact';
  readonly kind: 'call' | 'reply';
  readonly method: string;
  /** Unframed message. */
  readonly bytes: Buffer;
}

function pythonSeeds(): Seed[] {
  const python = path.join(root, '.venv-peers', 'bin', 'python');
  if (!existsSync(python)) {
    console.error('fuzz: no .venv-peers, seeding with our own traffic only');
    return [];
  }
  const run = spawnSync(python, [path.join(root, 'peers', 'python', 'thrift', 'fuzz_corpus.py'), TOOLBOX], {
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  if (run.status !== 0) throw new Error(`fuzz_corpus.py failed: ${run.stderr}`);
  const rows = JSON.parse(run.stdout) as (Omit<Seed, 'bytes'> & { hex: string })[];
  return rows.map(({ hex, ...rest }) => ({ ...rest, bytes: Buffer.from(hex, 'hex') }));
}

/** Our client's calls, written by encodeCall exactly as a connected client would. */
function ourCalls(): Seed[] {
  const out: Seed[] = [];
  const calc: [string, unknown[]][] = [
    ['add', [2, 5]],
    ['add', [2147483647, 1]],
    ['divide', [1, 0]],
    ['echo', [Buffer.from('hello')]],
  ];
  for (const encoding of ['binary', 'compact'] as const) {
    const variant = { encoding, framed: false };
    const c = bindContract(calculatorContract);
    calc.forEach(([m, args], i) => {
      out.push({
        source: 'ours',
        idl: 'calculator',
        encoding,
        kind: 'call',
        method: m,
        bytes: encodeCall(variant, c.plans.get(m)!, i + 1, args, c.structs),
      });
    });
    const t = bindContract(toolboxContract, TOOLBOX);
    Object.entries(TOOLBOX_ARGS).forEach(([m, args], i) => {
      out.push({
        source: 'ours',
        idl: 'toolbox',
        encoding,
        kind: 'call',
        method: m,
        bytes: encodeCall(variant, t.plans.get(m)!, i + 1, args, t.structs),
      });
    });
  }
  return out;
}

const frame = (b: Buffer) => {
  const h = Buffer.alloc(4);
  h.writeInt32BE(b.length);
  return Buffer.concat([h, b]);
};

function headerOf(encoding: 'binary' | 'compact', bytes: Buffer) {
  return readHeader(messageReader(encoding, bytes));
}

/** Our server's replies to every call of the corpus (buffered variants; framing is added later). */
async function ourReplies(calls: readonly Seed[], ports: ServerPorts): Promise<Seed[]> {
  const out: Seed[] = [];
  for (const call of calls) {
    if (call.method === 'note') continue; // oneway: no reply
    const variant: VariantName = `${call.encoding}-buffered`;
    const reply = await roundTrip(ports[call.idl][variant], variant, call.bytes);
    if (reply) out.push({ ...call, source: `ours-server(${call.source})`, kind: 'reply', bytes: reply });
  }
  return out;
}

function roundTrip(port: number, variant: VariantName, bytes: Buffer): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const reader = new MessageReader(parseVariant(variant), 16 << 20);
    const s = net.connect({ port, host: '127.0.0.1' });
    const timer = setTimeout(() => finish(undefined), 2_000);
    const finish = (b: Buffer | undefined) => {
      clearTimeout(timer);
      s.destroy();
      resolve(b);
    };
    s.on('connect', () => s.write(bytes));
    s.on('data', (c: Buffer) => {
      const m = reader.push(c);
      if (m.length > 0) finish(m[0]);
    });
    s.on('error', () => finish(undefined));
    s.on('close', () => finish(undefined));
  });
}

// ---- mutations ----------------------------------------------------------------------------

const BOUNDARY = [0x00, 0x7f, 0x80, 0xff];
const BINARY_TYPES = [2, 3, 4, 6, 8, 10, 11, 12, 13, 14, 15, 16];

function varint(n: number): Buffer {
  const out: number[] = [];
  let v = n >>> 0;
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  out.push(v);
  return Buffer.from(out);
}

class Mutator {
  constructor(readonly rnd: () => number) {}
  int(n: number): number {
    return Math.floor(this.rnd() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }

  /** One to three mutations of `msg` (framed: 4-byte size first), `other` for splices. */
  mutate(
    msg: Buffer,
    other: Buffer,
    encoding: 'binary' | 'compact',
    framed: boolean,
  ): { bytes: Buffer; ops: string[] } {
    let b = Buffer.from(msg);
    const ops: string[] = [];
    const n = 1 + this.int(3);
    for (let k = 0; k < n; k++) {
      const op = this.int(11);
      const at = b.length > 0 ? this.int(b.length) : 0;
      switch (op) {
        case 0: {
          const flips = 1 + this.int(8);
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
          // A length field: 4 bytes big-endian (binary, the frame size), or a varint (compact).
          const left = b.length - at;
          const value = this.pick([0, -1, 0x7fffffff, left + 1, left - 3, 1 << 24]);
          const pos = framed && this.rnd() < 0.3 ? 0 : at;
          if (encoding === 'binary' || pos === 0) {
            if (pos + 4 <= b.length) b.writeInt32BE(value | 0, pos);
          } else {
            b = Buffer.concat([b.subarray(0, pos), varint(value), b.subarray(pos + 1)]);
          }
          ops.push(`len${value}@${pos}`);
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
        case 6: {
          // Type-id swap: a byte that is a type id becomes another one (compact: the low nibble).
          const candidates: number[] = [];
          for (let i = 0; i < b.length; i++) {
            const v = b[i]!;
            if (encoding === 'binary' ? BINARY_TYPES.includes(v) : (v & 0x0f) >= 1 && (v & 0x0f) <= 12)
              candidates.push(i);
          }
          if (candidates.length > 0) {
            const j = this.pick(candidates);
            b[j] = encoding === 'binary' ? this.pick(BINARY_TYPES) : (b[j]! & 0xf0) | (1 + this.int(15));
            ops.push(`type@${j}`);
          }
          break;
        }
        case 7:
          b = Buffer.concat([b, b]);
          ops.push('twice');
          break;
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
        default:
          if (b.length > 0) b[at] = this.int(256);
          ops.push(`byte@${at}`);
      }
    }
    return { bytes: b, ops };
  }

  /** Splits a stream into 1..8 chunks at random places. */
  chunks(b: Buffer): Buffer[] {
    const cuts = new Set<number>();
    const n = this.int(8);
    for (let i = 0; i < n && b.length > 1; i++) cuts.add(1 + this.int(b.length - 1));
    const sorted = [...cuts].sort((x, y) => x - y);
    const out: Buffer[] = [];
    let prev = 0;
    for (const c of [...sorted, b.length]) {
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

// ---- server target ------------------------------------------------------------------------

type ServerPorts = Record<Idl, Record<VariantName, number>>;

/** Child mode: serve both IDLs in every variant, print the ports as one JSON line. */
async function serveAll(): Promise<void> {
  const ports = { calculator: {}, toolbox: {} } as ServerPorts;
  for (const v of VARIANTS) {
    ports.calculator[v] = (await thrift.serve(calculatorContract, calculator, { port: 0, variant: v })).port;
    ports.toolbox[v] = (
      await thrift.serve(toolboxContract, toolboxImpl as Implementation<Contract>, {
        port: 0,
        variant: v,
        schemaPath: TOOLBOX,
      })
    ).port;
  }
  process.stdout.write(`${JSON.stringify(ports)}\n`);
}

interface Child {
  readonly proc: ChildProcess;
  readonly ports: ServerPorts;
  stderr: string;
  exited: string | undefined;
}

async function startChild(): Promise<Child> {
  const proc = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--serve'], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const child: Child = { proc, ports: {} as ServerPorts, stderr: '', exited: undefined };
  proc.stderr?.on('data', (c: Buffer) => {
    child.stderr += c.toString('utf8');
  });
  proc.on('exit', (code, signal) => {
    child.exited = `exit code ${code} signal ${signal}`;
  });
  const line = await new Promise<string>((resolve, reject) => {
    let out = '';
    proc.stdout?.on('data', (c: Buffer) => {
      out += c.toString('utf8');
      if (out.includes('\n')) resolve(out.split('\n')[0]!);
    });
    proc.on('exit', () => reject(new Error(`server child exited: ${child.stderr}`)));
  });
  return Object.assign(child, { ports: JSON.parse(line) as ServerPorts });
}

function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = /VmRSS:\s+(\d+)/.exec(status);
  return kb ? Number(kb[1]) / 1024 : 0;
}

const DROPPED = /^thrift server: dropped the connection from 127\.0\.0\.1:\d+: \[[A-Z_]+\] .+$/;

/**
 * Sends one mutated stream and waits until the server closes, or briefly for its answer.
 * Resolves with a problem when what the server sent back is not well-formed replies.
 */
function sendMutated(
  port: number,
  variant: VariantName,
  chunks: readonly Buffer[],
  rnd: () => number,
): Promise<string | undefined> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    const reader = new MessageReader(parseVariant(variant), 16 << 20);
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
        for (const reply of reader.push(c)) {
          const h = headerOf(parseVariant(variant).encoding, reply);
          if (h.type !== 2 && h.type !== 3) throw new Error(`message type ${h.type}`);
        }
      } catch (err) {
        problem ??= `the server sent a malformed reply: ${String(err)}`;
      }
    });
    s.on('connect', () => {
      void writeChunks(s, chunks, rnd).then(() => {
        // Sometimes half-close, sometimes just go: both are real peers.
        if (rnd() < 0.3) s.end();
        timer = setTimeout(done, 20 + Math.floor(rnd() * 60));
      });
    });
  });
}

async function checkServer(child: Child, baseline: number, where: string): Promise<string | undefined> {
  if (child.exited) return `server child died: ${child.exited}\n${child.stderr}`;
  for (const v of VARIANTS) {
    const c = await thrift.connect(calculatorContract, {
      port: child.ports.calculator[v],
      variant: v,
      timeoutMs: 2_000,
    });
    try {
      const sum = await c.add(2, 5);
      if (sum !== 7) return `${v}: add(2, 5) = ${sum}`;
    } catch (err) {
      return `${v}: add(2, 5) after ${where} failed: ${String(err)}`;
    } finally {
      await c.close();
    }
  }
  const rss = rssMiB(child.proc.pid!);
  if (rss > 1024 || rss > baseline + 512)
    return `server RSS ${rss.toFixed(0)} MiB (baseline ${baseline.toFixed(0)})`;
  const lines = child.stderr.split('\n').filter((l) => l.length > 0);
  const odd = lines.find((l) => !DROPPED.test(l));
  if (odd !== undefined) return `unexpected server output: ${odd}`;
  child.stderr = '';
  return undefined;
}

function framedIf(framed: boolean, b: Buffer): Buffer {
  return framed ? frame(b) : b;
}

async function fuzzServer(
  seeds: readonly Seed[],
  child: Child,
  rnd: () => number,
  iterations: number,
  deadline: number,
) {
  const m = new Mutator(rnd);
  const calls = seeds.filter((s) => s.kind === 'call');
  const baseline = rssMiB(child.proc.pid!);
  const batch = 64;
  let done = 0;
  let drops = 0;
  // Why connections were dropped, numbers blanked: "undecodable call" would mean the scan let
  // through what the library's reader refuses.
  const reasons = new Map<string, number>();
  while (done < iterations && Date.now() < deadline) {
    const jobs: Promise<string | undefined>[] = [];
    const sent: string[] = [];
    for (let i = 0; i < batch && done < iterations; i++, done++) {
      const seed = m.pick(calls);
      const other = m.pick(calls.filter((c) => c.encoding === seed.encoding));
      const framed = rnd() < 0.5;
      const variant: VariantName = `${seed.encoding}-${framed ? 'framed' : 'buffered'}`;
      const { bytes, ops } = m.mutate(
        framedIf(framed, seed.bytes),
        framedIf(framed, other.bytes),
        seed.encoding,
        framed,
      );
      // Sometimes a valid call follows, so a mutation that leaves the stream in sync is seen to.
      const stream = rnd() < 0.3 ? Buffer.concat([bytes, framedIf(framed, seed.bytes)]) : bytes;
      sent.push(
        `${variant} ${seed.source}/${seed.idl}/${seed.method} [${ops.join(',')}] ${stream.toString('hex')}`,
      );
      jobs.push(sendMutated(child.ports[seed.idl][variant], variant, m.chunks(stream), rnd));
    }
    const answers = await Promise.all(jobs);
    const bad = answers.findIndex((a) => a !== undefined);
    if (bad >= 0) {
      console.error(`server: FAILED in the batch ending at ${done}: ${answers[bad]}\n${sent[bad]}`);
      return false;
    }
    for (const l of child.stderr.split('\n').filter((x) => DROPPED.test(x))) {
      drops++;
      const why = l
        .replace(/^.*?: \[/, '[')
        .replace(/0x[0-9a-f]+|-?\d+/g, 'N')
        .slice(0, 90);
      reasons.set(why, (reasons.get(why) ?? 0) + 1);
    }
    const problem = await checkServer(child, baseline, `iteration ${done}`);
    if (problem) {
      console.error(`server: FAILED after iteration ${done}: ${problem}\nbatch:\n${sent.join('\n')}`);
      return false;
    }
  }
  console.log(
    `server: ${done} mutated streams, every check passed; ${drops} connections dropped with a warning; RSS ${rssMiB(child.proc.pid!).toFixed(0)} MiB (start ${baseline.toFixed(0)})`,
  );
  if (process.argv.includes('--reasons'))
    for (const [why, n] of [...reasons].sort((a, b) => b[1] - a[1])) console.log(`  ${n}\t${why}`);
  return true;
}

// ---- client target ------------------------------------------------------------------------

/** Whether a decoded value is of IDL type `t` (a result our client hands its caller). */
function fits(t: ThriftType, v: unknown, structs: StructLookup): boolean {
  const int = (min: number, max: number) =>
    typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;
  switch (t.kind) {
    case 'void':
      return v === undefined;
    case 'bool':
      return typeof v === 'boolean';
    case 'byte':
      return int(-128, 127);
    case 'i16':
      return int(-32768, 32767);
    case 'i32':
    case 'enum':
      return int(-(2 ** 31), 2 ** 31 - 1);
    case 'i64':
      return typeof v === 'bigint' && BigInt.asIntN(64, v) === v;
    case 'double':
      return typeof v === 'number';
    case 'string':
      return typeof v === 'string';
    case 'binary':
      return v instanceof Uint8Array;
    case 'list':
    case 'set':
      return Array.isArray(v) && v.every((e) => fits(t.elem, e, structs));
    case 'map':
      return (
        v instanceof Map && [...v].every(([k, x]) => fits(t.key, k, structs) && fits(t.value, x, structs))
      );
    case 'struct': {
      const def = structs(t.name);
      if (typeof v !== 'object' || v === null || !def) return false;
      const o = v as Record<string, unknown>;
      return def.fields.every((f) => o[f.name] === undefined || fits(f.type, o[f.name], structs));
    }
  }
}

/** Sets the sequence id of an unframed message. */
function withSeqid(encoding: 'binary' | 'compact', msg: Buffer, seqid: number): Buffer {
  const b = Buffer.from(msg);
  if (encoding === 'binary') {
    const nameLen = b.readInt32BE(4);
    b.writeInt32BE(seqid, 8 + nameLen);
    return b;
  }
  let i = 2;
  while (b[i]! & 0x80) i++;
  return Buffer.concat([b.subarray(0, 2), varint(seqid), b.subarray(i + 1)]);
}

async function fuzzClient(seeds: readonly Seed[], rnd: () => number, iterations: number, deadline: number) {
  const m = new Mutator(rnd);
  const replies = seeds.filter((s) => s.kind === 'reply');
  const problems: string[] = [];
  const onProblem = (what: string) => (e: unknown) => problems.push(`${what}: ${String(e)}`);
  process.on('uncaughtException', onProblem('uncaught exception'));
  process.on('unhandledRejection', onProblem('unhandled rejection'));
  process.on('warning', onProblem('warning'));

  // The fake server answers each call with the reply `next` prepares.
  let next: ((call: Buffer, variant: VariantName) => Buffer[]) | undefined;
  let serverVariant: VariantName = 'binary-buffered';
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    const reader = new MessageReader(parseVariant(serverVariant), 16 << 20);
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
    s.on('data', (c: Buffer) => {
      let calls: Buffer[];
      try {
        calls = reader.push(c);
      } catch {
        s.destroy();
        return;
      }
      for (const call of calls) {
        const out = next?.(call, serverVariant);
        if (out) void writeChunks(s, out, rnd);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;

  let done = 0;
  const outcomes = new Map<string, number>();
  const bindings = {
    calculator: bindContract(calculatorContract),
    toolbox: bindContract(toolboxContract, TOOLBOX),
  };
  const timeoutMs = 300;
  for (const variant of VARIANTS) {
    const { encoding, framed } = parseVariant(variant);
    serverVariant = variant;
    for (const idl of ['calculator', 'toolbox'] as const) {
      const pool = replies.filter((r) => r.encoding === encoding && r.idl === idl);
      const contract = idl === 'calculator' ? calculatorContract : toolboxContract;
      const client = await thrift.connect(contract, {
        port,
        variant,
        timeoutMs,
        schemaPath: idl === 'toolbox' ? TOOLBOX : undefined,
      });
      const share = Math.ceil(iterations / (VARIANTS.length * 2));
      for (let i = 0; i < share && done < iterations && Date.now() < deadline; i++, done++) {
        const seed = m.pick(pool);
        const other = m.pick(pool);
        let described = '';
        next = (call) => {
          const seqid = headerOf(encoding, call).seqid; // MessageReader hands out payloads, unframed
          const base = framedIf(framed, withSeqid(encoding, seed.bytes, seqid));
          const { bytes, ops } = m.mutate(base, framedIf(framed, other.bytes), encoding, framed);
          described = `${variant} ${seed.source}/${idl}/${seed.method} [${ops.join(',')}] ${bytes.toString('hex')}`;
          return m.chunks(bytes);
        };
        const args =
          idl === 'calculator'
            ? seed.method === 'add'
              ? [2, 5]
              : seed.method === 'divide'
                ? [7, 2]
                : [Buffer.from('hello')]
            : TOOLBOX_ARGS[seed.method]!;
        const started = Date.now();
        const fn = (client as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[seed.method]!;
        const returns = bindings[idl].plans.get(seed.method)?.returns;
        // Sometimes several calls in flight at once, each answered by its own mutated reply.
        const calls = Array.from({ length: rnd() < 0.3 ? 2 + m.int(3) : 1 }, () => fn(...args));
        // Outcomes are attached at once: a call failing while an earlier one is awaited is handled.
        const settled = calls.map((call) => {
          const guard = new Promise<'hang'>((r) => setTimeout(() => r('hang'), timeoutMs + 2_000).unref());
          return Promise.race([
            call.then(
              (v) =>
                returns === undefined || fits(returns, v, bindings[idl].structs)
                  ? 'ok'
                  : `ill-typed result ${String(v)}`,
              (e: unknown) => (e instanceof RpcError ? e.code : `non-RpcError ${String(e)}`),
            ),
            guard,
          ]);
        });
        for (const pending of settled) {
          const outcome = await pending;
          outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
          if (
            outcome === 'hang' ||
            outcome.startsWith('non-RpcError') ||
            outcome.startsWith('ill-typed') ||
            problems.length > 0
          ) {
            console.error(
              `client: FAILED at iteration ${done}: ${outcome} ${problems.join('; ')} after ${Date.now() - started} ms\n${described}`,
            );
            return false;
          }
        }
        // Stray replies from duplicated messages must not leak into the next iteration's check.
        if (rnd() < 0.05) for (const s of sockets) s.destroy();
      }
      await client.close();
    }
  }
  next = undefined;
  for (const s of sockets) s.destroy();
  await new Promise<void>((r) => server.close(() => r()));
  const summary = [...outcomes].map(([k, v]) => `${k} ${v}`).join(', ');
  const total = [...outcomes.values()].reduce((a, b) => a + b, 0);
  console.log(
    `client: ${done} iterations, ${total} calls on mutated replies, every call settled (${summary})`,
  );
  return true;
}

// ---- main ---------------------------------------------------------------------------------

async function main(): Promise<void> {
  if (process.argv.includes('--serve')) return serveAll();
  const target = option('target', 'both');
  const seed = Number(option('seed', '1'));
  const iterations = Number(option('iterations', '2000'));
  const deadline = Date.now() + Number(option('seconds', '60')) * 1000;
  const rnd = prng(seed);
  const child = await startChild();
  let ok = true;
  try {
    const python = pythonSeeds();
    const calls = [...python.filter((s) => s.kind === 'call'), ...ourCalls()];
    const seeds = [...python, ...ourCalls(), ...(await ourReplies(calls, child.ports))];
    console.log(`seed ${seed}: corpus of ${seeds.length} messages (${calls.length} calls)`);
    if (target === 'server' || target === 'both')
      ok = (await fuzzServer(seeds, child, rnd, iterations, deadline)) && ok;
    if (ok && (target === 'client' || target === 'both'))
      ok = (await fuzzClient(seeds, rnd, iterations, deadline)) && ok;
  } finally {
    child.proc.kill();
  }
  process.exitCode = ok ? 0 : 1;
}

await main();
