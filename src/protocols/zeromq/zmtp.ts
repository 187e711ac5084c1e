/**
 * ZMTP 3.x (ZeroMQ's wire protocol, RFC 23 and 37) with the NULL mechanism: the greeting, the
 * READY handshake, frames and commands, as a ROUTER speaks it to its REQ and DEALER peers
 * (zmtp-router.ts) and as a REQ or DEALER speaks it to its REP, ROUTER or DEALER peer
 * (zmtp-client.ts). Both serve over node:net with this instead of a libzmq socket: libzmq
 * hands every message across its I/O thread and the binding wraps each frame and each
 * receive/send in its own objects and promises, a cost per message that a bare zeromq.js
 * ROUTER echo already paid above the whole of pyzmq's server (issue 12). Here a TCP chunk of
 * 64 pipelined requests is parsed in one pass and their replies leave in one write.
 *
 * Only what these sockets need: no CURVE or PLAIN security, no ZMTP 1.0/2.0 peers (libzmq
 * speaks 3.x since 4.0, 2013). The broker still uses libzmq (its proxy and backend).
 */

/** libzmq's ZMQ_HANDSHAKE_IVL default: a handshake not finished by then drops the connection. */
export const HANDSHAKE_TIMEOUT_MS = 30_000;

/** Bytes of a greeting: signature (10), version (2), mechanism (20), as-server (1), filler (31). */
export const GREETING_BYTES = 64;
/** The signature's length: 0xFF, 8 bytes of padding, 0x7F. */
export const SIGNATURE_BYTES = 10;

export const FLAG_MORE = 0x01;
export const FLAG_LONG = 0x02;
export const FLAG_COMMAND = 0x04;

/** Our greeting. The padding says "1 byte", as libzmq's does, for ZMTP 1.0 peers' framing. */
const GREETING = (() => {
  const g = Buffer.alloc(GREETING_BYTES);
  g[0] = 0xff;
  g[8] = 0x01;
  g[9] = 0x7f;
  g[10] = 3; // version 3.1: a 3.0 peer takes it as 3.0
  g[11] = 1;
  g.write('NULL', 12, 'latin1');
  g[32] = 0; // as-server: NULL has no client or server role
  return g;
})();

/** The greeting in the three steps libzmq takes (see ZmtpHandshake): signature, major, rest. */
const GREETING_SIGNATURE = GREETING.subarray(0, SIGNATURE_BYTES);
const GREETING_MAJOR = GREETING.subarray(SIGNATURE_BYTES, SIGNATURE_BYTES + 1);
const GREETING_REST = GREETING.subarray(SIGNATURE_BYTES + 1);

/** The socket types spoken here. */
export type ZmtpSocketType = 'ROUTER' | 'REQ' | 'DEALER';

/** The peers each socket type accepts (RFC 28's compatibility table). */
const PEERS: Readonly<Record<ZmtpSocketType, ReadonlySet<string>>> = {
  ROUTER: new Set(['DEALER', 'REQ', 'ROUTER']),
  REQ: new Set(['REP', 'ROUTER']),
  DEALER: new Set(['REP', 'DEALER', 'ROUTER']),
};

/** A command frame's body: name length, name, data. */
export function commandBody(name: string, data: Buffer): Buffer {
  const out = Buffer.allocUnsafe(1 + name.length + data.length);
  out[0] = name.length;
  out.write(name, 1, 'latin1');
  data.copy(out, 1 + name.length);
  return out;
}

/** A READY property: name length (1 byte), name, value length (4 bytes), value. */
function property(name: string, value: string): Buffer {
  const out = Buffer.allocUnsafe(1 + name.length + 4 + value.length);
  out[0] = name.length;
  out.write(name, 1, 'latin1');
  out.writeUInt32BE(value.length, 1 + name.length);
  out.write(value, 5 + name.length, 'latin1');
  return out;
}

/** Our READY command as a socket of this type, whole (frame header included). */
export function readyFrame(socketType: ZmtpSocketType): Buffer {
  return frameOf(commandBody('READY', property('Socket-Type', socketType)), FLAG_COMMAND);
}

/** A ROUTER's READY command. */
export const READY_FRAME = readyFrame('ROUTER');

/** One frame: flags (LONG added past 255 bytes), size, body. */
export function frameOf(body: Buffer, flags: number): Buffer {
  const long = body.length > 255;
  const head = long ? 9 : 2;
  const out = Buffer.allocUnsafe(head + body.length);
  out[0] = flags | (long ? FLAG_LONG : 0);
  if (long) {
    out.writeUInt32BE(Math.floor(body.length / 2 ** 32), 1);
    out.writeUInt32BE(body.length >>> 0, 5);
  } else out[1] = body.length;
  body.copy(out, head);
  return out;
}

/** Why a peer's greeting cannot be served, or undefined when it is a ZMTP 3.x NULL greeting. */
export function greetingProblem(greeting: Buffer): string | undefined {
  if (greeting[0] !== 0xff || (greeting[9]! & 0x01) === 0)
    return 'not a ZMTP 3 greeting (ZMTP 1.0 peers are not supported)';
  if (greeting.length > SIGNATURE_BYTES && greeting[SIGNATURE_BYTES]! < 3)
    return `ZMTP ${greeting[SIGNATURE_BYTES]}.x is not supported (3.0 or later is)`;
  if (greeting.length < GREETING_BYTES) return undefined;
  const mechanism = greeting.toString('latin1', 12, 32).replace(/\0+$/, '');
  if (mechanism !== 'NULL') return `security mechanism ${mechanism} is not supported (NULL is)`;
  return undefined;
}

export interface ReadyInfo {
  readonly socketType: string;
}

/**
 * Reads a peer's READY command data (its properties); throws on a malformed one or on a peer
 * whose socket type `self` does not talk to.
 */
export function parseReady(data: Buffer, self: ZmtpSocketType = 'ROUTER'): ReadyInfo {
  let at = 0;
  let socketType: string | undefined;
  while (at < data.length) {
    const nameLength = data[at]!;
    if (at + 1 + nameLength + 4 > data.length) throw new Error('malformed READY property');
    const name = data.toString('latin1', at + 1, at + 1 + nameLength);
    const valueLength = data.readUInt32BE(at + 1 + nameLength);
    const valueAt = at + 1 + nameLength + 4;
    if (valueAt + valueLength > data.length) throw new Error('malformed READY property value');
    // Property names are case-insensitive (RFC 23).
    if (name.toLowerCase() === 'socket-type')
      socketType = data.toString('latin1', valueAt, valueAt + valueLength);
    at = valueAt + valueLength;
  }
  if (socketType === undefined) throw new Error('READY without a Socket-Type');
  if (!PEERS[self].has(socketType)) throw new Error(`a ${self} does not talk to a ${socketType} socket`);
  return { socketType };
}

/** Splits a command frame's body into its name and data; undefined if malformed. */
export function parseCommand(body: Buffer): { name: string; data: Buffer } | undefined {
  if (body.length < 1 || body.length < 1 + body[0]!) return undefined;
  return { name: body.toString('latin1', 1, 1 + body[0]!), data: body.subarray(1 + body[0]!) };
}

const EMPTY = Buffer.alloc(0);

/**
 * Received bytes as a queue of chunks: frames inside one chunk are taken as views (no copy),
 * frames across chunks are joined once, when whole.
 */
export class ByteQueue {
  private chunks: Buffer[] = [];
  private head = 0; // read offset into chunks[0]
  length = 0;

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.length += chunk.length;
  }

  /** The byte at `i` from the front (i < length). */
  byteAt(i: number): number {
    let at = this.head + i;
    for (const c of this.chunks) {
      if (at < c.length) return c[at]!;
      at -= c.length;
    }
    return 0;
  }

  /** Takes `n` bytes (n <= length) from the front. */
  take(n: number): Buffer {
    if (n === 0) return EMPTY;
    const first = this.chunks[0]!;
    const left = first.length - this.head;
    if (n <= left) {
      const out = first.subarray(this.head, this.head + n);
      this.head += n;
      this.length -= n;
      if (this.head === first.length) {
        this.chunks.shift();
        this.head = 0;
      }
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const c = this.chunks[0]!;
      const part = Math.min(n - filled, c.length - this.head);
      c.copy(out, filled, this.head, this.head + part);
      filled += part;
      this.head += part;
      if (this.head === c.length) {
        this.chunks.shift();
        this.head = 0;
      }
    }
    this.length -= n;
    return out;
  }

  /** Reads a big-endian size of 8 bytes at `i`; past 2^53 it is Infinity (over any limit). */
  uint64At(i: number): number {
    let high = 0;
    for (let k = 0; k < 4; k++) high = high * 256 + this.byteAt(i + k);
    let low = 0;
    for (let k = 4; k < 8; k++) low = low * 256 + this.byteAt(i + k);
    return high >= 2 ** 21 ? Number.POSITIVE_INFINITY : high * 2 ** 32 + low;
  }
}

/** A frame's header at the queue's front: flags, header bytes and body size; undefined if incomplete. */
export function frameHeader(q: ByteQueue): { flags: number; head: number; size: number } | undefined {
  if (q.length < 2) return undefined;
  const flags = q.byteAt(0);
  const long = (flags & FLAG_LONG) !== 0;
  const head = long ? 9 : 2;
  if (q.length < head) return undefined;
  return { flags, head, size: long ? q.uint64At(1) : q.byteAt(1) };
}

type GreetingStep = 'signature' | 'major' | 'greeting';

/**
 * Our greeting and the peer's, in the three steps libzmq takes: our signature, then our major
 * version once the peer's signature is in, then the rest once its major is. A libzmq peer
 * that gets more at once than it has asked for can stall its handshake.
 */
export class GreetingExchange {
  private step: GreetingStep = 'signature';
  private received: Buffer | undefined;

  constructor(private readonly write: (bytes: Buffer) => void) {
    write(GREETING_SIGNATURE);
  }

  /**
   * Takes what it can of the peer's greeting: 'done' once it is whole (then send READY),
   * 'more' while bytes are missing, or why the greeting cannot be served.
   */
  advance(q: ByteQueue): 'done' | 'more' | { problem: string } {
    for (;;) {
      const need =
        this.step === 'signature'
          ? SIGNATURE_BYTES
          : this.step === 'major'
            ? SIGNATURE_BYTES + 1
            : GREETING_BYTES;
      const have = this.received?.length ?? 0;
      if (q.length < need - have) return 'more';
      const part = q.take(need - have);
      this.received = this.received === undefined ? part : Buffer.concat([this.received, part]);
      const problem = greetingProblem(this.received);
      if (problem !== undefined) return { problem };
      if (this.step === 'signature') {
        this.write(GREETING_MAJOR);
        this.step = 'major';
      } else if (this.step === 'major') {
        this.write(GREETING_REST);
        this.step = 'greeting';
      } else {
        this.received = undefined;
        return 'done';
      }
    }
  }
}

/** Queued frames larger than this total are written as they are (a writev) instead of copied into one buffer. */
const SMALL_WRITE_BYTES = 16 * 1024;

/** Frames waiting to be written, all of them in one write when flushed. */
export class FrameBatch {
  private flags: number[] = [];
  private bodies: Buffer[] = [];
  private bytes = 0;

  get size(): number {
    return this.bodies.length;
  }

  add(body: Buffer, flags: number): void {
    this.flags.push(flags);
    this.bodies.push(body);
    this.bytes += (body.length > 255 ? 9 : 2) + body.length;
  }

  clear(): void {
    this.flags = [];
    this.bodies = [];
    this.bytes = 0;
  }

  /** Writes everything queued (small frames copied into one buffer, large ones corked) and empties the batch. */
  writeTo(socket: {
    write(b: Buffer): unknown;
    cork(): void;
    uncork(): void;
    readonly destroyed: boolean;
  }): void {
    const count = this.bodies.length;
    if (count === 0) return;
    const flags = this.flags;
    const bodies = this.bodies;
    const total = this.bytes;
    this.flags = [];
    this.bodies = [];
    this.bytes = 0;
    if (socket.destroyed) return;
    if (total <= SMALL_WRITE_BYTES) {
      const out = Buffer.allocUnsafe(total);
      let at = 0;
      for (let i = 0; i < count; i++) {
        const body = bodies[i]!;
        if (body.length > 255) {
          out[at] = flags[i]! | FLAG_LONG;
          out.writeUInt32BE(0, at + 1);
          out.writeUInt32BE(body.length, at + 5);
          at += 9;
        } else {
          out[at] = flags[i]!;
          out[at + 1] = body.length;
          at += 2;
        }
        at += body.copy(out, at);
      }
      socket.write(out);
      return;
    }
    // Large bodies (a 1 MiB echo) are written as they are, behind their own headers.
    socket.cork();
    for (let i = 0; i < count; i++) {
      const body = bodies[i]!;
      if (body.length <= 255) socket.write(frameOf(body, flags[i]!));
      else {
        const head = Buffer.allocUnsafe(9);
        head[0] = flags[i]! | FLAG_LONG;
        head.writeUInt32BE(Math.floor(body.length / 2 ** 32), 1);
        head.writeUInt32BE(body.length >>> 0, 5);
        socket.write(head);
        socket.write(body);
      }
    }
    socket.uncork();
  }
}
