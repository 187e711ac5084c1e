/**
 * rpclab's typed errors as Cap'n Proto exceptions and back. An Exception has a free-text
 * `reason` and one of four types (failed, overloaded, disconnected, unimplemented); ours
 * carries the stable code in front of the message ("DIVIDE_BY_ZERO: division by zero"), as
 * every other row does, and the type the spec gives it (NO_SUCH_METHOD is unimplemented,
 * TRANSPORT disconnected). A peer's exception is read by its type first, then by its words:
 * the C++ implementation (pycapnp) reports a Python ZeroDivisionError raised by a server as
 * a failed exception whose reason names it.
 */
import {
  DivideByZeroError,
  errorFromCode,
  InternalError,
  InvalidArgumentError,
  isErrorCode,
  NoSuchMethodError,
  type RpcError,
  TimeoutError,
  TransportError,
} from '../../contract/errors.js';

export const ExceptionType = { failed: 0, overloaded: 1, disconnected: 2, unimplemented: 3 } as const;
export type ExceptionTypeValue = (typeof ExceptionType)[keyof typeof ExceptionType];

export interface ExceptionInfo {
  readonly reason: string;
  readonly type: ExceptionTypeValue;
}

const toWellFormed = (s: string): string => (s as string & { toWellFormed(): string }).toWellFormed();

/**
 * A call refused because the connection has too many open (ConnectionOptions.maxOpenCalls):
 * TRANSPORT to our client, as msgpack-rpc's "busy", and an `overloaded` exception on the wire,
 * the type the spec gives a call that may succeed if retried later.
 */
export class BusyError extends TransportError {}

export function exceptionFromError(error: RpcError): ExceptionInfo {
  const type =
    error instanceof BusyError
      ? ExceptionType.overloaded
      : error.code === 'NO_SUCH_METHOD'
        ? ExceptionType.unimplemented
        : error.code === 'TRANSPORT'
          ? ExceptionType.disconnected
          : error.code === 'TIMEOUT'
            ? ExceptionType.overloaded
            : ExceptionType.failed;
  return { reason: `${error.code}: ${toWellFormed(error.message)}`, type };
}

// Our reason, possibly behind the C++ "remote exception: " prefix a proxying peer adds.
const OUR_FORM = /^(?:remote exception: )*([A-Z_]+): ([\s\S]*)$/;
// pycapnp sends a Python exception raised by a server method as its traceback, whose last
// line is "<module>.KjException: <description>": our form may be that description.
const RAISED_IN_PYTHON = /\n[\w.]*(?:KjException|Error): ([A-Z_]+): ([^\n]*)\n?$/;
const DIVISION_BY_ZERO = /ZeroDivisionError|division (or modulo )?by zero|divide by zero/i;
const UNKNOWN_METHOD = /method not implemented|not implemented|unimplemented|no such method/i;
const BAD_ARGUMENT = /TypeError|ValueError|invalid argument|out of range/i;

// The last line of a Python traceback: "[module.]Type: message".
const PYTHON_LAST_LINE = /^(?:[\w.]+\.)?(\w+): ([\s\S]*)$/;

/**
 * A pycapnp traceback read down to what was raised: the exception class (remoteType) and its
 * message; the whole traceback stays the error's remoteDetail. Other reasons are kept whole.
 */
function summarize(reason: string): { message: string; remoteType?: string } {
  if (!reason.includes('Traceback (most recent call last)')) return { message: reason };
  const lines = reason.split('\n').filter((l) => l.trim() !== '');
  const last = PYTHON_LAST_LINE.exec(lines.at(-1)?.trim() ?? '');
  return last === null ? { message: reason } : { message: last[2]!, remoteType: last[1]! };
}

export function errorFromException(reason: string, type: number, method: string): RpcError {
  const ours = OUR_FORM.exec(reason) ?? RAISED_IN_PYTHON.exec(reason);
  if (ours !== null && isErrorCode(ours[1])) {
    return errorFromCode(ours[1], ours[2]!.trim(), ours[0] === reason ? {} : { remoteDetail: reason });
  }
  const summary = summarize(reason);
  const options = { remoteDetail: reason, ...(summary.remoteType ? { remoteType: summary.remoteType } : {}) };
  // A schema method the Python object does not define: pycapnp raises AttributeError naming it.
  const name = method.slice(method.lastIndexOf('.') + 1);
  if (summary.remoteType === 'AttributeError' && summary.message.endsWith(`has no attribute '${name}'`)) {
    const err = new NoSuchMethodError(method, options);
    err.message = `no such method: ${method} (peer said: ${summary.message})`;
    return err;
  }
  const text = summary.message;
  // The class name is part of what is matched (TypeError, ZeroDivisionError), not of the message.
  const words = summary.remoteType === undefined ? text : `${summary.remoteType}: ${text}`;
  if (type === ExceptionType.unimplemented) {
    const err = new NoSuchMethodError(method, options);
    err.message = `no such method: ${method} (peer said: ${text})`;
    return err;
  }
  if (type === ExceptionType.disconnected) return new TransportError(text, options);
  if (type === ExceptionType.overloaded) return new TimeoutError(text, options);
  if (DIVISION_BY_ZERO.test(words)) return new DivideByZeroError(text, options);
  if (UNKNOWN_METHOD.test(words)) {
    const err = new NoSuchMethodError(method, options);
    err.message = `no such method: ${method} (peer said: ${text})`;
    return err;
  }
  if (BAD_ARGUMENT.test(words)) return new InvalidArgumentError(text, options);
  return new InternalError(text, options);
}
