/** Parsing of the options several commands share (--host, --port, --timeout, --variant, ...). */
import { InvalidArgumentError } from '../contract/errors.js';
import { findProtocol, type Protocol, protocols } from '../protocols/index.js';

export class UsageError extends Error {}

/** node:util parseArgs errors (unknown option, missing value) are usage errors too. */
export function isUsageError(err: unknown): boolean {
  if (err instanceof UsageError) return true;
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_');
}

export function protocolNamed(name: string | undefined): Protocol {
  if (name === undefined) throw new UsageError(`name a protocol: ${protocols.map((p) => p.name).join(', ')}`);
  const protocol = findProtocol(name);
  if (!protocol) {
    throw new UsageError(
      `unknown protocol "${name}" (choose one of: ${protocols.map((p) => p.name).join(', ')})`,
    );
  }
  return protocol;
}

export function intOption(value: string | undefined, what: string, min = 0, max = Number.MAX_SAFE_INTEGER) {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`${what} must be a whole number from ${min} to ${max}, got "${value}"`);
  }
  return n;
}

export function portOption(value: string | undefined): number | undefined {
  return intOption(value, '--port', 0, 65535);
}

/** Variant names are checked by the protocol; turn its error into a usage error. */
export function checkVariant(protocol: Protocol, variant: string | undefined): void {
  if (variant !== undefined && !protocol.variants.includes(variant)) {
    throw new UsageError(
      new InvalidArgumentError(
        `${protocol.name} has no variant "${variant}" (choose: ${protocol.variants.join(', ')})`,
      ).message,
    );
  }
}
