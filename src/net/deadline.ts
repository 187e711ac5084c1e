import { TimeoutError } from '../contract/errors.js';

/**
 * The longest delay a Node timer honours (~24.8 days): a longer one, or Infinity, fires after
 * 1 ms, so a caller asking for "a very long timeout" would time out at once.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** A timeout as a timer delay, capped at MAX_TIMER_MS (0, negative or NaN: no timeout). */
export function timerDelay(ms: number): number | undefined {
  return ms > 0 ? Math.min(ms, MAX_TIMER_MS) : undefined;
}

/**
 * Races a promise against a timer: the call fails with TIMEOUT when the timer wins, and
 * `onTimeout` lets the caller drop whatever state the pending call held (a sequence id, a socket).
 */
export function withTimeout<T>(
  promise: Promise<T>,
  ms: number,
  what: string,
  onTimeout?: () => void,
): Promise<T> {
  const delay = timerDelay(ms);
  if (delay === undefined) return promise;
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      onTimeout?.();
      reject(new TimeoutError(`${what} timed out after ${ms} ms`));
    }, delay);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}
