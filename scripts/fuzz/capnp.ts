/**
 * Fuzzes the Cap'n Proto server and client with mutated RPC traffic (loopback only).
 *
 *   npx tsx scripts/fuzz/capnp.ts [--target server|client|both] [--seed N]
 *                                 [--iterations N] [--seconds N] [--batch N]
 *
 * Corpus: whole sessions (every frame one client sent on one connection, and every frame the
 * server sent back), captured through a relay in front of our server: our contract client
 * (add twice on one bootstrap, divide, divide by zero, echo) and our capability API (a
 * pipelined adder(10).adder.add(2), an awaited one, a callback through apply, releases), and,
 * when .venv-peers/capnp exists, pycapnp's peers/python/capnp/full_client.py and client.py.
 * Frames above 64 KiB (the 1 MiB echo) are left out. To those, messages built here that the
 * clients do not send: calls pipelined on a promised answer with transforms (deep, with noops),
 * cap tables naming every descriptor kind, sendResultsTo yourself and thirdParty, a promise
 * resolved to the server's own capability (an embargo), Disembargo in every context, Release,
 * Finish, Return, Abort, Unimplemented, and the level 2+ messages with deep AnyPointers.
 *
 * Mutations: byte-level (flips, boundary bytes, truncation, insertion, deletion, duplication),
 * structure-aware on the pointers of a message (offsets out of bounds or pointing at
 * themselves, far and double-far pointers to missing segments, to bad landing pads or to each
 * other, the same content moved behind a valid far pointer, wrong list element sizes, list
 * counts, struct sizes, type swaps, cap indexes, chains of 64/65/1000/10000 structs or lists),
 * segment tables lying about the count or a size, a segment split in two, hundreds of empty
 * segments, missing padding, 2^32 segments, and on the session (frames dropped, repeated,
 * swapped, spliced from another session, built ones inserted, garbage after).
 *
 * Server target: serveCapnp in a child process. Each iteration replays one mutated session on
 * a fresh connection in random chunks; whatever comes back must frame and read as RPC
 * messages. After every batch: the child is alive, a fresh client's add(2, 5) is 7 (10 s),
 * every fuzz connection is gone from the server, its RSS is bounded, and its stderr is empty
 * (an uncaught error or unhandled rejection ends the child, and so is seen).
 *
 * Client target: a fake server answers our client's Bootstrap and calls (contract add, echo,
 * a pipelined adder, apply with a callback it calls back) with mutated Returns and Resolves,
 * captured replies with their answer IDs rewritten, or built messages first. Every call must
 * settle within its timeout plus a grace as a result or an RpcError; an intact exchange on a
 * fresh connection gives the right result; nothing is thrown uncaught.
 *
 * Findings go to stdout with the bytes (hex); the exit code is 1 when any was found.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import * as capnp from 'capnp-es';
import * as rpc from 'capnp-es/capnp/rpc';
import { calculator, calculatorContract, RpcError } from '../../src/contract/index.js';
import { runToCompletion } from '../../src/peers/child-process.js';
import {
  ADDER_INTERFACE_ID,
  adderInterface,
  CALCULATOR_INTERFACE_ID,
  calculatorInterface,
  functionInterface,
} from '../../src/protocols/capnp/calculator-schema.js';
import {
  initStructAtPointer,
  type MethodLayout,
  type Values,
  writeStruct,
} from '../../src/protocols/capnp/codec.js';
import { FrameReader } from '../../src/protocols/capnp/framing.js';
import {
  type CapnpServer,
  type CapnpSession,
  capnpClient,
  connectCapnp,
  openCapnp,
  serveCapnp,
} from '../../src/protocols/capnp/index.js';
import {
  cloneMessage,
  deepChain,
  doubleFar,
  farPointer,
  frameOf,
  type HeaderLie,
  type PointerRef,
  parseFrame,
  pointers,
  type RawMessage,
  readPointer,
  singleFar,
  withOffset,
  writePointer,
} from './capnp-wire.js';
import { option, prng } from './common.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const MAX_CORPUS_FRAME = 64 * 1024;

// ---- corpus: captured sessions ------------------------------------------------------------

interface Session {
  readonly source: string;
  /** What the client sent, frame by frame (segment table included). */
  readonly up: Buffer[];
  /** What the server sent back. */
  readonly down: Buffer[];
}

function framesOf(chunks: readonly Buffer[]): Buffer[] {
  const reader = new FrameReader({ maxMessageBytes: 64 << 20, maxSegments: 4096 });
  const out: Buffer[] = [];
  for (const c of chunks) for (const f of reader.push(c)) out.push(Buffer.from(f));
  return out.filter((f) => f.length <= MAX_CORPUS_FRAME);
}

/** A relay in front of `port` that keeps every connection's traffic, both ways. */
async function captureRelay(port: number): Promise<{
  port: number;
  sessions(source: string): Promise<Session[]>;
  close(): Promise<void>;
}> {
  const open: { up: Buffer[]; down: Buffer[]; closed: Promise<void> }[] = [];
  const relay = net.createServer((client) => {
    const up: Buffer[] = [];
    const down: Buffer[] = [];
    const upstream = net.connect({ port, host: '127.0.0.1' });
    const closed = new Promise<void>((resolve) => {
      let n = 0;
      const one = () => {
        n++;
        if (n === 2) resolve();
      };
      client.on('close', one);
      upstream.on('close', one);
    });
    open.push({ up, down, closed });
    client.on('data', (c: Buffer) => {
      up.push(Buffer.from(c));
      upstream.write(c);
    });
    upstream.on('data', (c: Buffer) => {
      down.push(Buffer.from(c));
      client.write(c);
    });
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
  return {
    port: (relay.address() as net.AddressInfo).port,
    async sessions(source) {
      const taken = open.splice(0);
      await Promise.all(taken.map((s) => Promise.race([s.closed, delay(3_000)])));
      return taken.map((s) => ({ source, up: framesOf(s.up), down: framesOf(s.down) }));
    },
    close: () => new Promise<void>((r) => relay.close(() => r())),
  };
}

const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Our client's sessions, through the relay. */
async function ourSessions(port: number): Promise<void> {
  const calc = await connectCapnp(calculatorContract, { port, timeoutMs: 5_000 });
  await calc.add(2, 5);
  await calc.add(2, 5);
  await calc.divide(6, 3);
  await calc.divide(1, 0).catch(() => undefined);
  await calc.echo(Buffer.from('hello'));
  await calc.echo(Buffer.alloc(300, 0xab));
  await calc.close();

  const session: CapnpSession = await openCapnp({ port, timeoutMs: 5_000 });
  const boot = session.bootstrap();
  const pending = boot.call('adder', { base: 10 });
  const adder = pending.cap('adder');
  await adder.call('add', { x: 2 }).result;
  adder.release();
  ((await pending.result).adder as { release(): void }).release();
  const awaited = (await boot.call('adder', { base: 3 }).result).adder as typeof adder;
  await awaited.call('add', { x: 4 }).result;
  awaited.release();
  const fn = session.serve('Function', { call: ({ a, b }) => ({ result: (a as number) * (b as number) }) });
  await boot.call('apply', { fn, a: 5, b: 6 }).result;
  fn.release();
  await Promise.all(Array.from({ length: 4 }, (_, i) => boot.call('add', { a: i, b: i }).result));
  boot.release();
  await delay(50);
  await session.close();
}

/** pycapnp's clients (the C++ implementation), through the relay; none without the venv. */
async function pythonSessions(port: number): Promise<boolean> {
  const python = path.join(root, '.venv-peers', 'capnp', 'bin', 'python');
  if (!existsSync(python)) {
    console.error('fuzz: no .venv-peers/capnp, seeding with our own sessions only');
    return false;
  }
  for (const script of ['full_client.py', 'client.py']) {
    const file = path.join(root, 'peers', 'python', 'capnp', script);
    const run = await runToCompletion(python, ['-u', file, String(port)], {
      cwd: path.dirname(file),
      env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' },
      timeoutMs: 60_000,
    });
    if (run.code !== 0) throw new Error(`${script} failed: ${run.stderr}`);
  }
  return true;
}

const CORPUS_FILE = path.join(root, 'scripts', 'fuzz', 'corpus', 'capnp-sessions.json');

/**
 * The sessions: captured live with --capture (--save writes them to CORPUS_FILE), else read
 * from CORPUS_FILE, so a seed replays the same mutations on every machine (pycapnp's frames
 * come in an order of its own from run to run).
 */
async function corpusSessions(): Promise<Session[]> {
  if (!process.argv.includes('--capture') && existsSync(CORPUS_FILE)) {
    const rows = JSON.parse(readFileSync(CORPUS_FILE, 'utf8')) as {
      source: string;
      up: string[];
      down: string[];
    }[];
    return rows.map((r) => ({
      source: r.source,
      up: r.up.map((h) => Buffer.from(h, 'hex')),
      down: r.down.map((h) => Buffer.from(h, 'hex')),
    }));
  }
  const sessions = await captureSessions();
  if (process.argv.includes('--save')) {
    const rows = sessions.map((s) => ({
      source: s.source,
      up: s.up.map((b) => b.toString('hex')),
      down: s.down.map((b) => b.toString('hex')),
    }));
    writeFileSync(CORPUS_FILE, `${JSON.stringify(rows, null, 2)}\n`);
    console.log(`fuzz capnp: wrote ${sessions.length} sessions to ${path.relative(root, CORPUS_FILE)}`);
  }
  return sessions;
}

/**
 * A session whose question IDs are never reused. A client reuses an ID once the Return came
 * and it sent Finish; replayed at once, the reused ID would reach the server before its first
 * use returned (a protocol error, fairly aborted), and nothing after it would be read.
 */
function renumbered(s: Session): Session {
  const ids = new Map<number, number>();
  let next = 0;
  const fresh = (q: number) => {
    const id = next++;
    ids.set(q, id);
    return id;
  };
  const ref = (q: number) => ids.get(q) ?? q;
  const promised = (pa: rpc.PromisedAnswer) => {
    pa.questionId = ref(pa.questionId);
  };
  const target = (t: rpc.MessageTarget) => {
    if (t.which() === rpc.MessageTarget.PROMISED_ANSWER) promised(t.promisedAnswer);
  };
  const up = s.up.map((frame) => {
    // capnp-es reads a copy of the segments: the edits are written out with toArrayBuffer().
    const message = new capnp.Message(new Uint8Array(frame).buffer, false);
    try {
      const m = message.getRoot(rpc.Message);
      switch (m.which()) {
        case rpc.Message.BOOTSTRAP:
          m.bootstrap.questionId = fresh(m.bootstrap.questionId);
          break;
        case rpc.Message.CALL: {
          const c = m.call;
          target(c.target);
          const table = c.params.capTable;
          for (let i = 0; i < table.length; i++) {
            const d = table.get(i);
            if (d.which() === rpc.CapDescriptor.RECEIVER_ANSWER) promised(d.receiverAnswer);
          }
          c.questionId = fresh(c.questionId);
          break;
        }
        case rpc.Message.FINISH:
          m.finish.questionId = ref(m.finish.questionId);
          break;
        case rpc.Message.DISEMBARGO:
          target(m.disembargo.target);
          break;
        default:
      }
      return Buffer.from(message.toArrayBuffer());
    } catch {
      return frame;
    }
  });
  return { ...s, up };
}

async function captureSessions(): Promise<Session[]> {
  const server = await serveCapnp(calculatorContract, calculator, { port: 0 });
  const relay = await captureRelay(server.port);
  try {
    await ourSessions(relay.port);
    const ours = await relay.sessions('ours');
    const python = (await pythonSessions(relay.port)) ? await relay.sessions('pycapnp') : [];
    return [...ours, ...python].filter((s) => s.up.length > 0);
  } finally {
    await relay.close();
    await server.close();
  }
}

// ---- corpus: built messages ---------------------------------------------------------------

function build(fill: (m: rpc.Message) => void): Buffer {
  const message = new capnp.Message();
  fill(message.initRoot(rpc.Message));
  return Buffer.from(message.toArrayBuffer());
}

function method(name: string): MethodLayout {
  const all = [calculatorInterface, adderInterface, functionInterface];
  const [iface, m] = name.split('.') as [string, string];
  return all.find((i) => i.name === iface)!.methods.get(m)!;
}

type TargetSpec = { importedCap: number } | { question: number; path: number[]; noops?: number };

function writeTarget(t: rpc.MessageTarget, target: TargetSpec): void {
  if ('importedCap' in target) {
    t.importedCap = target.importedCap;
    return;
  }
  writePromised(t._initPromisedAnswer(), target);
}

function writePromised(pa: rpc.PromisedAnswer, target: { question: number; path: number[]; noops?: number }) {
  pa.questionId = target.question;
  const noops = target.noops ?? 0;
  const ops = pa._initTransform(target.path.length + noops);
  for (let i = 0; i < noops; i++) ops.get(i).noop = true;
  target.path.forEach((index, i) => {
    ops.get(noops + i).getPointerField = index;
  });
}

type Descriptor =
  | { senderHosted: number }
  | { senderPromise: number }
  | { receiverHosted: number }
  | { receiverAnswer: { question: number; path: number[] } }
  | { thirdParty: number }
  | { none: true };

function writeDescriptor(d: rpc.CapDescriptor, spec: Descriptor): void {
  if ('senderHosted' in spec) d.senderHosted = spec.senderHosted;
  else if ('senderPromise' in spec) d.senderPromise = spec.senderPromise;
  else if ('receiverHosted' in spec) d.receiverHosted = spec.receiverHosted;
  else if ('receiverAnswer' in spec) writePromised(d._initReceiverAnswer(), spec.receiverAnswer);
  else if ('thirdParty' in spec) d._initThirdPartyHosted().vineId = spec.thirdParty;
  else d.none = true;
}

/** A payload of `values` as `layout`; capability fields hold cap-table indexes (numbers). */
function writePayload(
  p: rpc.Payload,
  m: MethodLayout,
  which: 'params' | 'results',
  values: Values,
  caps: Descriptor[],
) {
  const layout = m[which];
  writeStruct(initStructAtPointer(p.content, layout), layout, values, (cap) => cap as number);
  const table = p._initCapTable(caps.length);
  caps.forEach((c, i) => {
    writeDescriptor(table.get(i), c);
  });
}

function call(
  question: number,
  target: TargetSpec,
  name: string,
  values: Values,
  caps: Descriptor[] = [],
  sendTo?: 'yourself' | 'thirdParty',
): Buffer {
  const m = method(name);
  return build((root) => {
    const c = root._initCall();
    c.questionId = question;
    c.interfaceId = m.interfaceId;
    c.methodId = m.methodId;
    writeTarget(c._initTarget(), target);
    writePayload(c._initParams(), m, 'params', values, caps);
    if (sendTo === 'yourself') c._initSendResultsTo().yourself = true;
    if (sendTo === 'thirdParty')
      c._initSendResultsTo().thirdParty = new capnp.Message().initRoot(rpc.Bootstrap);
  });
}

function ret(answer: number, name: string | undefined, values: Values, caps: Descriptor[] = []): Buffer {
  return build((root) => {
    const r = root._initReturn();
    r.answerId = answer;
    r.releaseParamCaps = false;
    const results = r._initResults();
    if (name === undefined) {
      // A Bootstrap's Return: the content is the capability itself.
      capnp.utils.setInterfacePointer(0, results.content);
      const table = results._initCapTable(caps.length);
      caps.forEach((c, i) => {
        writeDescriptor(table.get(i), c);
      });
    } else writePayload(results, method(name), 'results', values, caps);
  });
}

function exceptionOf(e: rpc.Exception, reason: string, type = 0): void {
  e.reason = reason;
  e.type = type as rpc.Exception_Type;
}

const bootstrap = (q: number) => build((r) => (r._initBootstrap().questionId = q));
const finish = (q: number, release: boolean) =>
  build((r) => {
    const f = r._initFinish();
    f.questionId = q;
    f.releaseResultCaps = release;
  });
const release = (id: number, count: number) =>
  build((r) => {
    const x = r._initRelease();
    x.id = id;
    x.referenceCount = count;
  });
const resolveTo = (promise: number, to: Descriptor | string) =>
  build((r) => {
    const x = r._initResolve();
    x.promiseId = promise;
    if (typeof to === 'string') exceptionOf(x._initException(), to);
    else writeDescriptor(x._initCap(), to);
  });
type EmbargoContext =
  | { senderLoopback: number }
  | { receiverLoopback: number }
  | 'accept'
  | { provide: number };
const disembargo = (target: TargetSpec, context: EmbargoContext) =>
  build((r) => {
    const d = r._initDisembargo();
    writeTarget(d._initTarget(), target);
    const c = d._initContext();
    if (context === 'accept') c.accept = true;
    else if ('senderLoopback' in context) c.senderLoopback = context.senderLoopback;
    else if ('receiverLoopback' in context) c.receiverLoopback = context.receiverLoopback;
    else c.provide = context.provide;
  });
const abort = (reason: string) => build((r) => exceptionOf(r._initAbort(), reason));

/** A message whose root union is `which` and whose AnyPointer (pointer `slot` of its struct, or the root's own) is a deep chain. */
function deepAny(fill: (m: rpc.Message) => void, slotPath: number[], depth: number, lists = false): Buffer {
  const raw = parseFrame(build(fill))!;
  let ref: PointerRef = { seg: 0, word: 0, depth: 0 };
  for (const slot of slotPath) ref = slotOf(raw, ref, slot);
  deepChain(raw, ref, depth, lists);
  return frameOf(raw);
}

/** The `i`th pointer slot of the struct `ref` points at (same segment, no far pointers). */
function slotOf(m: RawMessage, ref: PointerRef, i: number): PointerRef {
  const { lo, hi } = readPointer(m, ref);
  const start = ref.word + 1 + (lo >> 2);
  return { seg: ref.seg, word: start + (hi & 0xffff) + i, depth: ref.depth + 1 };
}

/** Messages a client may send that our clients and pycapnp's did not (ids after a Bootstrap of question 0). */
function builtCalls(): Buffer[] {
  const calc = { importedCap: 0 };
  const onBoot = { question: 0, path: [] };
  const out = [
    bootstrap(0),
    bootstrap(40),
    call(1, calc, 'Calculator.add', { a: 2, b: 5 }),
    call(2, onBoot, 'Calculator.add', { a: 2, b: 5 }),
    call(3, { question: 0, path: [], noops: 3 }, 'Calculator.add', { a: -2147483648, b: -1 }),
    call(4, calc, 'Calculator.adder', { base: 10 }),
    call(5, { question: 4, path: [0] }, 'Adder.add', { x: 2 }),
    call(6, { question: 4, path: [0, 0, 0] }, 'Adder.add', { x: 2 }),
    call(7, { question: 4, path: [1] }, 'Adder.add', { x: 2 }),
    call(8, { question: 4, path: Array.from({ length: 200 }, () => 0) }, 'Adder.add', { x: 2 }),
    call(9, { question: 99, path: [0] }, 'Adder.add', { x: 2 }),
    call(10, { importedCap: 77 }, 'Calculator.add', { a: 1, b: 1 }),
    call(11, calc, 'Calculator.apply', { fn: 0, a: 5, b: 6 }, [{ senderHosted: 3 }]),
    call(12, calc, 'Calculator.apply', { fn: 0, a: 5, b: 6 }, [{ senderPromise: 4 }]),
    resolveTo(4, { senderHosted: 5 }),
    resolveTo(4, { receiverHosted: 0 }),
    resolveTo(4, 'DIVIDE_BY_ZERO: the promise broke'),
    resolveTo(9, { receiverAnswer: { question: 4, path: [0] } }),
    call(13, calc, 'Calculator.apply', { fn: 1, a: 5, b: 6 }, [{ none: true }, { receiverHosted: 0 }]),
    call(14, calc, 'Calculator.apply', { fn: 0, a: 5, b: 6 }, [
      { receiverAnswer: { question: 4, path: [0] } },
    ]),
    call(15, calc, 'Calculator.apply', { fn: 0, a: 5, b: 6 }, [{ thirdParty: 8 }]),
    call(16, calc, 'Calculator.apply', { fn: 5, a: 5, b: 6 }, [{ senderHosted: 3 }]),
    call(17, calc, 'Calculator.apply', { fn: 0, a: 1, b: 2 }, [{ receiverHosted: 55 }]),
    call(18, calc, 'Calculator.add', { a: 1, b: 2 }, [
      { senderHosted: 6 },
      { senderPromise: 7 },
      { senderHosted: 6 },
    ]),
    call(19, calc, 'Calculator.add', { a: 1, b: 2 }, [], 'yourself'),
    call(20, calc, 'Calculator.echo', { data: Buffer.alloc(100, 1) }),
    call(21, calc, 'Adder.add', { x: 1 }),
    call(22, calc, 'Function.call', { a: 1, b: 1 }),
    call(1, calc, 'Calculator.add', { a: 2, b: 5 }), // a question id already in use
    finish(1, true),
    finish(4, false),
    finish(1234, true),
    release(0, 1),
    release(0, 0xffffffff),
    release(1, 1),
    release(999, 1),
    disembargo(calc, { senderLoopback: 0 }),
    disembargo({ question: 4, path: [0] }, { senderLoopback: 1 }),
    disembargo({ importedCap: 1 }, { senderLoopback: 2 }),
    disembargo(calc, { receiverLoopback: 0 }),
    disembargo(calc, 'accept'),
    disembargo(calc, { provide: 3 }),
    ret(0, 'Function.call', { result: 30 }),
    ret(0, undefined, {}, [{ senderHosted: 0 }]),
    build((r) => {
      const x = r._initReturn();
      x.answerId = 0;
      x.canceled = true;
    }),
    build((r) => {
      const x = r._initReturn();
      x.answerId = 0;
      x.takeFromOtherQuestion = 19;
    }),
    abort('fuzz: goodbye'),
    build((r) => {
      r.unimplemented = new capnp.Message().initRoot(rpc.Message);
    }),
    build((r) => {
      const u = new capnp.Message().initRoot(rpc.Message);
      u._initBootstrap().questionId = 0;
      r.unimplemented = u;
    }),
    build((r) => {
      const u = new capnp.Message().initRoot(rpc.Message);
      u._initResolve().promiseId = 0;
      u.resolve._initCap().senderHosted = 0;
      r.unimplemented = u;
    }),
    build((r) => {
      const p = r._initProvide();
      p.questionId = 30;
      writeTarget(p._initTarget(), calc);
    }),
    build((r) => {
      r._initAccept().questionId = 31;
    }),
    build((r) => {
      const j = r._initJoin();
      j.questionId = 32;
      writeTarget(j._initTarget(), calc);
    }),
  ];
  // Deep AnyPointers in the messages a level-1 peer echoes back as Unimplemented, and in a call.
  for (const depth of [63, 64, 65, 1000, 10_000]) {
    out.push(
      deepAny(
        (r) => {
          const p = r._initProvide();
          p.questionId = 33;
          writeTarget(p._initTarget(), calc);
        },
        [0, 1],
        depth,
      ),
      deepAny((r) => capnp.utils.setUint16(0, rpc.Message.OBSOLETE_SAVE, r), [0], depth, depth % 2 === 0),
      deepAny(
        (r) => {
          const b = r._initBootstrap();
          b.questionId = 34;
        },
        [0, 0],
        depth,
      ),
      deepAny(
        (r) => {
          const u = new capnp.Message().initRoot(rpc.Message);
          u._initAccept().questionId = 35;
          r.unimplemented = u;
        },
        [0, 0],
        depth,
      ),
    );
  }
  return out;
}

/** Messages a server may send a client beyond the Returns it answers with. */
function builtReplies(): Buffer[] {
  return [
    resolveTo(0, { senderHosted: 1 }),
    resolveTo(0, { receiverHosted: 0 }),
    resolveTo(0, 'OVERLOADED: try later'),
    resolveTo(77, { senderHosted: 2 }),
    release(0, 1),
    release(5, 0xffffffff),
    disembargo({ importedCap: 0 }, { senderLoopback: 0 }),
    disembargo({ importedCap: 0 }, { receiverLoopback: 0 }),
    disembargo({ question: 0, path: [0] }, 'accept'),
    ret(99, 'Calculator.add', { result: 7 }),
    build((r) => {
      const x = r._initReturn();
      x.answerId = 0;
      x.resultsSentElsewhere = true;
    }),
    call(0, { importedCap: 0 }, 'Function.call', { a: 1, b: 2 }),
    call(1, { importedCap: 9 }, 'Function.call', { a: 1, b: 2 }),
    bootstrap(3),
    finish(0, true),
    abort('DIVIDE_BY_ZERO: the server gave up'),
    build((r) => {
      const u = new capnp.Message().initRoot(rpc.Message);
      u._initCall().questionId = 0;
      r.unimplemented = u;
    }),
    deepAny((r) => capnp.utils.setUint16(0, rpc.Message.OBSOLETE_DELETE, r), [0], 10_000),
  ];
}

// ---- mutations ----------------------------------------------------------------------------

const BOUNDARY = [0x00, 0x01, 0x02, 0x03, 0x7f, 0x80, 0xfe, 0xff];

class Mutator {
  constructor(readonly rnd: () => number) {}
  int(n: number): number {
    return Math.floor(this.rnd() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
  chance(p: number): boolean {
    return this.rnd() < p;
  }

  /** One to three mutations of a framed message; structure-aware when it parses. */
  frame(frame: Buffer, other: Buffer): { bytes: Buffer; ops: string[] } {
    const raw = parseFrame(frame);
    const ops: string[] = [];
    if (raw !== undefined && this.chance(0.75)) {
      const m = cloneMessage(raw);
      let lie: HeaderLie = {};
      for (let k = 1 + this.int(3); k > 0; k--) {
        if (this.chance(0.12)) {
          const l = this.header(m);
          lie = { ...lie, ...l.lie };
          ops.push(l.op);
        } else ops.push(this.pointer(m));
      }
      return { bytes: frameOf(m, lie), ops };
    }
    return this.bytes(frame, other);
  }

  bytes(msg: Buffer, other: Buffer): { bytes: Buffer; ops: string[] } {
    let b = Buffer.from(msg);
    const ops: string[] = [];
    for (let k = 1 + this.int(3); k > 0; k--) {
      const at = b.length > 0 ? this.int(b.length) : 0;
      switch (this.int(8)) {
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
        case 2:
          b = b.subarray(0, at);
          ops.push(`trunc@${at}`);
          break;
        case 3: {
          const end = at + this.int(b.length - at + 1);
          b = Buffer.concat([b.subarray(0, end), b.subarray(at, end), b.subarray(end)]);
          ops.push(`dup${at}-${end}`);
          break;
        }
        case 4: {
          const cut = this.int(other.length + 1);
          b = Buffer.concat([b.subarray(0, at), other.subarray(cut)]);
          ops.push(`splice@${at}/${cut}`);
          break;
        }
        case 5: {
          const len = 1 + this.int(16);
          const junk = Buffer.alloc(len);
          for (let i = 0; i < len; i++) junk[i] = this.chance(0.5) ? this.pick(BOUNDARY) : this.int(256);
          b = Buffer.concat([b.subarray(0, at), junk, b.subarray(at)]);
          ops.push(`insert${len}@${at}`);
          break;
        }
        case 6:
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

  /** A segment table that lies (or a message reshaped into other segments). */
  private header(m: RawMessage): { op: string; lie: HeaderLie } {
    const n = m.segments.length;
    switch (this.int(7)) {
      case 0: {
        const count = this.pick([n + 1, Math.max(1, n - 1), 512, 513, 0x10000, 2 ** 32]);
        return { op: `count${count}`, lie: { count } };
      }
      case 1: {
        const seg = this.int(n);
        const real = m.segments[seg]!.length / 8;
        const size = this.pick([
          0,
          1,
          real - 1,
          real + 1,
          real + 64,
          2 ** 21,
          2 ** 21 + 1,
          0x7fffffff,
          2 ** 32 - 1,
        ]);
        return { op: `size${seg}=${size}`, lie: { sizes: new Map([[seg, Math.max(0, size)]]) } };
      }
      case 2: {
        // Segment 0 split in two: pointers now cross a segment boundary with no far pointer.
        const s = m.segments[0]!;
        const at = 1 + this.int(Math.max(1, s.length / 8 - 1));
        m.segments.splice(0, 1, s.subarray(0, at * 8), s.subarray(at * 8));
        return { op: `split0@${at}`, lie: {} };
      }
      case 3: {
        const extra = this.pick([1, 2, 100, 510, 511, 600]);
        for (let i = 0; i < extra; i++) m.segments.push(Buffer.alloc(this.chance(0.5) ? 0 : 8));
        return { op: `segments+${extra}`, lie: {} };
      }
      case 4:
        return { op: 'nopad', lie: { noPadding: true } };
      case 5: {
        // Empty first segment: the root is in no segment at all.
        m.segments.unshift(Buffer.alloc(0));
        return { op: 'empty0', lie: {} };
      }
      default: {
        const seg = this.int(n);
        m.segments[seg] = m.segments[seg]!.subarray(0, 8 * this.int(m.segments[seg]!.length / 8));
        return { op: `shrink${seg}`, lie: {} };
      }
    }
  }

  /** One structure-aware edit of a pointer reachable from the root. */
  private pointer(m: RawMessage, tries = 8): string {
    if (tries === 0) return 'no-edit';
    const refs = pointers(m);
    if (refs.length === 0) return 'no-pointers';
    const ref = this.pick(refs);
    const { lo, hi } = readPointer(m, ref);
    const type = lo & 3;
    const isNull = lo === 0 && hi === 0;
    const where = `${ref.seg}:${ref.word}`;
    const segWords = m.segments[ref.seg]!.length / 8;
    switch (this.int(12)) {
      case 0: {
        if (isNull || type > 1) return this.pointer(m, tries - 1);
        const offset = this.pick([
          2 ** 29 - 1,
          -(2 ** 29),
          segWords - ref.word,
          segWords - ref.word - 1 + this.int(3),
          -(ref.word + 2),
          -1,
          -(ref.word + 1),
        ]);
        writePointer(m, ref, withOffset(lo, offset), hi);
        return `offset${offset}@${where}`;
      }
      case 1: {
        const choice = this.int(6);
        const far =
          choice === 0
            ? farPointer(m.segments.length + this.int(3), 0, false)
            : choice === 1
              ? farPointer(0xffffffff, this.int(4), this.chance(0.5))
              : choice === 2
                ? farPointer(ref.seg, 2 ** 29 - 1, this.chance(0.5))
                : choice === 3
                  ? farPointer(ref.seg, ref.word, false) // its own landing pad: a loop
                  : choice === 4
                    ? farPointer(ref.seg, Math.max(0, segWords - 1), true) // a double pad past the end
                    : farPointer(this.int(m.segments.length), this.int(segWords + 1), this.chance(0.5));
        writePointer(m, ref, far.lo, far.hi);
        return `far${choice}@${where}`;
      }
      case 2:
        if (!doubleFar(m, ref)) return this.pointer(m, tries - 1);
        // Sometimes the landing pad is then broken: its far pointer or its tag.
        if (this.chance(0.5)) {
          const pad: PointerRef = { seg: m.segments.length - 1, word: this.chance(0.5) ? 0 : 1, depth: 0 };
          const p = readPointer(m, pad);
          writePointer(
            m,
            pad,
            pad.word === 0 ? p.lo | 4 : (p.lo & ~3) | this.int(4),
            this.chance(0.5) ? p.hi : this.int(2 ** 32),
          );
          return `doublefar-broken@${where}`;
        }
        return `doublefar@${where}`;
      case 3:
        if (!singleFar(m, ref)) return this.pointer(m, tries - 1);
        return `singlefar@${where}`;
      case 4: {
        if (type !== 1) return this.pointer(m, tries - 1);
        const size = (hi + 1 + this.int(7)) & 7;
        writePointer(m, ref, lo, (hi & ~7) | size);
        return `elemsize${size}@${where}`;
      }
      case 5: {
        if (type !== 1) return this.pointer(m, tries - 1);
        const count = this.pick([0, (hi >>> 3) + 1, (hi >>> 3) * 8 + 7, 2 ** 29 - 1, 2 ** 21]);
        writePointer(m, ref, lo, ((count << 3) | (hi & 7)) >>> 0);
        return `count${count}@${where}`;
      }
      case 6: {
        if (type !== 0 || isNull) return this.pointer(m, tries - 1);
        const data = this.pick([0, 0xffff, (hi & 0xffff) + 1, (hi & 0xffff) + 1000]);
        const ptrs = this.pick([0, 0xffff, (hi >>> 16) + 1, hi >>> 16]);
        writePointer(m, ref, lo, (data | (ptrs << 16)) >>> 0);
        return `structsize${data}/${ptrs}@${where}`;
      }
      case 7: {
        const to = this.int(4);
        writePointer(m, ref, (lo & ~3) | to, hi);
        return `type${type}->${to}@${where}`;
      }
      case 8: {
        const index = this.pick([0, 1, 2, 7, 255, 2 ** 31, 2 ** 32 - 1]);
        writePointer(m, ref, 3, index);
        return `cap${index}@${where}`;
      }
      case 9:
        writePointer(m, ref, 0, 0);
        return `null@${where}`;
      case 10: {
        const depth = this.pick([63, 64, 65, 1000, 10_000]);
        deepChain(m, ref, depth, this.chance(0.3));
        return `deep${depth}@${where}`;
      }
      default: {
        // A list of structs whose tag (the word before its elements) says something else.
        if (type !== 1 || (hi & 7) !== 7) return this.pointer(m, tries - 1);
        const tag: PointerRef = { seg: ref.seg, word: ref.word + 1 + (lo >> 2), depth: 0 };
        if (tag.word < 0 || tag.word >= segWords) return `badtag@${where}`;
        const t = readPointer(m, tag);
        const count = this.pick([0, (t.lo >>> 2) + 1, 2 ** 29 - 1]);
        writePointer(
          m,
          tag,
          this.chance(0.5) ? withOffset(t.lo, count) : (t.lo & ~3) | 1,
          this.chance(0.5) ? t.hi : 0xffffffff,
        );
        return `tag${count}@${where}`;
      }
    }
  }

  /** A session replayed with 1-3 frames mutated and its frames perhaps dropped, repeated or moved. */
  session(
    s: Session,
    all: readonly Session[],
    built: readonly Buffer[],
  ): { frames: Buffer[]; ops: string[] } {
    const frames = [...s.up];
    const ops: string[] = [];
    const other = () => this.pick(this.pick(all).up);
    for (let k = this.int(3); k > 0; k--) {
      switch (this.int(7)) {
        case 0:
          if (frames.length > 1) {
            const i = this.int(frames.length);
            frames.splice(i, 1);
            ops.push(`drop${i}`);
          }
          break;
        case 1: {
          const i = this.int(frames.length);
          frames.splice(i, 0, frames[i]!);
          ops.push(`repeat${i}`);
          break;
        }
        case 2: {
          const i = this.int(frames.length);
          const j = this.int(frames.length);
          [frames[i], frames[j]] = [frames[j]!, frames[i]!];
          ops.push(`swap${i},${j}`);
          break;
        }
        case 3:
        case 4: {
          const i = this.int(frames.length + 1);
          const n = 1 + this.int(3);
          for (let t = 0; t < n; t++) frames.splice(i, 0, this.pick(built));
          ops.push(`built${n}@${i}`);
          break;
        }
        case 5: {
          const i = this.int(frames.length + 1);
          frames.splice(i, 0, other());
          ops.push(`splice@${i}`);
          break;
        }
        default:
          frames.push(Buffer.from(Array.from({ length: 1 + this.int(24) }, () => this.int(256))));
          ops.push('garbage');
      }
    }
    const mutated = this.chance(0.85) ? 1 + this.int(3) : 0;
    for (let k = 0; k < mutated; k++) {
      const i = this.int(frames.length);
      const { bytes, ops: o } = this.frame(frames[i]!, other());
      frames[i] = bytes;
      ops.push(`#${i}:${o.join(',')}`);
    }
    return { frames, ops };
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

function reasonKind(reason: string): string {
  return reason
    .replace(/0x[0-9a-f]+|-?\d+/g, 'N')
    .replace(/\n[\s\S]*/, '')
    .slice(0, 100);
}

/** What a peer sent must frame and read as RPC messages (undefined), or says why not. */
class ReplyChecker {
  private readonly reader = new FrameReader({ maxMessageBytes: 64 << 20, maxSegments: 4096 });
  problem: string | undefined;
  readonly kinds: number[] = [];
  /** What was received, numbers blanked (for --reasons). */
  readonly seen: string[] = [];

  push(chunk: Buffer): void {
    if (this.problem !== undefined) return;
    try {
      for (const f of this.reader.push(chunk)) {
        const m = new capnp.Message(f, false).getRoot(rpc.Message);
        const which = m.which();
        if (which > rpc.Message.DISEMBARGO) throw new Error(`message type ${which}`);
        this.kinds.push(which);
        // Touch what a peer would read of a Return or an Abort.
        if (which === rpc.Message.RETURN) {
          const r = m.return;
          this.seen.push(
            r.which() === rpc.Return.EXCEPTION
              ? `Return exception ${reasonKind(r.exception.reason)}`
              : `Return ${r.which()}`,
          );
        } else if (which === rpc.Message.ABORT) this.seen.push(`Abort ${reasonKind(m.abort.reason)}`);
        else this.seen.push(`message ${which}`);
      }
    } catch (err) {
      this.problem = `sent bytes that do not read as RPC messages: ${String(err)}`;
    }
  }
}

// ---- server target ------------------------------------------------------------------------

interface Child {
  readonly proc: ChildProcess;
  readonly port: number;
  stderr: string;
  exited: string | undefined;
  stats(): Promise<{ connections: number }>;
}

async function startChild(): Promise<Child> {
  const proc = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--serve'], {
    cwd: root,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const child = { proc, port: 0, stderr: '', exited: undefined as string | undefined } as Child & {
    port: number;
  };
  proc.stderr?.on('data', (c: Buffer) => {
    child.stderr += c.toString('utf8');
  });
  proc.on('exit', (code, signal) => {
    child.exited = `exit code ${code} signal ${signal}`;
  });
  const lines = createInterface({ input: proc.stdout! });
  const waiting: { resolve(line: string): void; reject(e: Error): void }[] = [];
  lines.on('line', (line) => waiting.shift()?.resolve(line));
  proc.on('exit', () => {
    for (const w of waiting.splice(0)) w.reject(new Error(`server child exited: ${child.stderr}`));
  });
  const next = () =>
    new Promise<string>((resolve, reject) => {
      if (child.exited) reject(new Error(`server child exited: ${child.stderr}`));
      else waiting.push({ resolve, reject });
    });
  child.port = (JSON.parse(await next()) as { port: number }).port;
  child.stats = async () => {
    const answer = next();
    proc.stdin!.write('stats\n');
    return JSON.parse(await Promise.race([answer, delay(5_000).then(() => '{"connections":-1}')])) as {
      connections: number;
    };
  };
  return child;
}

function rssMiB(pid: number): number {
  const kb = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return kb ? Number(kb[1]) / 1024 : 0;
}

const tally = new Map<string, number>();

/**
 * Replays one session on a fresh connection: each frame in random chunks, and when `paced`
 * a pause after each frame, so the server has answered what came before (a client sends a
 * Finish, a Release or a call on a returned capability only then).
 */
function sendSession(
  port: number,
  frames: readonly Buffer[][],
  paced: boolean,
  rnd: () => number,
): Promise<string | undefined> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    const checker = new ReplyChecker();
    let timer: NodeJS.Timeout | undefined;
    let settled = false;
    const done = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      s.destroy();
      for (const k of checker.seen) tally.set(k, (tally.get(k) ?? 0) + 1);
      resolve(checker.problem === undefined ? undefined : `the server ${checker.problem}`);
    };
    s.on('error', done);
    s.on('close', done);
    s.on('data', (c: Buffer) => checker.push(c));
    s.on('connect', async () => {
      for (const chunks of frames) {
        await writeChunks(s, chunks, rnd);
        if (paced) await delay(2);
      }
      if (rnd() < 0.3) s.end();
      timer = setTimeout(done, 20 + Math.floor(rnd() * 80));
    });
  });
}

async function checkServer(child: Child, baseline: number): Promise<string | undefined> {
  if (child.exited) return `server child died: ${child.exited}\n${child.stderr}`;
  try {
    const client = await connectCapnp(calculatorContract, { port: child.port, timeoutMs: 10_000 });
    try {
      const sum = await client.add(2, 5);
      if (sum !== 7) return `add(2, 5) = ${String(sum)}`;
      // Every fuzz connection is closed on our side: the server must let go of them all.
      const deadline = Date.now() + 10_000;
      for (;;) {
        const { connections } = await child.stats();
        if (connections === 1) break;
        if (Date.now() > deadline) return `${connections - 1} fuzz connections still open on the server`;
        await delay(20);
      }
    } finally {
      await client.close();
    }
  } catch (err) {
    return `add(2, 5) from a fresh client failed: ${String(err)}`;
  }
  const rss = rssMiB(child.proc.pid!);
  if (rss > 1024 || rss > baseline + 512)
    return `server RSS ${rss.toFixed(0)} MiB (baseline ${baseline.toFixed(0)})`;
  if (child.stderr.trim() !== '') return `unexpected server output: ${child.stderr.trim().split('\n')[0]}`;
  return undefined;
}

async function fuzzServer(
  sessions: readonly Session[],
  built: readonly Buffer[],
  rnd: () => number,
  iterations: number,
  deadline: number,
  batch: number,
): Promise<{ ok: boolean; done: number }> {
  const child = await startChild();
  const m = new Mutator(rnd);
  // Pauses and timers run concurrently, in whatever order the sockets make: they draw from a
  // PRNG of their own, so the mutations (drawn in order) replay from the seed.
  const io = prng(Math.floor(rnd() * 2 ** 32));
  const baseline = rssMiB(child.proc.pid!);
  let done = 0;
  try {
    while (done < iterations && Date.now() < deadline) {
      const jobs: Promise<string | undefined>[] = [];
      const sent: string[] = [];
      const streams: string[] = [];
      for (let i = 0; i < batch && done < iterations; i++, done++) {
        const seed = m.pick(sessions);
        const { frames, ops } = m.session(seed, sessions, built);
        const paced = m.chance(0.5);
        if (paced) ops.unshift('paced');
        const hex = frames.map((f) => f.toString('hex'));
        sent.push(`${seed.source} [${ops.join(' ')}] ${hex.join(',').slice(0, 400)}`);
        streams.push(`${seed.source} [${ops.join(' ')}] ${hex.join(',')}`);
        const chunks = paced ? frames.map((f) => m.chunks(f)) : [m.chunks(Buffer.concat(frames))];
        jobs.push(sendSession(child.port, chunks, paced, io));
      }
      const answers = await Promise.all(jobs);
      const bad = answers.findIndex((a) => a !== undefined);
      if (bad >= 0) {
        console.log(`server: FINDING in the batch ending at ${done}: ${answers[bad]}\n${sent[bad]}`);
        return { ok: false, done };
      }
      const problem = await checkServer(child, baseline);
      if (problem) {
        const file = path.join(tmpdir(), `capnp-fuzz-finding-${process.pid}-${done}.txt`);
        writeFileSync(file, `${streams.join('\n')}\n`);
        console.log(
          `server: FINDING after iteration ${done}: ${problem}\nbatch (whole streams in ${file}, replay with --replay ${file}):\n${sent.join('\n')}`,
        );
        return { ok: false, done };
      }
    }
    console.log(
      `server: ${done} mutated sessions, every check passed; RSS ${rssMiB(child.proc.pid!).toFixed(0)} MiB (start ${baseline.toFixed(0)})`,
    );
    if (process.argv.includes('--reasons'))
      for (const [why, n] of [...tally].sort((a, b) => b[1] - a[1])) console.log(`  ${n}\t${why}`);
    return { ok: true, done };
  } finally {
    child.proc.stdin?.end();
    child.proc.kill('SIGTERM');
  }
}

// ---- client target ------------------------------------------------------------------------

/** Rewrites the answer ID of a Return (other messages as they are). */
function withAnswerId(frame: Buffer, id: number): Buffer {
  try {
    const message = new capnp.Message(new Uint8Array(frame).buffer, false);
    const m = message.getRoot(rpc.Message);
    if (m.which() !== rpc.Message.RETURN) return frame;
    m.return.answerId = id;
    return Buffer.from(message.toArrayBuffer());
  } catch {
    return frame;
  }
}

interface FakeCall {
  readonly question: number;
  readonly interfaceId: bigint;
  readonly methodId: number;
  /** The client's exports named in the params' cap table (senderHosted / senderPromise). */
  readonly exports: number[];
}

/** The Return a correct server sends for `c`, and what it sends first (apply's call back). */
function intactAnswer(c: FakeCall, nextExport: () => number): Buffer[] {
  if (c.interfaceId === ADDER_INTERFACE_ID) return [ret(c.question, 'Adder.add', { result: 12 })];
  if (c.interfaceId !== CALCULATOR_INTERFACE_ID) return [ret(c.question, 'Function.call', { result: 0 })];
  switch (c.methodId) {
    case 0:
      return [ret(c.question, 'Calculator.add', { result: 7 })];
    case 2:
      return [ret(c.question, 'Calculator.echo', { data: Buffer.from('hello') })];
    case 3:
      return [ret(c.question, 'Calculator.adder', { adder: 0 }, [{ senderHosted: nextExport() }])];
    case 4: {
      const back =
        c.exports[0] === undefined
          ? []
          : [call(1000 + c.question, { importedCap: c.exports[0] }, 'Function.call', { a: 5, b: 6 })];
      return [...back, ret(c.question, 'Calculator.apply', { result: 30 })];
    }
    default:
      return [ret(c.question, 'Calculator.divide', { result: 2 })];
  }
}

function readCall(frame: ArrayBuffer): FakeCall | { bootstrap: number } | undefined {
  const m = new capnp.Message(frame, false).getRoot(rpc.Message);
  if (m.which() === rpc.Message.BOOTSTRAP) return { bootstrap: m.bootstrap.questionId };
  if (m.which() !== rpc.Message.CALL) return undefined;
  const c = m.call;
  const exports: number[] = [];
  const table = c.params.capTable;
  for (let i = 0; i < table.length; i++) {
    const d = table.get(i);
    if (d.which() === rpc.CapDescriptor.SENDER_HOSTED) exports.push(d.senderHosted);
    if (d.which() === rpc.CapDescriptor.SENDER_PROMISE) exports.push(d.senderPromise);
  }
  return { question: c.questionId, interfaceId: c.interfaceId, methodId: c.methodId, exports };
}

type Plan = 'intact' | 'mutated';

async function fuzzClient(
  replies: readonly Buffer[],
  rnd: () => number,
  iterations: number,
  deadline: number,
): Promise<{ ok: boolean; done: number }> {
  const m = new Mutator(rnd);
  const built = builtReplies();
  let plan: Plan = 'intact';
  let described: string[] = [];
  const sockets = new Set<net.Socket>();
  // Each connection's answers, in order (a finding's file replays them).
  const written = new Map<net.Socket, string[]>();
  const server = net.createServer((s) => {
    sockets.add(s);
    written.set(s, []);
    const reader = new FrameReader({ maxMessageBytes: 64 << 20 });
    let exportId = 0;
    // One answer is written (in chunks, with pauses) after the other, never interleaved.
    let writing = Promise.resolve();
    s.on('error', () => undefined);
    s.on('close', () => {
      sockets.delete(s);
      setTimeout(() => written.delete(s), 5_000).unref();
    });
    const answer = (frames: Buffer[]) => {
      let out = frames;
      if (plan === 'mutated') {
        out = [];
        if (m.chance(0.2)) out.push(m.pick(built));
        for (const f of frames) {
          const r = m.int(10);
          if (r < 4) {
            const { bytes, ops } = m.frame(f, m.pick(replies));
            described.push(`[${ops.join(',')}] ${bytes.toString('hex').slice(0, 600)}`);
            out.push(bytes);
          } else if (r < 7) {
            const id = rpcAnswerId(f);
            const other = id === undefined ? m.pick(replies) : withAnswerId(m.pick(replies), id);
            described.push(`captured ${other.toString('hex').slice(0, 600)}`);
            out.push(other);
          } else if (r < 8) {
            described.push('dropped');
          } else {
            out.push(f);
            if (m.chance(0.3)) out.push(f); // a Return twice
          }
        }
        if (m.chance(0.1)) out.push(m.pick(built));
      }
      const chunks = m.chunks(Buffer.concat(out));
      writing = writing.then(() => writeChunks(s, chunks, rnd));
      written.get(s)?.push(Buffer.concat(out).toString('hex'));
    };
    s.on('data', (c: Buffer) => {
      let frames: ArrayBuffer[];
      try {
        frames = reader.push(c);
      } catch {
        s.destroy();
        return;
      }
      for (const f of frames) {
        let what: ReturnType<typeof readCall>;
        try {
          what = readCall(f);
        } catch {
          s.destroy();
          return;
        }
        if (what === undefined) continue;
        if ('bootstrap' in what) {
          const promise = plan === 'mutated' && m.chance(0.3);
          const id = exportId++;
          const frames = [
            ret(what.bootstrap, undefined, {}, [promise ? { senderPromise: id } : { senderHosted: id }]),
          ];
          if (promise)
            frames.push(resolveTo(id, m.chance(0.8) ? { senderHosted: exportId++ } : 'DISCONNECTED: gone'));
          answer(frames);
        } else answer(intactAnswer(what, () => exportId++));
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const timeoutMs = 300;
  const outcomes = new Map<string, number>();
  let done = 0;
  let ok = true;
  let findings = 0;
  const keepGoing = process.argv.includes('--keep-going');
  let session: CapnpSession | undefined;
  // An intact exchange is checked for its result, not its speed: a loaded machine gets time.
  let sessionTimeout = timeoutMs;
  const fresh = async (intact: boolean) => {
    await session?.close();
    sessionTimeout = intact ? 10_000 : timeoutMs;
    session = await openCapnp({ port, timeoutMs: sessionTimeout });
    return session;
  };
  try {
    while (done < iterations && Date.now() < deadline && (ok || keepGoing)) {
      const intact = m.chance(0.15);
      const stale =
        session === undefined ||
        session.connection.isClosed ||
        sessionTimeout !== timeoutMs ||
        m.chance(0.05);
      if (intact || stale) await fresh(intact);
      plan = intact ? 'intact' : 'mutated';
      described = [];
      const s = session!;
      const kind = m.int(5);
      const started = Date.now();
      const runs: Promise<unknown>[] = [];
      let expected: unknown[] = [];
      if (kind === 0) {
        const client = capnpClient(calculatorContract, s);
        runs.push(client.add(2, 5));
        expected = [7];
      } else if (kind === 1) {
        const boot = s.bootstrap();
        const pending = boot.call('adder', { base: 10 });
        let adder: ReturnType<typeof boot.dup> | undefined;
        try {
          adder = pending.cap('adder');
        } catch {
          adder = undefined;
        }
        runs.push(
          pending.result.then((r) => {
            (r.adder as { release(): void } | null)?.release();
            return 'adder';
          }),
        );
        if (adder !== undefined) runs.push(adder.call('add', { x: 2 }).result.then((r) => r.result));
        expected = ['adder', 12];
        void Promise.allSettled(runs).then(() => {
          adder?.release();
          boot.release();
        });
      } else if (kind === 2) {
        const boot = s.bootstrap();
        const fn = s.serve('Function', { call: ({ a, b }) => ({ result: (a as number) * (b as number) }) });
        runs.push(boot.call('apply', { fn, a: 5, b: 6 }).result.then((r) => r.result));
        expected = [30];
        void Promise.allSettled(runs).then(() => {
          fn.release();
          boot.release();
        });
      } else if (kind === 4) {
        // The bootstrap capability reused: the second call goes out once the first has
        // settled, on whatever the Bootstrap's Return and Resolves made of the capability.
        const boot = s.bootstrap();
        const first = boot.call('add', { a: 2, b: 5 }).result;
        runs.push(first.then((r) => r.result));
        runs.push(
          first.then(
            () => boot.call('add', { a: 2, b: 5 }).result.then((r) => r.result),
            () => boot.call('add', { a: 2, b: 5 }).result.then((r) => r.result),
          ),
        );
        expected = [7, 7];
        void Promise.allSettled(runs).then(() => boot.release());
      } else {
        const boot = s.bootstrap();
        runs.push(
          boot
            .call('echo', { data: Buffer.from('hello') })
            .result.then((r) => Buffer.from(r.data as Uint8Array).toString()),
        );
        runs.push(boot.call('add', { a: 2, b: 5 }).result.then((r) => r.result));
        expected = ['hello', 7];
        void Promise.allSettled(runs).then(() => boot.release());
      }
      const settled = await Promise.all(
        runs.map((r) =>
          Promise.race([
            r.then(
              (v) => ({ outcome: 'result', value: v }),
              (e: unknown) => ({
                outcome: e instanceof RpcError ? e.code : `non-RpcError ${String(e)}`,
                value: e,
              }),
            ),
            delay(sessionTimeout + 2_000).then(() => ({ outcome: 'hang', value: undefined })),
          ]),
        ),
      );
      for (const [i, r] of settled.entries()) {
        outcomes.set(r.outcome, (outcomes.get(r.outcome) ?? 0) + 1);
        const wrong = intact && (r.outcome !== 'result' || r.value !== expected[i]);
        if (r.outcome === 'hang' || r.outcome.startsWith('non-RpcError') || wrong) {
          findings++;
          const file = path.join(tmpdir(), `capnp-fuzz-client-${process.pid}-${done}.json`);
          const local = s.connection.socket.localPort;
          const answers = [...written].find(([sock]) => sock.remotePort === local)?.[1] ?? [];
          writeFileSync(file, JSON.stringify({ kind, answers }));
          if (findings <= 5) console.log(`client: the fake server's answers on that connection: ${file}`);
          if (findings <= 5)
            console.log(
              `client: FINDING at iteration ${done} (kind ${kind}, ${plan}): call ${i} gave ${r.outcome} ${String(r.value)} after ${Date.now() - started} ms\n${described.join('\n')}`,
            );
          ok = false;
        }
      }
      done++;
    }
    // After all that, an intact exchange on a fresh connection gives 7.
    plan = 'intact';
    const client = await connectCapnp(calculatorContract, { port, timeoutMs: 5_000 });
    try {
      const sum = await client.add(2, 5).catch((e: unknown) => e);
      if (sum !== 7) {
        console.log(`client: FINDING: a fresh client got ${String(sum)}, not 7`);
        ok = false;
      }
    } finally {
      await client.close();
    }
  } finally {
    await session?.close();
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  }
  const summary = [...outcomes].map(([k, v]) => `${k} ${v}`).join(', ');
  console.log(
    `client: ${done} exchanges with mutated replies${ok ? ', every call settled' : `, ${findings} finding(s)`}; outcomes: ${summary}`,
  );
  return { ok, done };
}

function rpcAnswerId(frame: Buffer): number | undefined {
  try {
    const m = new capnp.Message(new Uint8Array(frame).buffer, false).getRoot(rpc.Message);
    return m.which() === rpc.Message.RETURN ? m.return.answerId : undefined;
  } catch {
    return undefined;
  }
}

/** Sends each stream of a finding's file alone to a fresh server child, checking it after each. */
async function replay(file: string): Promise<boolean> {
  const child = await startChild();
  const baseline = rssMiB(child.proc.pid!);
  const rnd = prng(1);
  try {
    for (const [i, line] of readFileSync(file, 'utf8').split('\n').filter(Boolean).entries()) {
      const frames = line
        .slice(line.lastIndexOf(' ') + 1)
        .split(',')
        .map((h) => [Buffer.from(h, 'hex')]);
      const started = Date.now();
      const answer = await sendSession(child.port, frames, line.includes('[paced'), rnd);
      const problem = answer ?? (await checkServer(child, baseline));
      console.log(`replay ${i}: ${problem ?? 'ok'} (${Date.now() - started} ms) ${line.slice(0, 300)}`);
      if (problem !== undefined) return false;
    }
    return true;
  } finally {
    child.proc.stdin?.end();
    child.proc.kill('SIGTERM');
  }
}

// ---- main ---------------------------------------------------------------------------------

async function main(): Promise<void> {
  const dump = option('dump-built', '');
  if (dump !== '') {
    // Each built message after a Bootstrap, one stream a line: --replay times them one by one.
    const boot = bootstrap(0).toString('hex');
    writeFileSync(
      dump,
      builtCalls()
        .map((b, i) => `built#${i} [paced] ${boot},${b.toString('hex')}\n`)
        .join(''),
    );
    process.exit(0);
  }
  const replayFile = option('replay', '');
  if (replayFile !== '') process.exit((await replay(replayFile)) ? 0 : 1);
  const target = option('target', 'both');
  const seed = Number(option('seed', '1'));
  const iterations = Number(option('iterations', '3000'));
  const seconds = Number(option('seconds', '60'));
  const batch = Number(option('batch', '40'));
  const rnd = prng(seed);
  const uncaught: unknown[] = [];
  process.on('uncaughtException', (e) => uncaught.push(e));
  process.on('unhandledRejection', (e) => uncaught.push(e));

  const sessions = (await corpusSessions()).map(renumbered);
  const built = builtCalls();
  const replies = sessions.flatMap((s) => s.down);
  const sources = [...new Set(sessions.map((s) => s.source))].join(', ');
  console.log(
    `fuzz capnp: seed ${seed}, target ${target}, corpus ${sessions.length} sessions (${sources}; ${sessions.reduce((n, s) => n + s.up.length, 0)} client frames, ${replies.length} server frames) + ${built.length} built messages`,
  );
  const deadline = Date.now() + seconds * 1000;
  let ok = true;
  if (target === 'server' || target === 'both') {
    const until = target === 'both' ? Date.now() + (seconds * 1000) / 2 : deadline;
    ok = (await fuzzServer(sessions, built, rnd, iterations, until, batch)).ok && ok;
  }
  if (target === 'client' || target === 'both')
    ok = (await fuzzClient(replies, rnd, iterations, deadline)).ok && ok;
  if (uncaught.length > 0) {
    console.log(
      `FINDING: ${uncaught.length} uncaught exception(s) or unhandled rejection(s): ${String(uncaught[0])}`,
    );
    ok = false;
  }
  console.log(ok ? '0 findings' : 'findings: see above');
  process.exit(ok ? 0 : 1);
}

// ---- server child -------------------------------------------------------------------------

async function serveChild(): Promise<void> {
  const server: CapnpServer = await serveCapnp(calculatorContract, calculator, {
    port: 0,
    timeoutMs: 500, // calls back into fuzz connections mostly never answer
  });
  process.stdout.write(`${JSON.stringify({ port: server.port })}\n`);
  const lines = createInterface({ input: process.stdin });
  lines.on('line', () => {
    process.stdout.write(`${JSON.stringify({ connections: server.connections().size })}\n`);
  });
  lines.on('close', () => process.exit(0));
}

if (process.argv.includes('--serve')) await serveChild();
else
  await main().catch((err: unknown) => {
    console.log(`fuzz capnp: the harness failed: ${err instanceof Error ? err.stack : String(err)}`);
    process.exit(2);
  });
