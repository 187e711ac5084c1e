/**
 * Which web pages may call the server. Browsers send `Origin` with every POST and with CORS
 * preflights; other clients (jsonrpclib, tinyrpc, requests, curl, Node's fetch) never do. By
 * default no origin is allowed: a page on any site could otherwise make a browser run methods
 * on a loopback server with a "simple" text/plain POST, which needs no preflight. A server meant
 * for browsers lists the origins it trusts; those get CORS headers so the page can read replies.
 */
import type http from 'node:http';

/** Exact origins ("https://app.example:8443"), or "*" for any page. */
export type AllowedOrigins = readonly string[];

export type OriginVerdict =
  /** No Origin header: not a browser, nothing to check. */
  | { readonly kind: 'none' }
  | { readonly kind: 'refused'; readonly origin: string }
  /** Allowed: these headers go on every response to the request. */
  | { readonly kind: 'allowed'; readonly headers: http.OutgoingHttpHeaders };

/** How long a browser may cache a preflight's answer, in seconds. */
const PREFLIGHT_MAX_AGE_S = 600;

export function checkOrigin(req: http.IncomingMessage, allowed: AllowedOrigins): OriginVerdict {
  const origin = req.headers.origin;
  if (origin === undefined) return { kind: 'none' };
  // "null" (sandboxed frames, file: pages) is opaque: only an explicit "null" entry allows it.
  const ok = allowed.includes(origin) || (origin !== 'null' && allowed.includes('*'));
  if (!ok) return { kind: 'refused', origin };
  // The origin is echoed rather than "*", so caches keyed on it (Vary) never serve one page's
  // answer to another.
  return { kind: 'allowed', headers: { 'Access-Control-Allow-Origin': origin, Vary: 'Origin' } };
}

/** A CORS preflight: OPTIONS with Access-Control-Request-Method. */
export function isPreflight(req: http.IncomingMessage): boolean {
  return req.method === 'OPTIONS' && req.headers['access-control-request-method'] !== undefined;
}

/** The answer to an allowed origin's preflight: POST, with the headers the page asked to send. */
export function preflightHeaders(req: http.IncomingMessage): http.OutgoingHttpHeaders {
  const asked = req.headers['access-control-request-headers'];
  return {
    'Access-Control-Allow-Methods': 'POST',
    'Access-Control-Allow-Headers': asked ?? 'Content-Type',
    'Access-Control-Max-Age': String(PREFLIGHT_MAX_AGE_S),
    'Content-Length': 0,
  };
}
