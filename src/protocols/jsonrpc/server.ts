/**
 * JSON-RPC 2.0 over HTTP/1.1, server side. `json-rpc-2.0` does the request/response protocol
 * (method table, notifications, error responses); this file adds the HTTP transport, request
 * validation the library leaves out (it trusts `id`, `method` and `params` shapes), batches
 * (answered as an array even when one reply remains, as the spec's §6 asks), and the contract:
 * params are decoded by the method table and checked by the shared dispatcher.
 */
import http from 'node:http';
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
import { MessageTooLargeError, NoSuchMethodError, toRpcError } from '../../contract/errors.js';
import type { Contract, Implementation } from '../../contract/spec.js';
import { DEFAULT_HOST, DEFAULT_MAX_MESSAGE_BYTES, type RunningServer } from '../types.js';
import { readBoundedBody } from './bounded-body.js';
import { JsonRpcCodes, protocolError, toJsonRpcError } from './error-codes.js';
import { parseJson } from './lenient-json.js';
import { decodeParams, encodeValue, jsonReplacer } from './wire-values.js';

export interface JsonRpcServeOptions {
  host?: string;
  port: number;
  maxMessageBytes?: number;
}

type Reply = JSONRPCResponse | JSONRPCResponse[] | null;

/** Builds the transport-free request handler: one JSON value in, the reply (or null) out. */
export function createJsonRpcHandler<C extends Contract>(
  contract: C,
  impl: Implementation<C>,
): (payload: unknown) => Promise<Reply> {
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
      const result = await dispatch(name, decodeParams(name, spec, params));
      return encodeValue(spec.result, result);
    });
  }

  const one = async (entry: unknown): Promise<JSONRPCResponse | null> => {
    const problem = requestProblem(entry);
    if (problem !== undefined)
      return errorReply(idOf(entry), protocolError(JsonRpcCodes.INVALID_REQUEST, problem));
    return rpc.receive(entry as JSONRPCRequest);
  };

  return async (payload) => {
    if (!Array.isArray(payload)) return one(payload);
    if (payload.length === 0) {
      return errorReply(null, protocolError(JsonRpcCodes.INVALID_REQUEST, 'Invalid Request: empty batch'));
    }
    const replies = (await Promise.all(payload.map(one))).filter((r): r is JSONRPCResponse => r !== null);
    return replies.length === 0 ? null : replies;
  };
}

/** Why a value is not a JSON-RPC 2.0 request object (spec §4), or undefined when it is one. */
function requestProblem(entry: unknown): string | undefined {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
    return 'Invalid Request: expected a request object';
  }
  const r = entry as Record<string, unknown>;
  if (r.jsonrpc !== '2.0') return 'Invalid Request: "jsonrpc" must be exactly "2.0"';
  if (typeof r.method !== 'string') return 'Invalid Request: "method" must be a string';
  if ('id' in r && !isId(r.id)) return 'Invalid Request: "id" must be a string, a number or null';
  if ('params' in r && (typeof r.params !== 'object' || r.params === null)) {
    return 'Invalid Request: "params" must be an array or an object';
  }
  return undefined;
}

function isId(id: unknown): id is JSONRPCID {
  return typeof id === 'string' || typeof id === 'number' || id === null;
}

function idOf(entry: unknown): JSONRPCID {
  if (typeof entry !== 'object' || entry === null) return null;
  const id = (entry as { id?: unknown }).id;
  return isId(id) ? id : null;
}

function errorReply(id: JSONRPCID, error: JSONRPCError): JSONRPCResponse {
  return createJSONRPCErrorResponse(id, error.code, error.message, error.data);
}

function send(
  res: http.ServerResponse,
  status: number,
  body: unknown,
  headers: http.OutgoingHttpHeaders = {},
) {
  const bytes = Buffer.from(JSON.stringify(body, jsonReplacer), 'utf8');
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': bytes.length,
    ...headers,
  });
  res.end(bytes);
}

export async function serveJsonRpc<C extends Contract>(
  contract: C,
  impl: Implementation<C>,
  options: JsonRpcServeOptions,
): Promise<RunningServer> {
  const host = options.host ?? DEFAULT_HOST;
  const limit = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  const handle = createJsonRpcHandler(contract, impl);

  const onRequest = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    if (req.method !== 'POST') {
      const error = protocolError(
        JsonRpcCodes.INVALID_REQUEST,
        `JSON-RPC requests must use POST, not ${req.method}`,
      );
      send(res, 405, errorReply(null, error), { Allow: 'POST' });
      return;
    }
    const body = await readBoundedBody(req, limit);
    if (body.kind === 'aborted') return;
    if (body.kind === 'too-large') {
      const err = toJsonRpcError(new MessageTooLargeError(body.size, limit));
      send(res, 413, errorReply(null, err));
      return;
    }
    let payload: unknown;
    try {
      payload = parseJson(body.body.toString('utf8'));
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      send(res, 200, errorReply(null, protocolError(JsonRpcCodes.PARSE_ERROR, `Parse error: ${why}`)));
      return;
    }
    const reply = await handle(payload);
    if (reply === null) {
      // Notifications only: no body. 200 rather than 204 because jsonrpclib-pelix treats any
      // status but 200 as a transport error, even for a notification.
      res.writeHead(200, { 'Content-Length': 0 });
      res.end();
      return;
    }
    send(res, 200, reply);
  };

  const server = http.createServer((req, res) => {
    onRequest(req, res).catch((err: unknown) => {
      // Only a bug lands here; answer it rather than leave the client hanging.
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const error = toJsonRpcError(toRpcError(err));
      send(res, 500, errorReply(null, error));
    });
  });
  server.on('clientError', (_err, socket) => {
    // Malformed HTTP: Node's default answers 400 and closes; make sure nothing throws.
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  return {
    host,
    port,
    address: `http://${urlHost}:${port}/`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Keep-alive connections would otherwise hold the port until they idle out.
        server.closeAllConnections();
      }),
  };
}
