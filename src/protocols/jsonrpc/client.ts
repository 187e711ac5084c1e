/**
 * JSON-RPC 2.0 over HTTP/1.1, client side, generic over any contract. `json-rpc-2.0`'s client
 * builds requests and matches replies to ids; this file carries them over keep-alive HTTP,
 * encodes arguments and decodes results by the method table, and turns every failure into a
 * typed error (the library alone would flatten transport failures into error code 0).
 */
import http from 'node:http';
import { JSONRPCClient, type JSONRPCResponse } from 'json-rpc-2.0';
import { createClient } from '../../contract/client.js';
import {
  errorFromCode,
  InvalidArgumentError,
  NoSuchMethodError,
  ProtocolError,
  RpcError,
  TransportError,
} from '../../contract/errors.js';
import { type Client, type Contract, getMethod, type MethodSpec } from '../../contract/spec.js';
import { validateResult } from '../../contract/validate.js';
import { withTimeout } from '../../net/deadline.js';
import { fromJsonRpcError } from './error-codes.js';
import { type PendingPost, type PostResult, type PostTarget, post } from './http-post.js';
import { decodeJsonText, parseJson } from './lenient-json.js';
import { decodeValue, encodeParams, jsonReplacer } from './wire-values.js';

export interface JsonRpcConnectOptions {
  host: string;
  port: number;
  timeoutMs: number;
  maxMessageBytes: number;
  /** Where the server listens for JSON-RPC POSTs (default "/"; jsonrpclib also answers "/RPC2"). */
  path?: string;
}

/**
 * Checks an endpoint path: it must begin with "/" and hold only the characters a request
 * target may (RFC 3986: unreserved, sub-delims, ":", "@", "/", "?" and %-escapes).
 */
export function checkPath(path: string): string {
  if (!/^\/[A-Za-z0-9\-._~!$&'()*+,;=:@/?%]*$/.test(path))
    throw new InvalidArgumentError(
      `JSON-RPC path must start with "/" and be URL-encoded, got ${JSON.stringify(path)}`,
    );
  return path;
}

/** Per-call state handed to the library's send function and read back after it. */
interface CallContext {
  readonly id: number;
  readonly idempotent: boolean;
  failure?: RpcError;
  pending?: PendingPost;
}

export function connectJsonRpc<C extends Contract>(contract: C, options: JsonRpcConnectOptions): Client<C> {
  const urlHost = options.host.includes(':') ? `[${options.host}]` : options.host;
  const path = checkPath(options.path ?? '/');
  const target: PostTarget = {
    agent: new http.Agent({ keepAlive: true }),
    host: options.host,
    port: options.port,
    path,
    url: `http://${urlHost}:${options.port}${path}`,
    maxResponseBytes: options.maxMessageBytes,
  };
  const inFlight = new Set<CallContext>();
  let closed = false;

  const exchange = async (payload: unknown, ctx: CallContext): Promise<void> => {
    const body = Buffer.from(JSON.stringify(payload, jsonReplacer), 'utf8');
    // A keep-alive socket the server closed while idle fails on first use; the request never
    // reached the server, so an idempotent call is sent once more on a fresh socket.
    for (let attempt = 0; ; attempt++) {
      ctx.pending = post(target, body);
      try {
        return await receiveReply(await ctx.pending.result, ctx);
      } catch (err) {
        const stale = err instanceof TransportError && ctx.pending.diedOnStaleSocket() && !closed;
        if (!(stale && ctx.idempotent && attempt === 0)) throw err;
      }
    }
  };

  const receiveReply = async ({ status, body, location }: PostResult, ctx: CallContext): Promise<void> => {
    if (status === 413) {
      throw errorFromCode('MESSAGE_TOO_LARGE', `${target.url} refused the request as too large (HTTP 413)`);
    }
    const httpError = () =>
      new TransportError(
        `${target.url} replied HTTP ${status}${location === undefined ? '' : ` (redirect to ${location}, not followed)`}`,
      );
    let parsed: unknown;
    try {
      parsed = body.length === 0 ? undefined : parseJson(decodeJsonText(body));
    } catch {
      throw status === 200 ? new ProtocolError(`${target.url} replied with malformed JSON`) : httpError();
    }
    if (!isResponse(parsed)) {
      throw status === 200
        ? new ProtocolError(`${target.url} replied with something that is not a JSON-RPC response`)
        : httpError();
    }
    const reply = usableResponse(parsed, target.url);
    // An error for our id, or one without an id (e.g. a parse error, id null, which cannot be
    // matched), is raised here whatever the status: servers following the old JSON-RPC-over-HTTP
    // draft send -32601 with 404 and other errors with 500, and the error object says more.
    if (reply.error !== undefined && (reply.id === null || reply.id === ctx.id)) {
      throw fromJsonRpcError(reply.error);
    }
    if (status !== 200) throw httpError();
    // Matching is by id; a reply to another id would leave the call waiting for its timeout.
    if (reply.id !== ctx.id) {
      throw new ProtocolError(`${target.url} replied to id ${JSON.stringify(reply.id)}, expected ${ctx.id}`);
    }
    rpc.receive(reply);
  };

  const rpc = new JSONRPCClient<CallContext>(async (payload, ctx) => {
    try {
      await exchange(payload, ctx);
    } catch (err) {
      ctx.failure = err instanceof RpcError ? err : errorFromCode('INTERNAL', String(err), { cause: err });
      throw ctx.failure;
    }
  });

  const call = async (method: string, args: readonly unknown[]): Promise<unknown> => {
    const spec = getMethod(contract, method);
    if (spec === undefined) throw new NoSuchMethodError(method);
    if (closed) throw new TransportError(`client for ${target.url} is closed`);
    const ctx: CallContext = { id: nextId(), idempotent: spec.idempotent === true };
    inFlight.add(ctx);
    const request = { jsonrpc: '2.0' as const, id: ctx.id, method, params: encodeParams(spec, args) };
    try {
      const response = await withTimeout(
        Promise.resolve(rpc.requestAdvanced(request, ctx)),
        options.timeoutMs,
        `JSON-RPC call ${method} to ${target.url}`,
        () => ctx.pending?.abort(new TransportError('call timed out')),
      );
      if (ctx.failure !== undefined) throw ctx.failure;
      if (response.error !== undefined) throw fromJsonRpcError(response.error);
      if (!('result' in response)) throw new ProtocolError(`${target.url} replied without a result`);
      return checkedResult(method, spec, response.result, target.url);
    } finally {
      inFlight.delete(ctx);
    }
  };

  let id = 0;
  const nextId = () => {
    id = id >= Number.MAX_SAFE_INTEGER ? 1 : id + 1;
    return id;
  };

  return createClient(contract, {
    call,
    close: async () => {
      closed = true;
      for (const ctx of inFlight)
        ctx.pending?.abort(new TransportError(`client for ${target.url} was closed`));
      target.agent.destroy();
    },
  });
}

/**
 * Refuses a response object that breaks spec §5; lenient where peers differ
 * harmlessly: a missing "jsonrpc" member, or 1.0's "error": null beside a result.
 */
function usableResponse(reply: JSONRPCResponse, url: string): JSONRPCResponse {
  const r = reply as unknown as Record<string, unknown>;
  if ('jsonrpc' in r && r.jsonrpc !== '2.0')
    throw new ProtocolError(`${url} replied with "jsonrpc": ${JSON.stringify(r.jsonrpc)}, not "2.0"`);
  if ('result' in r && 'error' in r) {
    if (r.error !== null) throw new ProtocolError(`${url} replied with both "result" and "error"`);
    return { jsonrpc: '2.0', id: reply.id, result: r.result };
  }
  return reply;
}

/**
 * Decodes a result and checks it against the method table here, so a server sending the wrong
 * type is a PROTOCOL error of that server, not an INVALID_ARGUMENT of the caller.
 */
function checkedResult(method: string, spec: MethodSpec, value: unknown, url: string): unknown {
  let decoded: unknown;
  try {
    decoded = decodeValue(spec.result, value, `${method}: result`);
    return validateResult(method, spec, decoded);
  } catch (err) {
    // An integer beyond the contract's range (a Python server's add returning 2**31) is the
    // contract's INVALID_ARGUMENT, as our servers and the other protocols' clients raise it.
    if (err instanceof InvalidArgumentError && outOfRange(spec, decoded)) throw err;
    const why = err instanceof Error ? err.message : String(err);
    throw new ProtocolError(`${url} sent a result that does not fit the contract: ${why}`, { cause: err });
  }
}

/** Whether a result the contract refused is an integer of an integer type (so only its range is wrong). */
function outOfRange(spec: MethodSpec, value: unknown): boolean {
  if (spec.result !== 'i32' && spec.result !== 'i64') return false;
  return typeof value === 'bigint' || (typeof value === 'number' && Number.isInteger(value));
}

function isResponse(value: unknown): value is JSONRPCResponse {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    'id' in value &&
    ('result' in value || 'error' in value)
  );
}
