/**
 * Hand-built Thrift bytes and a raw TCP client, for feeding servers hostile input that no
 * well-behaved library would produce.
 */
import net from 'node:net';

export function i32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n | 0);
  return b;
}

export function i16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeInt16BE(n);
  return b;
}

/** Strict binary-protocol CALL header: version|type, method name, seqid. */
export function binaryCallHeader(method: string, seqid = 1): Buffer {
  const name = Buffer.from(method, 'utf8');
  return Buffer.concat([i32(0x80010001 | 0), i32(name.length), name, i32(seqid)]);
}

/** A complete binary-protocol add(a, b) call. */
export function binaryAdd(a: number, b: number, seqid = 1): Buffer {
  return Buffer.concat([
    binaryCallHeader('add', seqid),
    Buffer.from([8]),
    i16(1),
    i32(a),
    Buffer.from([8]),
    i16(2),
    i32(b),
    Buffer.from([0]),
  ]);
}

export function framed(payload: Buffer): Buffer {
  return Buffer.concat([i32(payload.length), payload]);
}

/** Unsigned LEB128 varint, as the compact protocol writes sizes. */
export function varint(n: number): Buffer {
  const out: number[] = [];
  let v = n;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return Buffer.from(out);
}

/** Compact-protocol CALL header: protocol id, version|type, seqid (a plain varint), method name. */
export function compactCallHeader(method: string, seqid = 1): Buffer {
  const name = Buffer.from(method, 'utf8');
  return Buffer.concat([Buffer.from([0x82, (1 << 5) | 1]), varint(seqid >>> 0), varint(name.length), name]);
}

export interface RawOutcome {
  /** The server closed (or reset) the connection. */
  readonly closed: boolean;
  /** Milliseconds from the last write to the close (when closed). */
  readonly closedAfterMs: number;
  readonly received: Buffer;
}

/**
 * Connects, writes `chunks` one after another, then waits until the server closes the
 * connection or `waitMs` passes (after which the client closes it).
 */
export function sendRaw(port: number, chunks: readonly Buffer[], waitMs = 3_000): Promise<RawOutcome> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    const received: Buffer[] = [];
    let wroteAt = 0;
    let timer: NodeJS.Timeout | undefined;
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ closed, closedAfterMs: Date.now() - wroteAt, received: Buffer.concat(received) });
    };
    socket.on('data', (c: Buffer) => received.push(c));
    socket.on('error', () => finish(true));
    socket.on('close', () => finish(true));
    socket.once('connect', () => {
      for (const c of chunks) socket.write(c);
      wroteAt = Date.now();
      timer = setTimeout(() => finish(false), waitMs);
    });
    socket.once('error', (err) => {
      if (wroteAt === 0) reject(err);
    });
  });
}

/** A complete binary-protocol echo(data) call. */
export function binaryEcho(data: Buffer, seqid = 1): Buffer {
  return Buffer.concat([
    binaryCallHeader('echo', seqid),
    Buffer.from([11]),
    i16(1),
    i32(data.length),
    data,
    Buffer.from([0]),
  ]);
}
