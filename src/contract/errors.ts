/**
 * Typed errors shared by every protocol. Each protocol carries them in its native error
 * form on the wire (a Thrift exception, a JSON-RPC error object, a SOAP Fault, ...) and
 * its client turns them back into these classes, so callers can branch on `code`.
 */
export const ErrorCodes = {
  DIVIDE_BY_ZERO: 'DIVIDE_BY_ZERO',
  INVALID_ARGUMENT: 'INVALID_ARGUMENT',
  NO_SUCH_METHOD: 'NO_SUCH_METHOD',
  TIMEOUT: 'TIMEOUT',
  TRANSPORT: 'TRANSPORT',
  MESSAGE_TOO_LARGE: 'MESSAGE_TOO_LARGE',
  PROTOCOL: 'PROTOCOL',
  INTERNAL: 'INTERNAL',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

export interface RpcErrorOptions {
  cause?: unknown;
  /** Error type name as the remote side reported it (e.g. a Python exception class). */
  remoteType?: string;
  /** Free-form detail from the remote side (e.g. a Python traceback). */
  remoteDetail?: string;
}

export class RpcError extends Error {
  readonly code: ErrorCode;
  readonly remoteType: string | undefined;
  readonly remoteDetail: string | undefined;

  constructor(code: ErrorCode, message: string, options: RpcErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.remoteType = options.remoteType;
    this.remoteDetail = options.remoteDetail;
  }

  override get name(): string {
    return this.constructor.name;
  }
}

export class DivideByZeroError extends RpcError {
  constructor(message = 'division by zero', options?: RpcErrorOptions) {
    super(ErrorCodes.DIVIDE_BY_ZERO, message, options);
  }
}

export class InvalidArgumentError extends RpcError {
  constructor(message: string, options?: RpcErrorOptions) {
    super(ErrorCodes.INVALID_ARGUMENT, message, options);
  }
}

export class NoSuchMethodError extends RpcError {
  constructor(method: string, options?: RpcErrorOptions) {
    super(ErrorCodes.NO_SUCH_METHOD, `no such method: ${method}`, options);
  }
}

export class TimeoutError extends RpcError {
  constructor(message: string, options?: RpcErrorOptions) {
    super(ErrorCodes.TIMEOUT, message, options);
  }
}

export class TransportError extends RpcError {
  constructor(message: string, options?: RpcErrorOptions) {
    super(ErrorCodes.TRANSPORT, message, options);
  }
}

export class MessageTooLargeError extends RpcError {
  constructor(size: number, limit: number, options?: RpcErrorOptions) {
    super(
      ErrorCodes.MESSAGE_TOO_LARGE,
      `message of ${size} bytes exceeds the limit of ${limit} bytes`,
      options,
    );
  }
}

export class ProtocolError extends RpcError {
  constructor(message: string, options?: RpcErrorOptions) {
    super(ErrorCodes.PROTOCOL, message, options);
  }
}

export class InternalError extends RpcError {
  constructor(message: string, options?: RpcErrorOptions) {
    super(ErrorCodes.INTERNAL, message, options);
  }
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ErrorCodes, value);
}

/** Rebuilds a typed error from a code and message received off the wire, keeping the message verbatim. */
export function errorFromCode(code: ErrorCode, message: string, options?: RpcErrorOptions): RpcError {
  let err: RpcError;
  switch (code) {
    case 'DIVIDE_BY_ZERO':
      return new DivideByZeroError(message, options);
    case 'INVALID_ARGUMENT':
      return new InvalidArgumentError(message, options);
    case 'NO_SUCH_METHOD':
      err = new NoSuchMethodError('', options);
      break;
    case 'MESSAGE_TOO_LARGE':
      err = new MessageTooLargeError(0, 0, options);
      break;
    case 'TIMEOUT':
      return new TimeoutError(message, options);
    case 'TRANSPORT':
      return new TransportError(message, options);
    case 'PROTOCOL':
      return new ProtocolError(message, options);
    case 'INTERNAL':
      return new InternalError(message, options);
  }
  err.message = message;
  return err;
}

/** Wraps anything thrown by user code or a library into an RpcError, keeping typed ones. */
export function toRpcError(err: unknown): RpcError {
  if (err instanceof RpcError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new InternalError(message, { cause: err });
}
