import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  DivideByZeroError,
  InternalError,
  InvalidArgumentError,
  NoSuchMethodError,
  TimeoutError,
} from '../../src/contract/errors.js';
import {
  dumpException,
  loadException,
  pythonExceptionOf,
  RemotePythonError,
} from '../../src/protocols/rpyc/vinegar.js';

const fromPython = (module: string, name: string, args: unknown[], attrs: unknown[] = []) =>
  loadException([
    [module, name],
    args,
    attrs,
    `Traceback (most recent call last):\n${name}: boom\n`,
  ] as never);

describe('rpyc exceptions (vinegar)', () => {
  it('maps Python builtins to typed errors, keeping type name and traceback', () => {
    const cases: Array<[string, new (...a: never[]) => Error, string]> = [
      ['ZeroDivisionError', DivideByZeroError, 'DIVIDE_BY_ZERO'],
      ['AttributeError', NoSuchMethodError, 'NO_SUCH_METHOD'],
      ['NameError', NoSuchMethodError, 'NO_SUCH_METHOD'],
      ['TypeError', InvalidArgumentError, 'INVALID_ARGUMENT'],
      ['ValueError', InvalidArgumentError, 'INVALID_ARGUMENT'],
      ['KeyError', RemotePythonError, 'INTERNAL'],
      ['RuntimeError', RemotePythonError, 'INTERNAL'],
    ];
    for (const [name, cls, code] of cases) {
      const err = fromPython('builtins', name, ['boom']);
      assert.ok(err instanceof cls, `${name} -> ${err.constructor.name}`);
      assert.equal(err.code, code);
      assert.equal(err.message, 'boom');
      assert.equal(err.remoteType, name);
      assert.match(err.remoteDetail ?? '', /^Traceback/);
      assert.equal(pythonExceptionOf(err)?.name, name);
    }
  });

  it('a non-builtin exception keeps its module in remoteType and is INTERNAL', () => {
    const err = fromPython('myapp.errors', 'ZeroDivisionError', ['x', 2]);
    assert.ok(err instanceof RemotePythonError);
    assert.ok(err instanceof InternalError);
    assert.equal(err.remoteType, 'myapp.errors.ZeroDivisionError');
    assert.equal(err.message, '("x", 2)');
  });

  it('an rpclab_code attribute wins over the class', () => {
    const err = fromPython('builtins', 'TimeoutError', ['late'], [['rpclab_code', 'TIMEOUT']]);
    assert.ok(err instanceof TimeoutError);
    const bogus = fromPython('builtins', 'TypeError', ['x'], [['rpclab_code', 'NOT_A_CODE']]);
    assert.equal(bogus.code, 'INVALID_ARGUMENT');
  });

  it('reads the StopIteration shorthand and legacy string exceptions', () => {
    assert.equal(loadException(1).remoteType, 'StopIteration');
    assert.equal(loadException('old style').message, 'old style');
    assert.throws(() => loadException([1, 2] as never), /malformed/);
  });

  it('dumps our errors as builtins Python instantiates, tagged with our code', () => {
    assert.deepEqual(dumpException(new DivideByZeroError()), [
      ['builtins', 'ZeroDivisionError'],
      ['division by zero'],
      [
        ['rpclab_code', 'DIVIDE_BY_ZERO'],
        ['_remote_version', '<version denied>'],
      ],
      'ZeroDivisionError: division by zero\n(raised by an rpclab TypeScript peer)\n',
    ]);
    const plain = dumpException(new Error('oops')) as unknown[];
    assert.deepEqual(plain[0], ['builtins', 'RuntimeError']);
    const python = fromPython('builtins', 'KeyError', ['k']);
    assert.deepEqual((dumpException(python) as unknown[]).slice(0, 2), [['builtins', 'KeyError'], ['k']]);
  });
});
