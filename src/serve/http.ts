/**
 * Graceful drain and a health probe for servers over node:http (JSON-RPC, SOAP, ...), added
 * around the protocol's own request handling so the protocol code stays as it is.
 *
 * - `GET`/`HEAD` on the health path (default /healthz) answers 200 "ok" while serving and 503
 *   "draining" once a drain began, so a balancer (HAProxy's `option httpchk`) takes the server
 *   out before it goes.
 * - On drain the server stops accepting, every reply from then on carries `Connection: close`
 *   (so keep-alive clients move on), idle connections are closed, requests in progress are
 *   answered, and what is left after the grace period is cut.
 */
import type http from 'node:http';
import { timerDelay } from '../net/deadline.js';

export const HEALTH_PATH = '/healthz';

/** How often a draining server closes the connections that went idle. */
const POLL_MS = 5;

export interface HttpDrain {
  readonly draining: boolean;
  /** Stops accepting, answers requests in progress within `graceMs`, closes everything. */
  drain(graceMs: number): Promise<void>;
}

type RequestListener = (req: http.IncomingMessage, res: http.ServerResponse) => void;

export function drainableHttp(server: http.Server, healthPath = HEALTH_PATH): HttpDrain {
  let draining = false;
  const open = new Set<http.ServerResponse>();
  // The protocol's own listeners run after ours, and only when the request is not the probe.
  for (const event of ['request', 'checkContinue'] as const) {
    const theirs = server.listeners(event) as RequestListener[];
    server.removeAllListeners(event);
    server.on(event, (req: http.IncomingMessage, res: http.ServerResponse) => {
      if (draining) res.shouldKeepAlive = false;
      if (isProbe(req, healthPath)) {
        answerProbe(req, res, draining);
        return;
      }
      open.add(res);
      res.once('close', () => open.delete(res));
      // Without a listener of its own, Node answers 100 Continue itself; keep that.
      if (theirs.length === 0 && event === 'checkContinue') {
        res.writeContinue();
        server.emit('request', req, res);
        return;
      }
      for (const listener of theirs) listener.call(server, req, res);
    });
  }
  return {
    get draining() {
      return draining;
    },
    drain(graceMs) {
      draining = true;
      // Replies not yet started say "Connection: close" and end their connection.
      for (const res of open) if (!res.headersSent) res.shouldKeepAlive = false;
      return new Promise<void>((resolve) => {
        const poll = setInterval(() => server.closeIdleConnections(), POLL_MS);
        const deadline = setTimeout(() => server.closeAllConnections(), timerDelay(graceMs) ?? 0);
        // Stops accepting; the callback comes once every connection is closed.
        server.close(() => {
          clearInterval(poll);
          clearTimeout(deadline);
          resolve();
        });
        server.closeIdleConnections();
      });
    },
  };
}

function isProbe(req: http.IncomingMessage, healthPath: string): boolean {
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  const url = req.url ?? '';
  const q = url.indexOf('?');
  return (q < 0 ? url : url.slice(0, q)) === healthPath;
}

function answerProbe(req: http.IncomingMessage, res: http.ServerResponse, draining: boolean): void {
  const body = draining ? 'draining\n' : 'ok\n';
  res.writeHead(draining ? 503 : 200, {
    'Content-Type': 'text/plain',
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}
