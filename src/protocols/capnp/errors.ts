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

export function exceptionFromError(error: RpcError): ExceptionInfo {
  const type =
    error.code === 'NO_SUCH_METHOD'
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

export function errorFromException(reason: string, type: number, method: string): RpcError {
  const ours = OUR_FORM.exec(reason) ?? RAISED_IN_PYTHON.exec(reason);
  if (ours !== null && isErrorCode(ours[1])) {
    return errorFromCode(ours[1], ours[2]!.trim(), ours[0] === reason ? {} : { remoteDetail: reason });
  }
  const options = { remoteDetail: reason };
  if (type === ExceptionType.unimplemented) {
    const err = new NoSuchMethodError(method, options);
    err.message = `no such method: ${method} (peer said: ${reason})`;
    return err;
  }
  if (type === ExceptionType.disconnected) return new TransportError(reason, options);
  if (type === ExceptionType.overloaded) return new TimeoutError(reason, options);
  if (DIVISION_BY_ZERO.test(reason)) return new DivideByZeroError(reason, options);
  if (UNKNOWN_METHOD.test(reason)) {
    const err = new NoSuchMethodError(method, options);
    err.message = `no such method: ${method} (peer said: ${reason})`;
    return err;
  }
  if (BAD_ARGUMENT.test(reason)) return new InvalidArgumentError(reason, options);
  return new InternalError(reason, options);
}
