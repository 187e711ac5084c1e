/**
 * The raw-TCP floor: length-prefixed ping-pong on node:net with the thinnest possible body
 * ([u8 method index][fixed-width arguments], answered by [u8 status][result]). No validation, no
 * ids, no schema: the least any request/response over loopback can cost on this machine, so every
 * other row can be read as a multiple of it. Replies come back in request order on a connection,
 * which is what lets a client keep many calls in flight without ids.
 */
import net from 'node:net';
import { createClient } from '../../contract/client.js';
import {
  errorFromCode,
  isErrorCode,
  ProtocolError,
  TransportError,
  toRpcError,
} from '../../contract/errors.js';
import type { Client, Contract, Implementation, ValueType } from '../../contract/spec.js';
import { withTimeout } from '../../net/deadline.js';
import {
  type ConnectOptions,
  DEFAULT_HOST,
  DEFAULT_MAX_MESSAGE_BYTES,
  DEFAULT_TIMEOUT_MS,
  type Protocol,
  type RunningServer,
  type ServeOptions,
} from '../../protocols/types.js';
import { DIRECT_READ_BYTES, FRAME_HEADER_BYTES, FrameReader } from './frames.js';

const OK = 0;
/** Queued replies up to this size are copied into one buffer; larger ones go out as a writev. */
const SMALL_WRITE_BYTES = 16 * 1024;
const FAILED = 1;

/** Fixed-width encodings; `binary` takes the rest of the body, so it may only come last. */
function checkTypes(method: string, types: readonly ValueType[]): void {
  types.forEach((t, i) => {
    const fixed = t === 'i32' || t === 'double';
    if (!fixed && !(t === 'binary' && i === types.length - 1)) {
      throw new TypeError(`raw-tcp floor cannot carry ${method}'s ${t} (only i32, double, trailing binary)`);
    }
  });
}

/**
 * Encodes a body as parts: the prefix byte and fixed-width values in one small buffer, a
 * trailing binary value as its own part (a view, not a copy), so a 1 MiB echo is not copied to
 * be sent.
 */
function encodeValues(prefix: number, types: readonly ValueType[], values: readonly unknown[]): Uint8Array[] {
  let fixed = 1;
  for (const t of types) fixed += t === 'i32' ? 4 : t === 'double' ? 8 : 0;
  const head = Buffer.allocUnsafe(fixed);
  head[0] = prefix;
  let at = 1;
  const parts: Uint8Array[] = [head];
  types.forEach((t, i) => {
    const v = values[i];
    if (t === 'i32') at = head.writeInt32BE(v as number, at);
    else if (t === 'double') at = head.writeDoubleBE(v as number, at);
    else parts.push(v as Uint8Array);
  });
  return parts;
}

/** Appends one frame (length header, then the parts) to a list of chunks to be written together. */
function pushFrame(out: Uint8Array[], parts: readonly Uint8Array[]): number {
  let length = 0;
  for (const p of parts) length += p.byteLength;
  const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  header.writeUInt32BE(length, 0);
  out.push(header);
  for (const p of parts) if (p.byteLength > 0) out.push(p);
  return FRAME_HEADER_BYTES + length;
}

/**
 * Coalesces the frames written to one socket in the same tick into one writev: frames are queued
 * and flushed once, after the code that queued them (a whole 'data' chunk's replies, or every
 * asynchronous reply that settled in the same turn) has run. Writing each frame on its own made
 * the floor pay a syscall per reply while a batching server (thriftpy2) paid one per batch, and
 * so beat the floor with 64 calls in flight on one connection.
 */
export class CoalescingWriter {
  private queued: Uint8Array[] = [];
  private queuedBytes = 0;
  private scheduled = false;
  /** Run once the frames queued with them have been handed to the kernel (or dropped). */
  private afterWrite: (() => void)[] = [];
  constructor(private readonly socket: net.Socket) {}

  /** Whether nothing is queued. */
  get empty(): boolean {
    return this.queued.length === 0;
  }

  /** Queues a frame; the caller flushes, or calls later() to flush after this turn's other frames. */
  push(parts: readonly Uint8Array[], written?: () => void): void {
    this.queuedBytes += pushFrame(this.queued, parts);
    if (written !== undefined) this.afterWrite.push(written);
  }

  /** Flushes in this loop turn's check phase, after every other reply or call queued meanwhile. */
  later(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  /**
   * Writes everything queued in one write: small frames copied into one buffer (cheaper than a
   * writev of many tiny parts), large ones with one writev (cork/uncork hands every chunk to one
   * _writev), so a 1 MiB echo is not copied.
   */
  flush(): void {
    this.scheduled = false;
    const chunks = this.queued;
    const bytes = this.queuedBytes;
    const after = this.afterWrite;
    if (chunks.length === 0) return;
    this.queued = [];
    this.queuedBytes = 0;
    this.afterWrite = [];
    const done =
      after.length === 0
        ? undefined
        : () => {
            for (const f of after) f();
          };
    if (this.socket.destroyed) {
      done?.();
      return;
    }
    if (chunks.length === 1 || bytes <= SMALL_WRITE_BYTES) {
      this.socket.write(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, bytes), done);
      return;
    }
    this.socket.cork();
    const last = chunks.length - 1;
    for (let i = 0; i <= last; i++) this.socket.write(chunks[i]!, i === last ? done : undefined);
    this.socket.uncork();
  }
}

function decodeValues(body: Buffer, types: readonly ValueType[]): unknown[] {
  let at = 1;
  return types.map((t) => {
    if (t === 'i32') {
      at += 4;
      return body.readInt32BE(at - 4);
    }
    if (t === 'double') {
      at += 8;
      return body.readDoubleBE(at - 8);
    }
    return new Uint8Array(body.buffer, body.byteOffset + at, body.byteLength - at);
  });
}

interface MethodTable {
  names: string[];
  params: ValueType[][];
  results: ValueType[];
}

function methodTable(contract: Contract): MethodTable {
  const names = Object.keys(contract.methods);
  const params = names.map((n) => contract.methods[n]!.params.map((p) => p.type));
  const results = names.map((n) => contract.methods[n]!.result);
  names.forEach((n, i) => {
    checkTypes(n, params[i]!);
    checkTypes(n, [results[i]!]);
  });
  return { names, params, results };
}

/**
 * node:net `onread` options that read through the frame reader's targets (a bulk body is read
 * in place, see FrameReader.readTarget) and hand complete bodies on; a framing error (a frame
 * over the limit) goes to `onError`, which closes the connection.
 */
function inPlaceReads(
  reader: FrameReader,
  onBodies: (bodies: Buffer[]) => void,
  onError: (err: unknown) => void,
): net.OnReadOpts {
  return {
    // node:net asks for the next target after each callback, so it always is the latest one.
    buffer: () => reader.readTarget(),
    callback: (n: number, target: Uint8Array) => {
      let bodies: Buffer[];
      try {
        bodies = reader.filled(target as Buffer, n);
      } catch (err) {
        onError(err);
        return false;
      }
      onBodies(bodies);
      return true;
    },
  };
}

/**
 * An accepted connection re-wrapped so that its reads go where the frame reader says.
 * node:net takes `onread` only when a socket is created, and a server creates its sockets
 * itself, so the accepted (paused, never read) socket gives up its handle to a new one. The old
 * socket is then destroyed without a handle: that closes nothing, and settles the server's count
 * of open connections.
 */
function readingInPlace(
  accepted: net.Socket,
  reader: FrameReader,
  onBodies: (bodies: Buffer[]) => void,
): net.Socket {
  const holder = accepted as unknown as { _handle: unknown };
  const handle = holder._handle;
  holder._handle = null;
  accepted.destroy();
  const socket: net.Socket = new net.Socket({
    handle,
    onread: inPlaceReads(reader, onBodies, () => socket.destroy()),
  } as net.SocketConstructorOpts);
  socket.resume();
  return socket;
}

function errorBody(err: unknown): Uint8Array[] {
  const e = toRpcError(err);
  return [Buffer.of(FAILED), Buffer.from(`${e.code}\n${e.message}`)];
}

async function serve<C extends Contract>(
  contract: C,
  impl: Implementation<C>,
  options: ServeOptions = {},
): Promise<RunningServer> {
  const table = methodTable(contract);
  const fns = table.names.map((n) => (impl as Record<string, (...a: unknown[]) => unknown>)[n]!.bind(impl));
  const host = options.host ?? DEFAULT_HOST;
  const maxBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  const sockets = new Set<net.Socket>();

  const answer = (body: Buffer): Uint8Array[] | Promise<Uint8Array[]> => {
    const index = body[0] ?? 255;
    const fn = fns[index];
    if (fn === undefined) return errorBody(new ProtocolError(`no method with index ${index}`));
    const result = (() => {
      try {
        return fn(...decodeValues(body, table.params[index]!));
      } catch (err) {
        return Promise.reject(err);
      }
    })();
    const type = table.results[index]!;
    if (result instanceof Promise) {
      return result.then(
        (r) => encodeValues(OK, [type], [r]),
        (err: unknown) => errorBody(err),
      );
    }
    return encodeValues(OK, [type], [result]);
  };

  const server = net.createServer({ pauseOnConnect: true }, (accepted) => {
    const reader = new FrameReader(maxBytes);
    const socket = readingInPlace(accepted, reader, (bodies) => onBodies(bodies));
    sockets.add(socket);
    socket.setNoDelay(true);
    const writer = new CoalescingWriter(socket);
    // Keeps replies in request order when an implementation answers asynchronously.
    let tail: Promise<void> = Promise.resolve();
    let pendingAsync = 0;
    const onBodies = (bodies: Buffer[]) => {
      for (const body of bodies) {
        const reply = answer(body);
        // The reply may be a view of the request (an echo): a bulk body's memory goes back to
        // the reader only once the reply has been written.
        const written = body.length >= DIRECT_READ_BYTES ? () => reader.release(body) : undefined;
        if (reply instanceof Promise || pendingAsync > 0) {
          pendingAsync++;
          tail = tail.then(async () => {
            const b = await reply;
            pendingAsync--;
            if (socket.destroyed) return;
            writer.push(b, written);
            writer.later();
          });
        } else {
          writer.push(reply, written);
        }
      }
      // Every synchronous reply of this chunk goes out in one write, without waiting a turn.
      if (pendingAsync === 0) writer.flush();
    };
    socket.on('error', () => socket.destroy());
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? rawTcp.defaultPort, host, () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  return {
    host,
    port,
    address: `tcp://${host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

async function connect<C extends Contract>(contract: C, options: ConnectOptions = {}): Promise<Client<C>> {
  const table = methodTable(contract);
  const host = options.host ?? DEFAULT_HOST;
  const port = options.port ?? rawTcp.defaultPort;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const reader = new FrameReader(options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES);
  const pending: { type: ValueType; resolve(v: unknown): void; reject(e: unknown): void }[] = [];
  const onBodies = (bodies: Buffer[]) => {
    for (const body of bodies) {
      const p = pending.shift();
      if (p === undefined) continue;
      if (body[0] === OK) {
        p.resolve(decodeValues(body, [p.type])[0]);
      } else {
        const text = body.subarray(1).toString();
        const cut = text.indexOf('\n');
        const code = text.slice(0, cut);
        p.reject(errorFromCode(isErrorCode(code) ? code : 'INTERNAL', text.slice(cut + 1)));
      }
    }
  };
  const socket = net.connect({ host, port, onread: inPlaceReads(reader, onBodies, fail) });
  socket.setNoDelay(true);
  // Calls made in the same turn (64 in flight on one connection) leave in one write too.
  const writer = new CoalescingWriter(socket);
  await withTimeout(
    new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', (e) =>
        reject(new TransportError(`cannot connect to ${host}:${port}: ${e.message}`)),
      );
    }),
    timeoutMs,
    `connect to ${host}:${port}`,
    () => socket.destroy(),
  );
  const failAll = (err: unknown) => {
    for (const p of pending.splice(0)) p.reject(err);
  };
  function fail(err: unknown): void {
    failAll(new ProtocolError(String(err)));
    socket.destroy();
  }
  socket.on('error', () => undefined);
  socket.on('close', () => failAll(new TransportError('connection closed')));

  return createClient(contract, {
    call: (method, args) => {
      const index = table.names.indexOf(method);
      if (index < 0) return Promise.reject(errorFromCode('NO_SUCH_METHOD', `no such method: ${method}`));
      if (socket.destroyed) return Promise.reject(new TransportError('connection closed'));
      // A lone call (none other waiting for its reply) leaves at once, as the protocols'
      // clients send theirs: deferred to the check phase it paid a loop turn of latency that
      // the rows did not, and the floor lost add-1 to them.
      const lone = pending.length === 0 && writer.empty;
      const call = new Promise<unknown>((resolve, reject) => {
        pending.push({ type: table.results[index]!, resolve, reject });
      });
      writer.push(encodeValues(index, table.params[index]!, args));
      if (lone) writer.flush();
      else writer.later();
      // Without ids a late reply would be matched to the wrong call, so a timeout drops the connection.
      return withTimeout(call, timeoutMs, `raw-tcp ${method}`, () => socket.destroy());
    },
    close: async () => {
      socket.destroy();
    },
  });
}

export const rawTcp: Protocol = {
  name: 'raw-tcp',
  title: 'raw TCP floor',
  defaultPort: 9999,
  traits: { schema: 'none', encoding: 'binary', transport: 'TCP', callbacks: false, pipelining: true },
  variants: ['length-prefixed'],
  serve,
  connect,
};
