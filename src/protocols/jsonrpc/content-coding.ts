/**
 * Request bodies sent with a Content-Encoding (RFC 9110 §8.4). gzip and deflate are decoded, each
 * step capped at the message limit so a small compressed body cannot expand without bound (a
 * 16 MiB gzip body can hold gigabytes of zeros). Any other coding is refused with 415 rather than
 * parsed as if it were JSON, which would give a puzzling -32700.
 */
import { promisify } from 'node:util';
import zlib from 'node:zlib';

/** What we can decode, for the Accept-Encoding of a 415 (RFC 9110 §12.5.3). */
export const ACCEPTED_CODINGS = 'gzip, deflate';

const DECODERS: Readonly<Record<string, (buf: Buffer, opts: zlib.ZlibOptions) => Promise<Buffer>>> = {
  gzip: promisify(zlib.gunzip),
  'x-gzip': promisify(zlib.gunzip),
  deflate: promisify(zlib.inflate),
};

export type DecodedBody =
  | { readonly kind: 'ok'; readonly body: Buffer }
  | { readonly kind: 'unsupported'; readonly coding: string }
  | { readonly kind: 'too-large' }
  | { readonly kind: 'corrupt'; readonly coding: string };

/** The codings applied to a body, in the order they were applied; identity is left out. */
export function contentCodings(header: string | undefined): string[] {
  if (header === undefined) return [];
  return header
    .split(',')
    .map((c) => c.trim().toLowerCase())
    .filter((c) => c !== '' && c !== 'identity');
}

/**
 * Most codings stacked on one body. Each step may produce up to the limit, so without a cap the
 * ~3,000 "gzip" a 16 KiB header holds, of stored blocks, cost ~80 s of CPU for one small request.
 * Nobody stacks more than two.
 */
export const MAX_CODINGS = 3;

/** The first coding we cannot decode, or undefined when all can be. */
export function unsupportedCoding(codings: readonly string[]): string | undefined {
  return codings.find((c) => !Object.hasOwn(DECODERS, c));
}

/** Undoes the codings, last applied first, never producing more than `limit` bytes. */
export async function decodeBody(
  body: Buffer,
  codings: readonly string[],
  limit: number,
): Promise<DecodedBody> {
  if (codings.length > MAX_CODINGS) {
    return { kind: 'unsupported', coding: `${codings.length} stacked codings (at most ${MAX_CODINGS})` };
  }
  let out = body;
  for (const coding of [...codings].reverse()) {
    const decode = DECODERS[coding];
    if (decode === undefined) return { kind: 'unsupported', coding };
    try {
      out = await decode(out, { maxOutputLength: limit });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') return { kind: 'too-large' };
      return { kind: 'corrupt', coding };
    }
  }
  return { kind: 'ok', body: out };
}
