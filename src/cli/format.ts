/** Output helpers shared by the CLI commands: tables, values and errors as a person reads them. */
import { RpcError } from '../contract/errors.js';

export function formatError(err: unknown): string {
  if (err instanceof RpcError) {
    const remote = err.remoteType ? ` (remote ${err.remoteType})` : '';
    return `${err.name} [${err.code}]${remote}: ${err.message}`;
  }
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

const printable = /^[\t\n\r\x20-\x7e]*$/;

/** Renders a call result: bytes as text when printable, else as hex (truncated). */
export function formatValue(value: unknown): string {
  if (value instanceof Uint8Array) {
    const text = Buffer.from(value).toString('utf8');
    if (printable.test(text)) return text;
    const hex = Buffer.from(value.subarray(0, 64)).toString('hex');
    return `<${value.byteLength} bytes> ${hex}${value.byteLength > 64 ? '…' : ''}`;
  }
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'string') return value;
  return JSON.stringify(value);
}

/** JSON-safe form of a value (bytes as base64, bigint as string) for --json output. */
export function jsonValue(value: unknown): unknown {
  if (value instanceof Uint8Array) return { base64: Buffer.from(value).toString('base64') };
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  return value;
}

export function jsonError(err: unknown): {
  code: string;
  type: string;
  message: string;
  remoteType?: string;
} {
  if (err instanceof RpcError) {
    return {
      code: err.code,
      type: err.name,
      message: err.message,
      ...(err.remoteType ? { remoteType: err.remoteType } : {}),
    };
  }
  return { code: 'ERROR', type: err instanceof Error ? err.name : 'Error', message: String(err) };
}

/** A plain-text table with a header rule; columns sized to their widest cell. */
export function renderTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}
