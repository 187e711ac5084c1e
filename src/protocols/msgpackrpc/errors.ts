/**
 * The error element of a response. msgpack-rpc leaves its shape to each implementation:
 *
 *   ours                "DIVIDE_BY_ZERO: division by zero"   (a str: one of rpclab's stable
 *                                                             codes, ": ", the message)
 *   msgpack-rpc-python  "division by zero"                   (str(exception))
 *   Neovim              [0, "Invalid method: foo"]           ([error type, message]; 0
 *                                                             Exception, 1 Validation)
 *
 * Ours is a str because it is the one shape every peer shows as it is: msgpack-rpc-python
 * raises RPCError(element), and Neovim accepts only a str or [0|1, str] (a map becomes its
 * "unknown error"). Any of them, or a map ({"code", "message"} as the ZeroMQ row sends, or
 * {"message": ...}, {"error": ...}), becomes an RpcError: our codes map back to the typed
 * classes; otherwise the message is read for the errors every peer has (an unknown method, a
 * division by zero, a wrong argument), and the rest is INTERNAL with the peer's words kept.
 */
import {
  DivideByZeroError,
  errorFromCode,
  InternalError,
  InvalidArgumentError,
  isErrorCode,
  NoSuchMethodError,
  type RpcError,
} from '../../contract/errors.js';

// String.prototype.toWellFormed is in Node 20 (ES2024), not in this project's ES2023 lib.
const toWellFormed = (s: string): string => (s as string & { toWellFormed(): string }).toWellFormed();

/** Our error element: "CODE: message". A lone surrogate in the message becomes U+FFFD. */
export function errorElement(error: RpcError): string {
  return `${error.code}: ${toWellFormed(error.message)}`;
}

const OUR_FORM = /^([A-Z_]+): ([\s\S]*)$/;

// msgpack-rpc-python: "'foo' method not found"; Neovim: "Invalid method: foo"; others similar.
const UNKNOWN_METHOD =
  /method not found|unknown method|no such method|invalid method|method .* not (found|exist)/i;
// Python's ZeroDivisionError texts ("division by zero", "float division by zero", "integer
// division or modulo by zero").
const DIVISION_BY_ZERO = /division (or modulo )?by zero|divide by zero/i;
// Neovim: "Wrong type for argument 1 when calling nvim_eval, expecting String", "Wrong number
// of arguments: expecting 1 but got 0"; Python: "add() takes 3 positional arguments but 4 were given".
const BAD_ARGUMENT =
  /wrong (type|number) (for|of) argument|takes \d+ positional arguments?|missing \d+ required/i;

function text(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (value instanceof Uint8Array) return Buffer.from(value).toString('utf8'); // an old-spec raw str
  return undefined;
}

function fromMessage(message: string, method: string, remoteType?: string): RpcError {
  const options = remoteType === undefined ? {} : { remoteType };
  const ours = OUR_FORM.exec(message);
  if (ours !== null && isErrorCode(ours[1])) return errorFromCode(ours[1], ours[2]!, options);
  if (UNKNOWN_METHOD.test(message)) {
    const err = new NoSuchMethodError(method, { ...options, remoteDetail: message });
    err.message = `no such method: ${method} (peer said: ${message})`;
    return err;
  }
  if (DIVISION_BY_ZERO.test(message)) return new DivideByZeroError(message, options);
  if (BAD_ARGUMENT.test(message)) return new InvalidArgumentError(message, options);
  return new InternalError(message, options);
}

function describe(value: unknown): string {
  try {
    return (
      JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v)) ?? String(value)
    );
  } catch {
    return String(value);
  }
}

/** Turns a response's error element (not nil) into the typed error for a call of `method`. */
export function errorFromElement(error: unknown, method: string): RpcError {
  const message = text(error);
  if (message !== undefined) return fromMessage(message, method);
  if (Array.isArray(error)) {
    // Neovim's [type, message]; the type is kept as remoteType ("0" Exception, "1" Validation).
    const [kind, what] = error as unknown[];
    const words = text(what);
    if (words !== undefined && error.length === 2) {
      const remoteType = kind === undefined || kind === null ? undefined : String(kind);
      const err = fromMessage(words, method, remoteType);
      // Neovim's Validation errors are bad arguments.
      if (err instanceof InternalError && kind === 1) return new InvalidArgumentError(words, { remoteType });
      return err;
    }
    return new InternalError(`peer error: ${describe(error)}`);
  }
  if (typeof error === 'object' && error !== null && !(error instanceof Uint8Array)) {
    const map = error as Record<string, unknown>;
    const words = text(map.message) ?? text(map.msg) ?? text(map.error) ?? describe(error);
    const remoteType = text(map.type);
    if (isErrorCode(map.code)) {
      return errorFromCode(map.code, words, remoteType === undefined ? {} : { remoteType });
    }
    const code = map.code === undefined ? undefined : String(map.code);
    const err = fromMessage(words, method, remoteType ?? code);
    if (code !== undefined && err instanceof InternalError) err.message = `${code}: ${words}`;
    return err;
  }
  return new InternalError(`peer error: ${describe(error)}`);
}
