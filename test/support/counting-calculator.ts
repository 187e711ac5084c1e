/** The reference Calculator counting its add calls: tests of what must never run check the count. */
import { calculator } from '../../src/contract/index.js';

export function countingCalculator(): { impl: typeof calculator; adds: () => number } {
  let adds = 0;
  const impl = {
    ...calculator,
    add: (a: number, b: number) => {
      adds++;
      return calculator.add(a, b);
    },
  };
  return { impl, adds: () => adds };
}
