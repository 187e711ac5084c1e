/**
 * One HTTP exchange for the SOAP client (a POSTed envelope, or a GET of ?wsdl) on a keep-alive
 * agent, reading the reply up to a byte limit. Failures become typed errors naming the URL.
 */
import http from 'node:http';
import { errorFromCode, MessageTooLargeError, RpcError, TransportError } from '../../contract/errors.js';

export interface HttpReply {
  readonly status: number;
  readonly contentType: string;
  readonly body: Buffer;
}

export interface Exchange {
  readonly result: Promise<HttpReply>;
  abort(reason: RpcError): void;
  /** The request went out on a reused keep-alive socket that died before any reply. */
  diedOnStaleSocket(): boolean;
}

export interface ExchangeRequest {
  readonly agent?: http.Agent;
  readonly url: URL;
  readonly method: 'GET' | 'POST';
  readonly headers?: http.OutgoingHttpHeaders;
  readonly body?: Buffer;
  readonly maxResponseBytes: number;
}

export function exchange(r: ExchangeRequest): Exchange {
  let abortReason: RpcError | undefined;
  let responded = false;
  const where = r.url.href;
  const req = http.request(r.url, {
    agent: r.agent,
    method: r.method,
    headers: { ...r.headers, ...(r.body ? { 'Content-Length': r.body.length } : {}) },
  });
  const result = new Promise<HttpReply>((resolve, reject) => {
    let settled = false;
    const fail = (err: RpcError) => {
      if (settled) return;
      settled = true;
      reject(err);
    };
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (abortReason) return fail(abortReason);
      if (err instanceof RpcError) return fail(err);
      if (responded) return fail(new TransportError(`${where} closed the reply midway`, { cause: err }));
      if (err.code === 'ECONNREFUSED')
        return fail(new TransportError(`cannot connect to ${where}: connection refused`, { cause: err }));
      if (err.code === 'ECONNRESET')
        return fail(new TransportError(`${where} closed the connection before replying`, { cause: err }));
      fail(errorFromCode('TRANSPORT', `HTTP request to ${where} failed: ${err.message}`, { cause: err }));
    });
    req.on('response', (res) => {
      responded = true;
      const declared = Number(res.headers['content-length']);
      if (Number.isFinite(declared) && declared > r.maxResponseBytes) {
        fail(new MessageTooLargeError(declared, r.maxResponseBytes));
        res.destroy();
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > r.maxResponseBytes) {
          fail(new MessageTooLargeError(size, r.maxResponseBytes));
          res.destroy();
          return;
        }
        chunks.push(chunk);
      });
      let ended = false;
      res.on('error', (err) =>
        fail(abortReason ?? new TransportError(`${where} closed the reply midway`, { cause: err })),
      );
      res.on(
        'close',
        () => ended || fail(abortReason ?? new TransportError(`${where} closed the reply midway`)),
      );
      res.on('end', () => {
        ended = true;
        if (settled) return;
        settled = true;
        resolve({
          status: res.statusCode ?? 0,
          contentType: String(res.headers['content-type'] ?? ''),
          body: Buffer.concat(chunks, size),
        });
      });
    });
  });
  req.end(r.body);
  return {
    result,
    abort: (reason) => {
      abortReason ??= reason;
      req.destroy(reason);
    },
    diedOnStaleSocket: () => req.reusedSocket && !responded && abortReason === undefined,
  };
}
