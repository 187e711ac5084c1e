/**
 * The message contract, the survey's plus two additive fields:
 *
 *   request  {"method": "add", "params": [2, 5]}            (+ "id" when pipelined)
 *   reply    {"result": 7}                                   (+ the request's "id", if it had one)
 *   error    {"error": {"code": "DIVIDE_BY_ZERO", "message": "division by zero"}}
 *
 * The survey's own server answers errors as a plain string ({"error": "unknown method"});
 * clients accept both forms. Peers that ignore "id" (the survey's REP server) still work:
 * the client then relies on REP's strict request order (see client.ts).
 */
import {
  errorFromCode,
  InternalError,
  isErrorCode,
  NoSuchMethodError,
  ProtocolError,
  type RpcError,
} from '../../contract/errors.js';
import type { ValueType } from '../../contract/spec.js';
import { arrayHeader, concat, decodeValue, encodeMessage, encodeValue, mapHeader } from './msgpack.js';

/** An id is echoed back verbatim, whatever msgpack value the peer chose. */
export type MessageId = { readonly present: false } | { readonly present: true; readonly value: unknown };

export const NO_ID: MessageId = { present: false };

const KEY_METHOD = encodeValue('method');
const KEY_PARAMS = encodeValue('params');
const KEY_ID = encodeValue('id');
const KEY_RESULT = encodeValue('result');
const KEY_ERROR = encodeValue('error');

function isMap(value: unknown): value is Record<string, unknown> {
  return (
    typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array)
  );
}

function idOf(map: Record<string, unknown>): MessageId {
  return Object.hasOwn(map, 'id') ? { present: true, value: map.id } : NO_ID;
}

/** Encodes a request; `types` are the parameter types from the contract (for doubles). */
export function encodeRequest(
  method: string,
  params: readonly unknown[],
  types: readonly (ValueType | undefined)[],
  id: MessageId,
): Buffer {
  if (!types.includes('double')) {
    // Same bytes as the parts below (keys in this order), built in one pass.
    return encodeMessage(id.present ? { method, params, id: id.value } : { method, params });
  }
  const parts: Uint8Array[] = [mapHeader(id.present ? 3 : 2), KEY_METHOD, encodeValue(method)];
  parts.push(KEY_PARAMS, arrayHeader(params.length));
  params.forEach((p, i) => {
    parts.push(encodeValue(p, types[i]));
  });
  if (id.present) parts.push(KEY_ID, encodeValue(id.value));
  return concat(parts);
}

export interface ParsedRequest {
  readonly method: string;
  readonly params: readonly unknown[];
  readonly id: MessageId;
}

export type RequestParse =
  | { readonly ok: true; readonly request: ParsedRequest }
  | { readonly ok: false; readonly error: RpcError; readonly id: MessageId };

/** Parses a request body; anything malformed becomes a PROTOCOL error to send back. */
export function parseRequest(body: Uint8Array): RequestParse {
  let value: unknown;
  try {
    value = decodeValue(body);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    return { ok: false, error: new ProtocolError(`request is not valid msgpack: ${why}`), id: NO_ID };
  }
  if (!isMap(value)) {
    return { ok: false, error: new ProtocolError('request must be a msgpack map'), id: NO_ID };
  }
  const id = idOf(value);
  if (typeof value.method !== 'string') {
    return { ok: false, error: new ProtocolError('request needs a string "method"'), id };
  }
  // A missing "params" means no arguments (the survey's server defaults it too).
  const params = Object.hasOwn(value, 'params') ? value.params : [];
  if (!Array.isArray(params)) {
    // Positional only, as in the survey's contract (its server unpacks a list); a map would
    // be named parameters, which this message contract does not have: say so.
    const named = isMap(params) ? ' (positional arguments; named parameters are not supported)' : '';
    return { ok: false, error: new ProtocolError(`"params" must be an array${named}`), id };
  }
  return { ok: true, request: { method: value.method, params, id } };
}

export function encodeResult(value: unknown, type: ValueType | undefined, id: MessageId): Buffer {
  if (type !== 'double') {
    return encodeMessage(id.present ? { result: value, id: id.value } : { result: value });
  }
  const parts: Uint8Array[] = [mapHeader(id.present ? 2 : 1), KEY_RESULT, encodeValue(value, type)];
  if (id.present) parts.push(KEY_ID, encodeValue(id.value));
  return concat(parts);
}

export function encodeError(error: RpcError, id: MessageId): Buffer {
  // A message is for people: a lone surrogate in it (which has no UTF-8 form, so the encoder
  // would refuse it) becomes U+FFFD rather than cost the reply.
  const detail = { code: error.code, message: toWellFormed(error.message) };
  const parts: Uint8Array[] = [mapHeader(id.present ? 2 : 1), KEY_ERROR, encodeValue(detail)];
  if (id.present) parts.push(KEY_ID, encodeValue(id.value));
  return concat(parts);
}

// String.prototype.toWellFormed is in Node 20 (ES2024), not in this project's ES2023 lib.
const toWellFormed = (s: string): string => (s as string & { toWellFormed(): string }).toWellFormed();

export type ReplyOutcome =
  | { readonly ok: true; readonly value: unknown }
  | { readonly ok: false; readonly error: unknown };

export type ReplyParse =
  | { readonly ok: true; readonly id: MessageId; readonly outcome: ReplyOutcome }
  | { readonly ok: false; readonly error: RpcError };

/** Parses a reply body; the error stays raw until the client knows which call it answers. */
export function parseReply(body: Uint8Array): ReplyParse {
  let value: unknown;
  try {
    value = decodeValue(body);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    return { ok: false, error: new ProtocolError(`reply is not valid msgpack: ${why}`) };
  }
  if (!isMap(value)) return { ok: false, error: new ProtocolError('reply must be a msgpack map') };
  const id = idOf(value);
  if (Object.hasOwn(value, 'error') && value.error !== null && value.error !== undefined) {
    return { ok: true, id, outcome: { ok: false, error: value.error } };
  }
  if (Object.hasOwn(value, 'result')) return { ok: true, id, outcome: { ok: true, value: value.result } };
  return { ok: false, error: new ProtocolError('reply has neither "result" nor "error"') };
}

// The survey's server says "unknown method"; other hand-written peers use similar words.
const UNKNOWN_METHOD = /unknown method|no such method|method not found/i;

/** Turns an error as received into the typed error (our structured form or a bare string). */
export function errorFromWire(error: unknown, method: string): RpcError {
  if (typeof error === 'string') {
    if (UNKNOWN_METHOD.test(error)) {
      const err = new NoSuchMethodError(method, { remoteDetail: error });
      err.message = `no such method: ${method} (server said: ${error})`;
      return err;
    }
    return new InternalError(error);
  }
  if (isMap(error)) {
    const message = typeof error.message === 'string' ? error.message : 'remote error';
    const remoteType = typeof error.type === 'string' ? error.type : undefined;
    if (isErrorCode(error.code)) return errorFromCode(error.code, message, { remoteType });
    // An unknown or numeric code (another peer's convention): keep it visible.
    const code = error.code === undefined ? undefined : String(error.code);
    return new InternalError(code === undefined ? message : `${code}: ${message}`, {
      remoteType: remoteType ?? code,
    });
  }
  return new InternalError(`remote error: ${String(error)}`);
}
