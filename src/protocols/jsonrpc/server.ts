/**
 * JSON-RPC 2.0 over HTTP/1.1, server side. `json-rpc-2.0` does the request/response protocol
 * (method table, notifications, error responses); this file adds the HTTP transport, request
 * validation the library leaves out (it trusts `id`, `method` and `params` shapes), batches
 * (answered as an array even when one reply remains, as the spec's §6 asks), and the contract:
 * params are decoded by the method table and checked by the shared dispatcher.
 */
import http from 'node:http';
import type net from 'node:net';
import type { AddressInfo } from 'node:net';
import {
  createJSONRPCErrorResponse,
  type JSONRPCError,
  type JSONRPCID,
  type JSONRPCRequest,
  type JSONRPCResponse,
  JSONRPCServer,
} from 'json-rpc-2.0';
import { createDispatcher } from '../../contract/dispatch.js';
import { errorFromCode, MessageTooLargeError, NoSuchMethodError, toRpcError } from '../../contract/errors.js';
import type { Contract, Implementation } from '../../contract/spec.js';
import { timerDelay } from '../../net/deadline.js';
import { clientErrorStatus } from '../../serve/answer-then-error.js';
import { drainableHttp } from '../../serve/http.js';
import { closedForRequests, refuseFurtherRequests } from '../../serve/lingering-close.js';
import { DEFAULT_HOST, DEFAULT_MAX_MESSAGE_BYTES, type RunningServer } from '../types.js';
import { readBoundedBody } from './bounded-body.js';
import {
  ACCEPTED_CODINGS,
  contentCodings,
  decodeBody,
  MAX_CODINGS,
  unsupportedCoding,
} from './content-coding.js';
import { JsonRpcCodes, protocolError, toJsonRpcError } from './error-codes.js';
import { decodeJsonText, numericIdSources, parseJson } from './lenient-json.js';
import { type AllowedOrigins, checkOrigin, isPreflight, preflightHeaders } from './origin-policy.js';
import { decodeParams, encodeValue, jsonReplacer } from './wire-values.js';

/**
 * HTTP timeouts, so a stalled client cannot hold a connection forever (slow-loris): the
 * request headers must arrive within `headersTimeoutMs` and the whole request within
 * `requestTimeoutMs` (Node answers 408 and closes). Node 20's defaults are 60 s and 300 s,
 * checked only every 30 s; ours are tighter and checked every second.
 */
export const DEFAULT_HEADERS_TIMEOUT_MS = 10_000;
export const DEFAULT_REQUEST_TIMEOUT_MS = 60_000;

/**
 * A reply must be flushed to the client within this time, or the connection is cut. Node's
 * timeouts stop once the request is in: a client that sent a whole request and never reads
 * the reply kept the connection, and the reply buffered for it (as large as the request for
 * an echo), forever.
 */
export const DEFAULT_REPLY_TIMEOUT_MS = 60_000;

/**
 * Most requests one batch may hold. Without a cap a 2 MB body of `[1,1,1,...]` asks for a
 * million -32600 replies (134 MB of JSON); the 16 MiB limit would allow ~8 million, more than
 * a JavaScript string can hold. Over the cap the batch gets one -32600.
 */
export const DEFAULT_MAX_BATCH_LENGTH = 1000;

export interface JsonRpcServeOptions {
  host?: string;
  port: number;
  maxMessageBytes?: number;
  maxBatchLength?: number;
  headersTimeoutMs?: number;
  requestTimeoutMs?: number;
  replyTimeoutMs?: number;
  /**
   * Web origins whose pages may call the server (CORS), e.g. ["https://app.example"], or ["*"].
   * Default none: a request carrying an Origin header gets 403 (see origin-policy.ts).
   */
  allowedOrigins?: AllowedOrigins;
}

export interface JsonRpcRunningServer extends RunningServer {
  /** Connections currently open (for leak checks). */
  readonly connectionCount: number;
}

type Reply = JSONRPCResponse | JSONRPCResponse[] | null;

interface Pending {
  readonly replies: Map<http.IncomingMessage, http.ServerResponse>;
  /** The last request answered before its body was whole (see clientError). */
  answeredBeforeBody?: http.IncomingMessage;
  /** Answers a parse error that followed these requests, once all of them are answered. */
  whenAnswered?: () => void;
}

/**
 * The source text of numeric ids JSON.parse cannot keep exactly, from numericIdSources: for a
 * single request the text of its id, for a batch one entry per request.
 */
export type IdSources = ReturnType<typeof numericIdSources>;

/** Replies whose id is written as this source text instead of the parsed number (see stringifyReply). */
const exactIds = new WeakMap<JSONRPCResponse, string>();

/** Whether a request (or a batch entry) has a numeric id that JSON.parse may not have kept exactly. */
export function needsIdSources(payload: unknown): boolean {
  const inexact = (e: unknown) =>
    typeof e === 'object' &&
    e !== null &&
    typeof (e as { id?: unknown }).id === 'number' &&
    !Number.isSafeInteger((e as { id: number }).id);
  return Array.isArray(payload) ? payload.some(inexact) : inexact(payload);
}

/**
 * Builds the transport-free request handler: one JSON value in, the reply (or null) out.
 * `idSources` (from the request's text) lets ids beyond what a double holds be echoed exactly.
 */
export function createJsonRpcHandler<C extends Contract>(
  contract: C,
  impl: Implementation<C>,
  maxBatchLength = DEFAULT_MAX_BATCH_LENGTH,
): (payload: unknown, idSources?: IdSources) => Promise<Reply> {
  const dispatch = createDispatcher(contract, impl);
  // Every error is expected and answered to the caller; the library's default logs each one.
  const rpc = new JSONRPCServer({ errorListener: () => undefined });
  rpc.mapErrorToJSONRPCErrorResponse = (id: JSONRPCID, error: unknown) => {
    const { code, message, data } = toJsonRpcError(toRpcError(error));
    return createJSONRPCErrorResponse(id, code, message, data);
  };
  rpc.handleMethodNotFound = async (request: JSONRPCRequest) => {
    throw new NoSuchMethodError(request.method);
  };
  for (const [name, spec] of Object.entries(contract.methods)) {
    rpc.addMethod(name, async (params: unknown) => {
      const args = decodeParams(name, spec, params);
      // The parsed params are ours and read only here: let their strings go now, or a 1 MiB
      // echo's 1.4 MB base64 argument stays reachable until the reply has been written.
      if (Array.isArray(params)) params.fill(undefined);
      const result = await dispatch(name, args);
      if (spec.result === 'binary' && result instanceof Uint8Array && result.byteLength >= LARGE_RESULT_BYTES)
        return new LargeBinaryResult(result);
      return encodeValue(spec.result, result);
    });
  }

  const one = async (entry: unknown, source: string | undefined): Promise<JSONRPCResponse | null> => {
    // An id whose number text we have is echoed as that text, so it need not survive parsing.
    const exact = source !== undefined && typeof (entry as { id?: unknown } | null)?.id === 'number';
    const problem = requestProblem(entry, exact);
    const reply =
      problem === undefined
        ? await rpc.receive(entry as JSONRPCRequest)
        : errorReply(exact ? null : idOf(entry), protocolError(JsonRpcCodes.INVALID_REQUEST, problem));
    if (reply !== null && exact) exactIds.set(reply, source);
    return reply;
  };

  return async (payload, idSources) => {
    if (!Array.isArray(payload)) return one(payload, typeof idSources === 'string' ? idSources : undefined);
    if (payload.length === 0) {
      return errorReply(null, protocolError(JsonRpcCodes.INVALID_REQUEST, 'Invalid Request: empty batch'));
    }
    if (payload.length > maxBatchLength) {
      const why = `Invalid Request: a batch of ${payload.length} requests exceeds the limit of ${maxBatchLength}`;
      return errorReply(null, protocolError(JsonRpcCodes.INVALID_REQUEST, why));
    }
    const sources = Array.isArray(idSources) ? idSources : [];
    const replies = (await Promise.all(payload.map((entry, i) => one(entry, sources[i])))).filter(
      (r): r is JSONRPCResponse => r !== null,
    );
    return replies.length === 0 ? null : replies;
  };
}

/** Why a value is not a JSON-RPC 2.0 request object (spec §4), or undefined when it is one. */
function requestProblem(entry: unknown, exactId = false): string | undefined {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
    return 'Invalid Request: expected a request object';
  }
  const r = entry as Record<string, unknown>;
  if (r.jsonrpc !== '2.0') return 'Invalid Request: "jsonrpc" must be exactly "2.0"';
  if (typeof r.method !== 'string') return 'Invalid Request: "method" must be a string';
  if ('id' in r && !isId(r.id)) return 'Invalid Request: "id" must be a string, a number or null';
  const badId = exactId ? undefined : idProblem(r.id);
  if (badId !== undefined) return badId;
  if ('params' in r && (typeof r.params !== 'object' || r.params === null)) {
    return 'Invalid Request: "params" must be an array or an object';
  }
  // The library refuses these itself, with a bare -32600 lacking our data.code.
  if ('result' in r || 'error' in r) return 'Invalid Request: a request must not carry "result" or "error"';
  return undefined;
}

function isId(id: unknown): id is JSONRPCID {
  return typeof id === 'string' || typeof id === 'number' || id === null;
}

/**
 * Why a numeric id cannot be echoed back as sent, or undefined. JSON.parse turns an integer
 * beyond 2^53 into a nearby one and 1e400 into Infinity (written back as null), so the reply
 * would carry an id the client never sent and could not match: refuse those instead.
 */
function idProblem(id: unknown): string | undefined {
  if (typeof id !== 'number') return undefined;
  if (!Number.isFinite(id)) return 'Invalid Request: numeric "id" out of range';
  if (Number.isInteger(id) && !Number.isSafeInteger(id)) {
    return 'Invalid Request: integer "id" beyond 2^53 cannot be echoed exactly; send it as a string';
  }
  return undefined;
}

function idOf(entry: unknown): JSONRPCID {
  if (typeof entry !== 'object' || entry === null) return null;
  const id = (entry as { id?: unknown }).id;
  return isId(id) && idProblem(id) === undefined ? id : null;
}

function errorReply(id: JSONRPCID, error: JSONRPCError): JSONRPCResponse {
  return createJSONRPCErrorResponse(id, error.code, error.message, error.data);
}

/** Cuts the connection if the ended reply `res` is not flushed within `ms` (a client not reading). */
function flushWithin(res: http.ServerResponse, ms: number): void {
  const delay = timerDelay(ms);
  if (res.writableFinished || res.destroyed || delay === undefined) return;
  const timer = setTimeout(() => res.destroy(), delay);
  timer.unref();
  const clear = () => clearTimeout(timer);
  res.once('finish', clear);
  res.once('close', clear);
}

/** A binary result of at least this many bytes is a LargeBinaryResult (see send). */
const LARGE_RESULT_BYTES = 48 * 1024;

/** Bytes of a large result turned into base64 at a time (a multiple of 3: the pieces join up). */
const BASE64_PIECE_BYTES = 48 * 1024;

/**
 * A large binary result, kept as bytes until written: send() writes a lone reply's base64 in
 * 64 KiB pieces. As one string (1.4 MB for a 1 MiB echo) copied into the reply's JSON text and
 * then into a Buffer, it cost three large copies per call that lived until the next GC and set
 * the server's peak memory. Anywhere else (a batch) JSON.stringify takes its base64 text.
 */
class LargeBinaryResult {
  constructor(readonly bytes: Uint8Array) {}
  toJSON(): string {
    return encodeValue('binary', this.bytes) as string;
  }
}

/** JSON text of a reply (or batch of them); one in exactIds gets the request's id text. */
function stringifyReply(body: unknown): string {
  const one = (r: unknown): string => {
    const source = typeof r === 'object' && r !== null ? exactIds.get(r as JSONRPCResponse) : undefined;
    if (source === undefined) return JSON.stringify(r, jsonReplacer);
    const { id: _parsed, ...rest } = r as JSONRPCResponse;
    return `{"id":${source},${JSON.stringify(rest, jsonReplacer).slice(1)}`;
  };
  return Array.isArray(body) ? `[${body.map(one).join(',')}]` : one(body);
}

function largeBinaryOf(body: unknown): LargeBinaryResult | undefined {
  const result =
    typeof body === 'object' && body !== null ? (body as { result?: unknown }).result : undefined;
  return result instanceof LargeBinaryResult ? result : undefined;
}

function send(
  res: http.ServerResponse,
  status: number,
  body: unknown,
  headers: http.OutgoingHttpHeaders = {},
) {
  // Node goes on dispatching what the client pipelined behind this request: none of it may run.
  if (headers.Connection === 'close') refuseFurtherRequests(res.req.socket);
  const large = largeBinaryOf(body);
  if (large !== undefined) {
    // The reply's JSON with an empty result, split at the result's quotes.
    const copy = { ...(body as JSONRPCResponse), result: '' } as JSONRPCResponse;
    const source = exactIds.get(body as JSONRPCResponse);
    if (source !== undefined) exactIds.set(copy, source);
    const empty = stringifyReply(copy);
    const head = empty.slice(0, -2);
    const tail = empty.slice(-2);
    const bytes = Buffer.from(large.bytes.buffer, large.bytes.byteOffset, large.bytes.byteLength);
    res.writeHead(status, {
      'Content-Type': 'application/json',
      'Content-Length': Buffer.byteLength(head, 'utf8') + 4 * Math.ceil(bytes.length / 3) + tail.length,
      ...headers,
    });
    res.cork();
    res.write(head, 'utf8');
    // In pieces of 64 KiB of text, each turned into a Buffer the socket takes as it is: no
    // 1.4 MB string, which V8 puts in its large-object space and keeps until a full GC.
    for (let at = 0; at < bytes.length; at += BASE64_PIECE_BYTES) {
      const piece = bytes.toString('base64', at, Math.min(bytes.length, at + BASE64_PIECE_BYTES));
      res.write(Buffer.from(piece, 'latin1'));
    }
    res.end(tail, 'latin1');
    res.uncork();
    return;
  }
  // The text is written as it is: a Buffer copy of a 1.4 MB reply lived until the next GC.
  const text = stringifyReply(body);
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(text, 'utf8'),
    ...headers,
  });
  res.end(text, 'utf8');
}

export async function serveJsonRpc<C extends Contract>(
  contract: C,
  impl: Implementation<C>,
  options: JsonRpcServeOptions,
): Promise<JsonRpcRunningServer> {
  const host = options.host ?? DEFAULT_HOST;
  const limit = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  const handle = createJsonRpcHandler(contract, impl, options.maxBatchLength);
  const replyTimeout = options.replyTimeoutMs ?? DEFAULT_REPLY_TIMEOUT_MS;

  const allowedOrigins = options.allowedOrigins ?? [];

  /**
   * Reads, decodes and parses a request's body, or answers it (undefined). Its own function so
   * the body's bytes and text (1.4 MB each for a 1 MiB echo) are garbage once it returns, not
   * held by the caller's frame while the call runs and its reply is written.
   */
  const readRequest = async (
    req: http.IncomingMessage,
    res: http.ServerResponse,
    codings: readonly string[],
  ): Promise<{ payload: unknown; idSources: IdSources } | undefined> => {
    const body = await readBoundedBody(req, limit);
    if (body.kind === 'aborted') return undefined;
    if (body.kind === 'too-large') {
      const err = toJsonRpcError(new MessageTooLargeError(body.size, limit));
      send(res, 413, errorReply(null, err));
      return undefined;
    }
    let bytes = body.body;
    if (codings.length > 0) {
      const decoded = await decodeBody(bytes, codings, limit);
      if (decoded.kind === 'too-large') {
        const why = `the decompressed body exceeds the limit of ${limit} bytes`;
        send(res, 413, errorReply(null, toJsonRpcError(errorFromCode('MESSAGE_TOO_LARGE', why))));
        return undefined;
      }
      if (decoded.kind !== 'ok') {
        const why = `Parse error: the body is not valid ${decoded.coding}`;
        send(res, 400, errorReply(null, protocolError(JsonRpcCodes.PARSE_ERROR, why)));
        return undefined;
      }
      bytes = decoded.body;
    }
    let payload: unknown;
    let text: string;
    try {
      text = decodeJsonText(bytes);
      payload = parseJson(text);
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      send(res, 200, errorReply(null, protocolError(JsonRpcCodes.PARSE_ERROR, `Parse error: ${why}`)));
      return undefined;
    }
    return { payload, idSources: needsIdSources(payload) ? numericIdSources(text) : undefined };
  };

  const onRequest = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    // RFC 9112 §3.2: an HTTP/1.1 request without Host is 400, as Node's requireHostHeader would
    // answer; done here so it is a tracked reply (see track): Node's own 400 was not, and the
    // unframed body after it got a second 400 past its "Connection: close".
    if (req.httpVersionMajor === 1 && req.httpVersionMinor === 1 && !req.headers.host) {
      const why = 'Invalid Request: an HTTP/1.1 request must carry a Host header';
      send(res, 400, errorReply(null, protocolError(JsonRpcCodes.INVALID_REQUEST, why)), {
        Connection: 'close',
      });
      return;
    }
    // Web pages first (see origin-policy.ts): a refused origin runs nothing, its body unread.
    const origin = checkOrigin(req, allowedOrigins);
    if (origin.kind === 'refused') {
      const why = `requests from web pages (Origin: ${origin.origin}) are refused; serve with allowedOrigins to permit one`;
      send(res, 403, errorReply(null, protocolError(JsonRpcCodes.INVALID_REQUEST, why)));
      return;
    }
    if (origin.kind === 'allowed') {
      for (const [name, value] of Object.entries(origin.headers))
        if (value !== undefined) res.setHeader(name, value);
      if (isPreflight(req)) {
        res.writeHead(204, preflightHeaders(req));
        res.end();
        return;
      }
    }
    if (req.method !== 'POST') {
      const error = protocolError(
        JsonRpcCodes.INVALID_REQUEST,
        `JSON-RPC requests must use POST, not ${req.method}`,
      );
      send(res, 405, errorReply(null, error), { Allow: 'POST' });
      return;
    }
    // Transfer codings before the final chunked (which Node undoes), as in "gzip, chunked", were
    // applied after any content coding (RFC 9112 §6.1); one we cannot undo is 501, not JSON.
    const transfer = contentCodings(req.headers['transfer-encoding']).filter((c) => c !== 'chunked');
    const unknownTransfer = unsupportedCoding(transfer);
    if (unknownTransfer !== undefined) {
      const why = `Transfer-Encoding ${unknownTransfer} is not supported (use ${ACCEPTED_CODINGS} or none)`;
      send(res, 501, errorReply(null, protocolError(JsonRpcCodes.PARSE_ERROR, why)), { Connection: 'close' });
      return;
    }
    const codings = [...contentCodings(req.headers['content-encoding']), ...transfer];
    const unsupported = unsupportedCoding(codings);
    if (unsupported !== undefined || codings.length > MAX_CODINGS) {
      const why =
        unsupported === undefined
          ? `${codings.length} stacked codings are too many (at most ${MAX_CODINGS})`
          : `Content-Encoding ${unsupported} is not supported (use ${ACCEPTED_CODINGS} or none)`;
      send(res, 415, errorReply(null, protocolError(JsonRpcCodes.PARSE_ERROR, why)), {
        'Accept-Encoding': ACCEPTED_CODINGS,
      });
      return;
    }
    const request = await readRequest(req, res, codings);
    if (request === undefined) return;
    const reply = await handle(request.payload, request.idSources);
    if (reply === null) {
      // Notifications only: no body. 200 rather than 204 because jsonrpclib-pelix treats any
      // status but 200 as a transport error, even for a notification.
      res.writeHead(200, { 'Content-Length': 0 });
      res.end();
      return;
    }
    send(res, 200, reply);
  };

  const server = http.createServer(
    {
      headersTimeout: options.headersTimeoutMs ?? DEFAULT_HEADERS_TIMEOUT_MS,
      requestTimeout: options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
      connectionsCheckingInterval: 1_000,
      requireHostHeader: false, // checked in onRequest
    },
    (req, res) => dispatchRequest(req, res),
  );
  // `Expect: 100-continue`: refuse an oversized body before the client sends it, and without
  // the 100 (RFC 9110 §10.1.1); the connection closes, since the body never comes.
  server.on('checkContinue', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit && !closedForRequests(req.socket)) {
      track(req, res);
      const err = toJsonRpcError(new MessageTooLargeError(declared, limit));
      send(res, 413, errorReply(null, err), { Connection: 'close' });
      return;
    }
    res.writeContinue();
    dispatchRequest(req, res);
  });
  function dispatchRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    // Sent after an answer that closed the connection (RFC 9112 §9.6): dropped, never run.
    if (closedForRequests(req.socket)) {
      req.resume();
      return;
    }
    track(req, res);
    onRequest(req, res)
      .catch((err: unknown) => {
        // Only a bug lands here; answer it rather than leave the client hanging.
        if (res.headersSent) {
          res.destroy();
          return;
        }
        const error = toJsonRpcError(toRpcError(err));
        send(res, 500, errorReply(null, error));
      })
      // Every path above has ended the reply (or the request was aborted) by now.
      .then(() => flushWithin(res, replyTimeout));
  }
  // Requests whose replies are not yet written, per connection. Node parses pipelined bytes
  // while an earlier request is still being answered: malformed bytes after a whole request
  // must not answer (and close) before it, or its caller reads the 400 as its reply.
  const unanswered = new WeakMap<net.Socket, Pending>();
  function track(req: http.IncomingMessage, res: http.ServerResponse): void {
    const socket = req.socket;
    let pending = unanswered.get(socket);
    if (pending === undefined) {
      pending = { replies: new Map() };
      unanswered.set(socket, pending);
    }
    const state = pending;
    state.replies.set(req, res);
    res.once('close', () => {
      state.replies.delete(req);
      if (!req.complete) state.answeredBeforeBody = req;
      if (state.replies.size === 0) state.whenAnswered?.();
    });
  }
  server.on('clientError', (err: NodeJS.ErrnoException, socket: net.Socket) => {
    // Malformed HTTP or a timeout: answer with the fitting status and close; nothing throws.
    // Destroyed once the answer is flushed, not merely ended: a peer that never reads nor
    // closes would otherwise keep the half-closed socket (and its descriptor) forever.
    const answer = `HTTP/1.1 ${clientErrorStatus(err.code)}\r\nConnection: close\r\n\r\n`;
    const pending = unanswered.get(socket);
    const waiting = [...(pending?.replies ?? [])];
    // The request still arriving (if any) is the one this error is about. Already answered
    // (403, 405, 413… are sent before the body is read), it gets no second reply; else it gets
    // the 400 now. Whole requests before it are answered first (their replies are bounded by
    // replyTimeoutMs).
    const receiving = waiting.filter(([req]) => !req.complete);
    const early = pending?.answeredBeforeBody;
    const answeredEarly =
      receiving.length > 0
        ? receiving.every(([, res]) => res.writableEnded)
        : early !== undefined && !early.complete;
    if (pending !== undefined && (answeredEarly || (waiting.length > 0 && receiving.length === 0))) {
      const finish = () => {
        // A reply that said "Connection: close" has already ended the socket: add nothing.
        if (!socket.writable) return;
        if (answeredEarly) socket.end(() => socket.destroy());
        else socket.end(answer, () => socket.destroy());
      };
      if (pending.replies.size === 0) finish();
      else pending.whenAnswered = finish;
      return;
    }
    if (socket.writable) socket.end(answer, () => socket.destroy());
    else socket.destroy();
  });

  // GET/HEAD /healthz, and graceful drain (src/serve/http.ts), around the handlers above.
  const drainer = drainableHttp(server);

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  let connections = 0;
  server.on('connection', (socket) => {
    connections++;
    socket.once('close', () => connections--);
  });
  return {
    host,
    port,
    address: `http://${urlHost}:${port}/`,
    get connectionCount() {
      return connections;
    },
    drain: (graceMs: number) => drainer.drain(graceMs),
    close: () =>
      new Promise<void>((resolve) => {
        if (!server.listening) {
          // Drained (or closing): the close callback would never come a second time.
          server.closeAllConnections();
          resolve();
          return;
        }
        server.close(() => resolve());
        // Keep-alive connections would otherwise hold the port until they idle out.
        server.closeAllConnections();
      }),
  };
}
