/** The Calculator contract every protocol serves, and its reference implementation. */
import { DivideByZeroError } from './errors.js';
import { type Client, defineContract, type Implementation } from './spec.js';

export const calculatorContract = defineContract({
  name: 'Calculator',
  namespace: 'calc.soap',
  methods: {
    add: {
      params: [
        { name: 'a', type: 'i32' },
        { name: 'b', type: 'i32' },
      ],
      result: 'i32',
      idempotent: true,
      doc: 'Sum of two 32-bit signed integers; a sum outside the range is INVALID_ARGUMENT.',
    },
    divide: {
      params: [
        { name: 'a', type: 'double' },
        { name: 'b', type: 'double' },
      ],
      result: 'double',
      errors: ['DIVIDE_BY_ZERO'],
      idempotent: true,
      doc: 'a / b as doubles; b == 0 raises DIVIDE_BY_ZERO.',
    },
    echo: {
      params: [{ name: 'data', type: 'binary' }],
      result: 'binary',
      idempotent: true,
      doc: 'Returns the given bytes unchanged.',
    },
  },
});

export type CalculatorContract = typeof calculatorContract;
export type Calculator = Implementation<CalculatorContract>;
export type CalculatorClient = Client<CalculatorContract>;

/** The reference implementation (what our servers serve unless told otherwise). */
export const calculator: Calculator = {
  add(a, b) {
    return a + b; // overflow is caught by result validation in dispatch (INVALID_ARGUMENT)
  },
  divide(a, b) {
    if (b === 0) throw new DivideByZeroError();
    return a / b;
  },
  echo(data) {
    return data;
  },
};
