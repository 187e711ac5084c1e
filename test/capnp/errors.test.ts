/**
 * Cap'n Proto exceptions read back as our typed errors: our own "CODE: message" form, and what
 * pycapnp sends for a Python exception raised in a server method (its whole traceback).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  DivideByZeroError,
  InternalError,
  InvalidArgumentError,
  NoSuchMethodError,
  TransportError,
} from '../../src/contract/index.js';
import { ExceptionType, errorFromException, exceptionFromError } from '../../src/protocols/capnp/errors.js';

function traceback(last: string): string {
  return [
    'capnp/lib/capnp.pyx:2191: failed: remote exception: Traceback (most recent call last):',
    '  File "capnp/lib/capnp.pyx", line 1340, in capnp.lib.capnp._DynamicServerRequest',
    '  File "/peers/full_server.py", line 30, in echo',
    '    return self.missing(data)',
    last,
    '',
  ].join('\n');
}

describe('capnp errors', () => {
  it('our own form round-trips with its code', () => {
    const e = exceptionFromError(new DivideByZeroError('division by zero'));
    assert.deepEqual(e, { reason: 'DIVIDE_BY_ZERO: division by zero', type: ExceptionType.failed });
    const back = errorFromException(e.reason, e.type, 'Calculator.divide');
    assert.ok(back instanceof DivideByZeroError);
    assert.equal(back.message, 'division by zero');
  });

  it('a Python traceback is read down to the exception raised; the traceback stays as detail', () => {
    const reason = traceback("AttributeError: 'Server' object has no attribute 'missing'");
    const err = errorFromException(reason, ExceptionType.failed, 'Calculator.echo');
    assert.ok(err instanceof InternalError, String(err));
    assert.equal(err.message, "'Server' object has no attribute 'missing'");
    assert.equal(err.remoteType, 'AttributeError');
    assert.equal(err.remoteDetail, reason);
  });

  it('a schema method the Python object lacks is NO_SUCH_METHOD', () => {
    const reason = traceback("AttributeError: 'CalculatorImpl' object has no attribute 'echo'");
    const err = errorFromException(reason, ExceptionType.failed, 'Calculator.echo');
    assert.ok(err instanceof NoSuchMethodError, String(err));
    assert.match(err.message, /Calculator\.echo/);
  });

  it('Python exception classes map by name: ZeroDivisionError, TypeError, ValueError', () => {
    const div = errorFromException(
      traceback('ZeroDivisionError: float division by zero'),
      0,
      'Calculator.divide',
    );
    assert.ok(div instanceof DivideByZeroError);
    assert.equal(div.message, 'float division by zero');
    assert.equal(div.remoteType, 'ZeroDivisionError');
    const type = errorFromException(traceback('TypeError: unsupported operand type(s)'), 0, 'Calculator.add');
    assert.ok(type instanceof InvalidArgumentError);
    const value = errorFromException(traceback('builtins.ValueError: bad'), 0, 'Calculator.add');
    assert.ok(value instanceof InvalidArgumentError);
    assert.equal(value.remoteType, 'ValueError');
    assert.equal(value.message, 'bad');
  });

  it('a typed error raised in Python with our form keeps its code; other reasons are kept whole', () => {
    const ours = errorFromException(
      traceback('capnp.lib.capnp.KjException: DIVIDE_BY_ZERO: division by zero'),
      0,
      'Calculator.divide',
    );
    assert.ok(ours instanceof DivideByZeroError);
    assert.equal(ours.message, 'division by zero');
    const plain = errorFromException(
      'connection reset by peer',
      ExceptionType.disconnected,
      'Calculator.add',
    );
    assert.ok(plain instanceof TransportError);
    assert.equal(plain.message, 'connection reset by peer');
  });
});
