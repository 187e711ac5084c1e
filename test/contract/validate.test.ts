import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  calculator,
  calculatorContract,
  createClient,
  createDispatcher,
  DivideByZeroError,
  ErrorCodes,
  errorFromCode,
  RpcError,
  validateArgs,
} from '../../src/contract/index.js';

const add = calculatorContract.methods.add;

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof RpcError);
    return err.code;
  }
  return 'none';
}

describe('argument validation', () => {
  it('accepts 32-bit integers, including the bounds', () => {
    assert.deepEqual(validateArgs('add', add, [2, 5]), [2, 5]);
    assert.deepEqual(validateArgs('add', add, [-(2 ** 31), 2 ** 31 - 1]), [-(2 ** 31), 2 ** 31 - 1]);
    assert.deepEqual(validateArgs('add', add, [5n, -5n]), [5, -5], 'bigints in range are folded to numbers');
  });

  it('rejects non-integers, strings and out-of-range integers', () => {
    for (const bad of [
      [1.5, 2],
      ['x', 2],
      [2 ** 31, 0],
      [-(2 ** 31) - 1, 0],
      [null, 1],
      [Number.NaN, 1],
      [2n ** 40n, 1],
    ]) {
      assert.equal(
        code(() => validateArgs('add', add, bad)),
        'INVALID_ARGUMENT',
        `add(${String(bad)})`,
      );
    }
  });

  it('a double parameter takes integers of any size a double can hold, rounded as Python rounds them', () => {
    const divide = calculatorContract.methods.divide;
    assert.deepEqual(validateArgs('divide', divide, [10n ** 18n, 3n]), [1e18, 3]);
    assert.deepEqual(validateArgs('divide', divide, [2n ** 53n + 1n, 1]), [2 ** 53, 1], 'ties round to even');
    assert.deepEqual(validateArgs('divide', divide, [-(2n ** 64n), 1]), [-(2 ** 64), 1]);
    assert.equal(
      code(() => validateArgs('divide', divide, [10n ** 309n, 1])),
      'INVALID_ARGUMENT',
      'beyond the largest double',
    );
  });

  it('rejects a wrong argument count', () => {
    assert.equal(
      code(() => validateArgs('add', add, [1])),
      'INVALID_ARGUMENT',
    );
    assert.equal(
      code(() => validateArgs('add', add, [1, 2, 3])),
      'INVALID_ARGUMENT',
    );
  });

  it('normalises byte views to Uint8Array', () => {
    const [out] = validateArgs('echo', calculatorContract.methods.echo, [Buffer.from('hi')]);
    assert.ok(out instanceof Uint8Array && out.constructor === Uint8Array);
    assert.equal(
      code(() => validateArgs('echo', calculatorContract.methods.echo, ['hi'])),
      'INVALID_ARGUMENT',
    );
  });
});

describe('dispatch', () => {
  const dispatch = createDispatcher(calculatorContract, calculator);

  it('calls the implementation', async () => {
    assert.equal(await dispatch('add', [2, 5]), 7);
    assert.equal(await dispatch('divide', [1, 4]), 0.25);
  });

  it('raises the typed errors', async () => {
    await assert.rejects(dispatch('divide', [1, 0]), DivideByZeroError);
    await assert.rejects(dispatch('nosuch', []), { code: 'NO_SUCH_METHOD' });
    await assert.rejects(dispatch('add', [1.5, 2]), { code: 'INVALID_ARGUMENT' });
    await assert.rejects(
      dispatch('add', [2 ** 31 - 1, 1]),
      { code: 'INVALID_ARGUMENT' },
      'i32 overflow of the sum',
    );
  });

  it('never reaches members outside the contract', async () => {
    for (const name of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
      await assert.rejects(dispatch(name, []), { code: 'NO_SUCH_METHOD' });
    }
  });

  it('wraps unexpected implementation failures as INTERNAL', async () => {
    const broken = createDispatcher(calculatorContract, {
      ...calculator,
      add: () => {
        throw new Error('boom');
      },
    });
    await assert.rejects(broken('add', [1, 2]), { code: 'INTERNAL', message: 'boom' });
  });
});

describe('errors', () => {
  it('round-trip through their stable codes', () => {
    for (const c of Object.values(ErrorCodes)) {
      const err = errorFromCode(c, 'msg');
      assert.equal(err.code, c);
      assert.equal(err.message, 'msg');
      assert.ok(err instanceof RpcError);
    }
    assert.ok(errorFromCode('DIVIDE_BY_ZERO', 'x') instanceof DivideByZeroError);
  });
});

describe('createClient', () => {
  // A result outside the contract (e.g. a Python server whose add returns 2**31) is reported
  // as the contract's own INVALID_ARGUMENT, the same error our servers raise for that call.
  it('rejects a result the contract cannot hold with INVALID_ARGUMENT', async () => {
    const client = createClient(calculatorContract, {
      call: async () => 2 ** 31,
      close: async () => undefined,
    });
    await assert.rejects(client.add(2 ** 31 - 1, 1), { code: 'INVALID_ARGUMENT' });
  });

  it('passes valid results through', async () => {
    const client = createClient(calculatorContract, { call: async () => 7, close: async () => undefined });
    assert.equal(await client.add(2, 5), 7);
  });
});
