/**
 * Exceptions on the wire, as rpyc's vinegar (rpyc/core/vinegar.py) writes and reads them:
 * `((module, class name), args, ((attr, value), ...), traceback text)`, or the int 1 for
 * StopIteration. Python rebuilds builtins exceptions as their real class (a ZeroDivisionError
 * we send is caught by `except ZeroDivisionError`); every attribute is set on the instance, so
 * an `rpclab_code` attribute carries our stable error code through Python and back.
 */
import {
  type ErrorCode,
  errorFromCode,
  InternalError,
  isErrorCode,
  ProtocolError,
  type RpcError,
  type RpcErrorOptions,
  toRpcError,
} from '../../contract/errors.js';
import type { BrineValue } from './brine.js';
import { EXC_STOP_ITERATION } from './consts.js';

/** The exception as Python described it. */
export interface PythonExceptionInfo {
  readonly module: string;
  readonly name: string;
  readonly args: readonly BrineValue[];
  readonly attrs: ReadonlyArray<readonly [string, BrineValue]>;
  readonly traceback: string;
}

/** An exception from Python whose type has no typed rpclab error (code INTERNAL unless tagged). */
export class RemotePythonError extends InternalError {
  constructor(
    message: string,
    readonly python: PythonExceptionInfo,
    options?: RpcErrorOptions,
  ) {
    super(message, options);
  }
}

const pythonInfo = new WeakMap<object, PythonExceptionInfo>();
const pythonTypeHint = new WeakMap<object, string>();

/** What Python said about an error received from it (any code), or undefined for local errors. */
export function pythonExceptionOf(err: unknown): PythonExceptionInfo | undefined {
  return typeof err === 'object' && err !== null ? pythonInfo.get(err) : undefined;
}

/** Marks a local error to be raised in Python as a given builtin exception class. */
export function asPythonException<E extends RpcError>(err: E, builtinName: string): E {
  pythonTypeHint.set(err, builtinName);
  return err;
}

/** Python builtins exception class for each of our codes (what a Python caller catches). */
const classForCode: Readonly<Record<ErrorCode, string>> = {
  DIVIDE_BY_ZERO: 'ZeroDivisionError',
  INVALID_ARGUMENT: 'TypeError',
  NO_SUCH_METHOD: 'AttributeError',
  TIMEOUT: 'TimeoutError',
  TRANSPORT: 'ConnectionError',
  MESSAGE_TOO_LARGE: 'ValueError',
  PROTOCOL: 'ValueError',
  INTERNAL: 'RuntimeError',
};

/** Our code for each Python builtin exception we map; anything else is INTERNAL. */
const codeForClass: Readonly<Record<string, ErrorCode>> = {
  ZeroDivisionError: 'DIVIDE_BY_ZERO',
  AttributeError: 'NO_SUCH_METHOD',
  NameError: 'NO_SUCH_METHOD',
  TypeError: 'INVALID_ARGUMENT',
  ValueError: 'INVALID_ARGUMENT',
};

export const CODE_ATTR = 'rpclab_code';

export interface DumpOptions {
  /** Append the JavaScript stack to the traceback text (like rpyc's include_local_traceback). */
  includeStack?: boolean;
}

/** Our error (or anything thrown) as a vinegar tuple Python can rebuild. */
export function dumpException(thrown: unknown, options: DumpOptions = {}): BrineValue {
  const err = toRpcError(thrown);
  const original = pythonInfo.get(err);
  let module = 'builtins';
  let name = pythonTypeHint.get(err) ?? classForCode[err.code];
  let args: BrineValue[] = [err.message];
  if (original !== undefined) {
    // An exception that came from Python (e.g. raised by a callback) goes back as itself.
    module = original.module;
    name = original.name;
    args = [...original.args];
  }
  let tb = `${module === 'builtins' ? '' : `${module}.`}${name}: ${err.message}\n(raised by an rpclab TypeScript peer)\n`;
  if (original !== undefined) tb = original.traceback;
  else if (options.includeStack && thrown instanceof Error && thrown.stack) tb += `${thrown.stack}\n`;
  const attrs: BrineValue[] = [
    [CODE_ATTR, err.code],
    ['_remote_version', '<version denied>'],
  ];
  return [[module, name], args, attrs, tb];
}

function describeArgs(args: readonly BrineValue[]): string {
  if (args.length === 0) return '';
  if (args.length === 1) return String(args[0]);
  return `(${args.map((a) => (typeof a === 'string' ? JSON.stringify(a) : String(a))).join(', ')})`;
}

/** A vinegar payload received from Python, as a typed error. */
export function loadException(value: BrineValue): RpcError {
  if (value === EXC_STOP_ITERATION) {
    const info = { module: 'builtins', name: 'StopIteration', args: [], attrs: [], traceback: '' };
    return remember(new RemotePythonError('StopIteration', info, { remoteType: 'StopIteration' }), info);
  }
  if (typeof value === 'string') {
    const info = { module: 'builtins', name: 'str', args: [value], attrs: [], traceback: '' };
    return remember(new RemotePythonError(value, info, { remoteType: 'str' }), info);
  }
  if (!Array.isArray(value) || value.length !== 4)
    throw new ProtocolError('rpyc: malformed exception payload');
  const [typ, args, attrs, tb] = value as BrineValue[];
  if (
    !Array.isArray(typ) ||
    typ.length !== 2 ||
    typeof typ[0] !== 'string' ||
    typeof typ[1] !== 'string' ||
    !Array.isArray(args) ||
    !Array.isArray(attrs) ||
    typeof tb !== 'string'
  )
    throw new ProtocolError('rpyc: malformed exception payload');
  const pairs: Array<readonly [string, BrineValue]> = [];
  for (const a of attrs as BrineValue[]) {
    if (Array.isArray(a) && a.length === 2 && typeof a[0] === 'string')
      pairs.push([a[0], a[1] as BrineValue]);
  }
  const info: PythonExceptionInfo = {
    module: typ[0] as string,
    name: typ[1] as string,
    args: args as BrineValue[],
    attrs: pairs,
    traceback: tb,
  };
  const builtin = info.module === 'builtins';
  const remoteType = builtin ? info.name : `${info.module}.${info.name}`;
  const tagged = pairs.find(([k]) => k === CODE_ATTR)?.[1];
  const code: ErrorCode = isErrorCode(tagged)
    ? tagged
    : builtin
      ? (codeForClass[info.name] ?? 'INTERNAL')
      : 'INTERNAL';
  const message = describeArgs(info.args);
  const options = { remoteType, remoteDetail: tb };
  const err =
    code === 'INTERNAL'
      ? new RemotePythonError(message || remoteType, info, options)
      : errorFromCode(code, message || remoteType, options);
  return remember(err, info);
}

function remember(err: RpcError, info: PythonExceptionInfo): RpcError {
  pythonInfo.set(err, info);
  return err;
}
