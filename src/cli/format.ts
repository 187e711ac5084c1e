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

/** Bytes as text when printable, else a byte count and hex (first 64 bytes). */
function formatBytes(value: Uint8Array): { text: string; printable: boolean } {
  const text = Buffer.from(value).toString('utf8');
  if (printable.test(text)) return { text, printable: true };
  const hex = Buffer.from(value.subarray(0, 64)).toString('hex');
  return { text: `<${value.byteLength} bytes> ${hex}${value.byteLength > 64 ? '…' : ''}`, printable: false };
}

function formatNumber(n: number): string {
  // String(-0) is "0"; Thrift doubles keep the sign, so the output does too.
  return Object.is(n, -0) ? '-0' : String(n);
}

/** A value that says how it prints (a remote object such as a Cap'n Proto capability). */
function hasToJSON(value: object): value is { toJSON(): unknown } {
  return typeof (value as { toJSON?: unknown }).toJSON === 'function';
}

/**
 * Releases what a result holds that can be released (remote objects such as Cap'n Proto
 * capabilities, at the top level or as fields of a struct), once it is printed.
 */
export function disposeResult(value: unknown): void {
  if (typeof value !== 'object' || value === null) return;
  const dispose = (v: unknown): void => {
    const d =
      typeof v === 'object' && v !== null ? (v as { [Symbol.dispose]?: unknown })[Symbol.dispose] : undefined;
    if (typeof d === 'function') d.call(v);
  };
  dispose(value);
  if (!Array.isArray(value) && !(value instanceof Map) && !(value instanceof Set)) {
    for (const v of Object.values(value)) dispose(v);
  }
}

/** One nested value on one line, JSON-like: strings quoted, maps and sets shown as objects and lists. */
function formatNested(value: unknown, seen: Set<object>): string {
  if (value === undefined || value === null) return 'null';
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') return formatNumber(value);
  if (typeof value === 'bigint' || typeof value === 'boolean') return String(value);
  if (typeof value !== 'object') return String(value);
  if (value instanceof Uint8Array) {
    const bytes = formatBytes(value);
    return bytes.printable ? JSON.stringify(bytes.text) : bytes.text;
  }
  if (value instanceof Date) return value.toISOString();
  if (hasToJSON(value)) return formatNested(value.toJSON(), seen);
  if (seen.has(value)) return '<cycle>';
  seen.add(value);
  try {
    const item = (v: unknown) => formatNested(v, seen);
    if (Array.isArray(value) || value instanceof Set) return `[${[...value].map(item).join(', ')}]`;
    const entries =
      value instanceof Map
        ? [...value].map(([k, v]) => `${item(k)}: ${item(v)}`)
        : Object.entries(value)
            .filter(([, v]) => v !== undefined)
            .map(([k, v]) => `${JSON.stringify(k)}: ${item(v)}`);
    return `{${entries.join(', ')}}`;
  } finally {
    seen.delete(value);
  }
}

/**
 * Renders a call result for a person: a top-level string or printable bytes as is, other bytes
 * as hex, numbers exactly (i64 digits, NaN, -0), structs, lists, sets and maps JSON-like on one
 * line. A void or oneway result (undefined) is the empty string: nothing to print.
 */
export function formatValue(value: unknown): string {
  if (value === undefined) return '';
  if (typeof value === 'string') return value;
  if (value instanceof Uint8Array) return formatBytes(value).text;
  return formatNested(value, new Set());
}

function jsonKey(key: unknown): string | undefined {
  if (typeof key === 'string') return key;
  if (typeof key === 'number' || typeof key === 'bigint' || typeof key === 'boolean') return String(key);
  return undefined;
}

function toJson(value: unknown, seen: Set<object>): unknown {
  if (value === undefined || value === null) return null;
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'number') return Number.isFinite(value) ? value : String(value);
  if (typeof value !== 'object') return value;
  if (value instanceof Uint8Array) return { base64: Buffer.from(value).toString('base64') };
  if (value instanceof Date) return value.toISOString();
  if (hasToJSON(value)) return toJson(value.toJSON(), seen);
  if (seen.has(value)) return '<cycle>';
  seen.add(value);
  try {
    const item = (v: unknown) => toJson(v, seen);
    if (Array.isArray(value) || value instanceof Set) return [...value].map(item);
    if (value instanceof Map) {
      // Keys JSON can name (strings, numbers, booleans) make an object; any other key (a
      // struct, bytes) or two keys naming the same string make a list of [key, value] pairs.
      const keys = [...value.keys()].map(jsonKey);
      const named = keys.every((k) => k !== undefined) && new Set(keys).size === keys.length;
      if (!named) return [...value].map(([k, v]) => [item(k), item(v)]);
      return Object.fromEntries([...value.values()].map((v, i) => [keys[i], item(v)]));
    }
    return Object.fromEntries(
      Object.entries(value)
        .filter(([, v]) => v !== undefined)
        .map(([k, v]) => [k, item(v)]),
    );
  } finally {
    seen.delete(value);
  }
}

/**
 * JSON-safe form of a value for --json output, recursively: i64 (bigint) and non-finite
 * numbers as strings, bytes as {"base64": ...}, sets as arrays, maps as objects (or
 * [key, value] pairs when a key is not a string, number or boolean), void as null.
 */
export function jsonValue(value: unknown): unknown {
  return toJson(value, new Set());
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
