import { InvalidArgumentError } from '../contract/errors.js';
import type { Protocol } from './types.js';

/** Picks the requested variant, or the protocol's default; an unknown one is a clear error. */
export function resolveVariant(
  protocol: Pick<Protocol, 'name' | 'variants'>,
  variant: string | undefined,
): string {
  if (variant === undefined) return protocol.variants[0]!;
  if (!protocol.variants.includes(variant)) {
    throw new InvalidArgumentError(
      `${protocol.name} has no variant "${variant}" (choose one of: ${protocol.variants.join(', ')})`,
    );
  }
  return variant;
}
