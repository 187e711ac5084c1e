/**
 * Raw HTTP for the SOAP server's tests, every exchange under a client-side deadline: a server
 * that never ends a response fails the test with "no answer" instead of hanging it to the
 * runner's timeout.
 */
import http from 'node:http';
import net from 'node:net';

export interface RawReply {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

export const DEADLINE_MS = 10_000;

/** One request with a whole body (or only headers, when `body` is undefined and a length is declared). */
export function request(
  port: number,
  options: {
    method?: string;
    path?: string;
    headers?: http.OutgoingHttpHeaders;
    body?: string | Buffer;
    deadlineMs?: number;
  },
): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1',
      port,
      method: options.method ?? 'POST',
      path: options.path ?? '/',
      headers: options.headers,
      agent: false,
    });
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error(`no answer within ${options.deadlineMs ?? DEADLINE_MS} ms`));
    }, options.deadlineMs ?? DEADLINE_MS);
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        clearTimeout(timer);
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        });
      });
      res.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
    if (options.body === undefined) req.flushHeaders();
    else req.end(options.body);
  });
}

/** A SOAP 1.1 or 1.2 POST of an envelope. */
export function post(port: number, version: '1.1' | '1.2', body: string | Buffer, deadlineMs?: number) {
  const headers =
    version === '1.1'
      ? { 'Content-Type': 'text/xml; charset=utf-8', SOAPAction: '"add"' }
      : { 'Content-Type': 'application/soap+xml; charset=utf-8' };
  return request(port, { headers, body, deadlineMs });
}

/**
 * Streams a chunked body of `chunkBytes` chunks until the server answers (or `maxBytes` went
 * out), and returns the status line it sent and how much was written by then.
 */
export function streamUntilAnswered(
  port: number,
  headers: string,
  chunkBytes: number,
  maxBytes: number,
  deadlineMs = DEADLINE_MS * 3,
): Promise<{ statusLine: string; written: number; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let reply = '';
    let written = 0;
    let answered = false;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within ${deadlineMs} ms (wrote ${written} bytes)`));
    }, deadlineMs);
    const chunk = Buffer.concat([
      Buffer.from(`${chunkBytes.toString(16)}\r\n`),
      Buffer.alloc(chunkBytes, 0x20),
      Buffer.from('\r\n'),
    ]);
    const pump = () => {
      while (!answered && written < maxBytes) {
        written += chunkBytes;
        if (!socket.write(chunk)) {
          socket.once('drain', pump);
          return;
        }
      }
    };
    const finish = (closed: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ statusLine: reply.split('\r\n')[0] ?? '', written, closed });
    };
    socket.on('connect', () => {
      socket.write(headers);
      pump();
    });
    socket.on('data', (d: Buffer) => {
      reply += d.toString('latin1');
      if (!answered && reply.includes('\r\n\r\n')) {
        answered = true;
        // Wait for the server to end the connection (it said Connection: close), bounded by the timer.
      }
    });
    socket.on('end', () => finish(true));
    socket.on('close', () => finish(true));
    socket.on('error', () => {
      if (answered) finish(true);
      else {
        clearTimeout(timer);
        reject(new Error(`connection failed before an answer (wrote ${written} bytes)`));
      }
    });
  });
}
