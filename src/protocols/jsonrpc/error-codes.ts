/**
 * Typed errors <-> JSON-RPC error objects. The numeric `code` follows the JSON-RPC 2.0 spec
 * (§5.1) for protocol errors; application errors get a positive code, and every error we send
 * carries our stable string code in `error.data.code` so any client can rebuild the typed error.
 *
 * Positive rather than -32000..-32099 on purpose: jsonrpclib-pelix raises codes in
 * -32700..-32000 as ProtocolError((code, message)) and drops `data`, while other codes become
 * AppError((code, message, data)) with `data` intact.
 */
import type { JSONRPCError } from 'json-rpc-2.0';
import { type ErrorCode, errorFromCode, isErrorCode, type RpcError } from '../../contract/errors.js';

export const JsonRpcCodes = {
  PARSE_ERROR: -32700,
  INVALID_REQUEST: -32600,
  METHOD_NOT_FOUND: -32601,
  INVALID_PARAMS: -32602,
  INTERNAL_ERROR: -32603,
  /** Start of the spec's implementation-defined server range, for our non-standard typed errors. */
  SERVER_ERROR: -32000,
  /** Our documented application code for DIVIDE_BY_ZERO. */
  DIVIDE_BY_ZERO: 1001,
} as const;

const CODE_FOR: Readonly<Record<ErrorCode, number>> = {
  DIVIDE_BY_ZERO: JsonRpcCodes.DIVIDE_BY_ZERO,
  INVALID_ARGUMENT: JsonRpcCodes.INVALID_PARAMS,
  NO_SUCH_METHOD: JsonRpcCodes.METHOD_NOT_FOUND,
  INTERNAL: JsonRpcCodes.INTERNAL_ERROR,
  PROTOCOL: JsonRpcCodes.INVALID_REQUEST,
  MESSAGE_TOO_LARGE: JsonRpcCodes.SERVER_ERROR,
  TIMEOUT: JsonRpcCodes.SERVER_ERROR,
  TRANSPORT: JsonRpcCodes.SERVER_ERROR,
};

/** The shape of `error.data` we send. */
export interface ErrorData {
  code: ErrorCode;
}

export function toJsonRpcError(err: RpcError): JSONRPCError {
  const data: ErrorData = { code: err.code };
  return { code: CODE_FOR[err.code], message: err.message, data };
}

/** A protocol-level error object (parse error, invalid request) with our stable code attached. */
export function protocolError(code: number, message: string): JSONRPCError {
  const data: ErrorData = { code: code === JsonRpcCodes.INTERNAL_ERROR ? 'INTERNAL' : 'PROTOCOL' };
  return { code, message, data };
}

/** Rebuilds a typed error from any server's error object: ours (data.code) or a foreign one (code). */
export function fromJsonRpcError(error: unknown): RpcError {
  if (typeof error !== 'object' || error === null) {
    return errorFromCode('PROTOCOL', `malformed JSON-RPC error: ${JSON.stringify(error)}`);
  }
  const { code, message, data } = error as { code?: unknown; message?: unknown; data?: unknown };
  const text = typeof message === 'string' ? message : `JSON-RPC error ${String(code)}`;
  const options = {
    remoteType: `JSON-RPC error ${String(code)}`,
    remoteDetail: data === undefined || data === null ? undefined : JSON.stringify(data),
  };
  const stable = stableCode(data);
  if (stable !== undefined) return errorFromCode(stable, text, options);
  return errorFromCode(codeFromNumber(code), text, options);
}

function stableCode(data: unknown): ErrorCode | undefined {
  if (isErrorCode(data)) return data;
  if (typeof data === 'object' && data !== null && isErrorCode((data as { code?: unknown }).code)) {
    return (data as ErrorData).code;
  }
  return undefined;
}

function codeFromNumber(code: unknown): ErrorCode {
  switch (code) {
    case JsonRpcCodes.METHOD_NOT_FOUND:
      return 'NO_SUCH_METHOD';
    case JsonRpcCodes.INVALID_PARAMS:
      return 'INVALID_ARGUMENT';
    case JsonRpcCodes.DIVIDE_BY_ZERO:
      return 'DIVIDE_BY_ZERO';
    case JsonRpcCodes.PARSE_ERROR:
    case JsonRpcCodes.INVALID_REQUEST:
      return 'PROTOCOL';
    default:
      // -32603, the -32000..-32099 server range and unknown application codes.
      return 'INTERNAL';
  }
}
