/** Loads a WSDL from a file or from a URL (a server's ?wsdl), into the service model. */
import { readFileSync } from 'node:fs';
import { InvalidArgumentError, RpcError, TransportError } from '../../contract/errors.js';
import { withTimeout } from '../../net/deadline.js';
import { exchange } from './http.js';
import type { SoapServiceModel } from './model.js';
import { parseWsdl } from './wsdl-read.js';

export const MAX_WSDL_BYTES = 16 * 1024 * 1024;

export function isUrl(schemaPath: string): boolean {
  return /^https?:\/\//i.test(schemaPath);
}

export function loadWsdlFile(path: string): SoapServiceModel {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new InvalidArgumentError(`cannot read WSDL ${path}: ${(err as Error).message}`, { cause: err });
  }
  return parseWsdl(text, path);
}

/** GETs a WSDL: a URL without a query gets "?wsdl" added, as zeep users write either. */
export async function fetchWsdl(url: string, timeoutMs: number): Promise<SoapServiceModel> {
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    throw new InvalidArgumentError(`not a URL: ${url}`);
  }
  if (target.protocol !== 'http:')
    throw new InvalidArgumentError(`only http:// WSDL URLs are supported, got ${url}`);
  if (target.search === '') target.search = '?wsdl';
  const pending = exchange({
    url: target,
    method: 'GET',
    maxResponseBytes: MAX_WSDL_BYTES,
    headers: { Accept: 'text/xml' },
  });
  const reply = await withTimeout(pending.result, timeoutMs, `fetching WSDL ${target.href}`, () =>
    pending.abort(new TransportError('WSDL fetch timed out')),
  ).catch((err: unknown) => {
    throw err instanceof RpcError ? err : new TransportError(String(err));
  });
  if (reply.status !== 200)
    throw new TransportError(`GET ${target.href} answered HTTP ${reply.status}, not a WSDL`);
  return parseWsdl(reply.body.toString('utf8'), target.href);
}

export function loadWsdl(schemaPath: string, timeoutMs: number): Promise<SoapServiceModel> {
  return isUrl(schemaPath)
    ? fetchWsdl(schemaPath, timeoutMs)
    : Promise.resolve().then(() => loadWsdlFile(schemaPath));
}
