/** Raw node:http requests for the JSON-RPC robustness tests (no client library in the way). */
import http from 'node:http';

export interface RawReply {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly text: string;
  /** The body parsed as JSON, or undefined when it is empty. */
  readonly json: unknown;
}

export function rawRequest(
  port: number,
  options: { method?: string; body?: string | Buffer; headers?: http.OutgoingHttpHeaders } = {},
): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const body = options.body === undefined ? undefined : Buffer.from(options.body);
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method: options.method ?? 'POST',
        path: '/',
        agent: false,
        headers: {
          'Content-Type': 'application/json',
          ...(body === undefined ? {} : { 'Content-Length': body.length }),
          ...options.headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text,
            json: text.length === 0 ? undefined : JSON.parse(text),
          });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** POSTs a JSON value (or raw text) and returns the reply. */
export function rpc(port: number, payload: unknown): Promise<RawReply> {
  return rawRequest(port, { body: typeof payload === 'string' ? payload : JSON.stringify(payload) });
}

/**
 * Streams a chunked body (no Content-Length) of up to `maxBytes`, stopping as soon as the
 * server answers; resolves with the status and how many bytes were written by then.
 */
export function streamChunked(port: number, maxBytes: number): Promise<{ status: number; written: number }> {
  return new Promise((resolve, reject) => {
    let written = 0;
    let answered = false;
    const req = http.request({
      host: '127.0.0.1',
      port,
      method: 'POST',
      path: '/',
      agent: false,
      headers: { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' },
    });
    req.on('response', (res) => {
      answered = true;
      res.resume();
      res.on('end', () => {
        req.destroy();
        resolve({ status: res.statusCode ?? 0, written });
      });
    });
    req.on('error', (err) => {
      if (!answered) reject(err);
    });
    const chunk = Buffer.alloc(64 * 1024, 0x20); // spaces: valid JSON whitespace
    const pump = () => {
      while (!answered && written < maxBytes) {
        written += chunk.length;
        if (!req.write(chunk)) {
          req.once('drain', pump);
          return;
        }
      }
      if (!answered) req.end();
    };
    pump();
  });
}
