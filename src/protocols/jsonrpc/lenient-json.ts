/**
 * Deepest nesting of arrays/objects accepted. JSON-RPC messages nest a few levels; V8's
 * JSON.parse does not overflow its stack on deep input, but 8 million nested arrays (a 16 MiB
 * body) took 2 s of the event loop and ~700 MB of memory before being refused as a request.
 * Python's json stops near 1000 levels with a RecursionError.
 */
export const MAX_JSON_DEPTH = 512;

/** Throws when `text` nests arrays/objects deeper than `maxDepth` (brackets inside strings do not count). */
function checkDepth(text: string, maxDepth: number): void {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (ch === 0x22) {
      // Jump over the string with indexOf (a 1 MiB base64 argument is one native search).
      const end = closingQuote(text, i);
      if (end < 0) return; // unterminated: JSON.parse reports it
      i = end;
    } else if (ch === 0x5b || ch === 0x7b) {
      if (++depth > maxDepth) throw new SyntaxError(`JSON nested deeper than ${maxDepth} levels`);
    } else if (ch === 0x5d || ch === 0x7d) depth--;
  }
}

/** Index of the quote closing the string opened at `open` (one not escaped by a backslash), or -1. */
function closingQuote(text: string, open: number): number {
  let at = open;
  for (;;) {
    at = text.indexOf('"', at + 1);
    if (at < 0) return -1;
    let backslashes = 0;
    while (text.charCodeAt(at - 1 - backslashes) === 0x5c) backslashes++;
    if (backslashes % 2 === 0) return at;
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/**
 * A request or reply body as text. JSON between systems must be UTF-8 (RFC 8259 §8.1): invalid
 * bytes are an error rather than U+FFFD, which would silently change strings and ids. A leading
 * byte order mark is dropped (the RFC lets parsers ignore it; some Windows peers send one).
 */
export function decodeJsonText(bytes: Uint8Array): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw new SyntaxError('the body is not valid UTF-8');
  }
}

/**
 * JSON parsing that also accepts the bare Infinity, -Infinity and NaN tokens Python's json
 * module writes for non-finite floats (json.dumps(float('inf')) == 'Infinity'), as the
 * jsonrpclib peers do. Standard JSON takes the fast path; only text JSON.parse rejects is
 * rescanned, and those tokens become the strings wire-values.ts decodes for `double`.
 */
export function parseJson(text: string, maxDepth = MAX_JSON_DEPTH): unknown {
  checkDepth(text, maxDepth);
  try {
    return JSON.parse(text);
  } catch (err) {
    if (!/Infinity|NaN/.test(text)) throw err;
    return JSON.parse(quoteNonFinite(text));
  }
}

/** Rewrites bare non-finite tokens outside strings as quoted strings; everything else is kept. */
function quoteNonFinite(text: string): string {
  let out = '';
  let last = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (inString) {
      if (ch === 0x5c)
        i++; // backslash: skip the escaped character
      else if (ch === 0x22) inString = false;
      continue;
    }
    if (ch === 0x22) {
      inString = true;
      continue;
    }
    for (const token of ['-Infinity', 'Infinity', 'NaN']) {
      if (text.startsWith(token, i)) {
        out += `${text.slice(last, i)}"${token}"`;
        i += token.length - 1;
        last = i + 1;
        break;
      }
    }
  }
  return out + text.slice(last);
}

/** A JSON number token (RFC 8259 §6). */
const NUMBER_TOKEN = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;

/**
 * The source text of the numeric `"id"` member of a request object, or of each object of a
 * batch (by index), for ids JSON.parse cannot keep exactly (12345678901234567890 becomes
 * 12345678901234567000, 1e400 becomes Infinity): the reply echoes this text instead. Run only
 * on text JSON.parse (or parseJson) accepted; bare NaN/Infinity tokens are skipped too.
 */
export function numericIdSources(text: string): string | undefined | (string | undefined)[] {
  let i = skipSpace(text, 0);
  if (text.charCodeAt(i) === 0x7b) return idSource(text, i);
  if (text.charCodeAt(i) !== 0x5b) return undefined;
  const out: (string | undefined)[] = [];
  i = skipSpace(text, i + 1);
  while (i < text.length && text.charCodeAt(i) !== 0x5d) {
    out.push(text.charCodeAt(i) === 0x7b ? idSource(text, i) : undefined);
    const end = skipValue(text, i);
    if (end <= i) break; // not JSON after all: stop rather than loop
    i = skipSpace(text, end);
    if (text.charCodeAt(i) !== 0x2c) break;
    i = skipSpace(text, i + 1);
  }
  return out;
}

/** The number text of the last "id" member of the object opening at `open`, if it is a number. */
function idSource(text: string, open: number): string | undefined {
  let found: string | undefined;
  let i = skipSpace(text, open + 1);
  while (text.charCodeAt(i) === 0x22) {
    const keyEnd = closingQuote(text, i) + 1;
    if (keyEnd <= 0) break;
    const rawKey = text.slice(i, keyEnd);
    const isId = rawKey === '"id"' || (rawKey.includes('\\') && JSON.parse(rawKey) === 'id');
    i = skipSpace(text, skipSpace(text, keyEnd) + 1); // past the ':'
    const end = skipValue(text, i);
    if (end <= i) break;
    if (isId) {
      const value = text.slice(i, end);
      found = NUMBER_TOKEN.test(value) ? value : undefined; // duplicate keys: the last one wins
    }
    i = skipSpace(text, end);
    if (text.charCodeAt(i) !== 0x2c) break;
    i = skipSpace(text, i + 1);
  }
  return found;
}

function skipSpace(text: string, at: number): number {
  let i = at;
  for (;;) {
    const ch = text.charCodeAt(i);
    if (ch !== 0x20 && ch !== 0x09 && ch !== 0x0a && ch !== 0x0d) return i;
    i++;
  }
}

/** The index just past the JSON value starting at `at` (strings skipped natively, as in checkDepth). */
function skipValue(text: string, at: number): number {
  const first = text.charCodeAt(at);
  if (first === 0x22) {
    const end = closingQuote(text, at);
    return end < 0 ? text.length : end + 1;
  }
  if (first === 0x7b || first === 0x5b) {
    let depth = 0;
    for (let i = at; i < text.length; i++) {
      const ch = text.charCodeAt(i);
      if (ch === 0x22) {
        i = closingQuote(text, i);
        if (i < 0) return text.length;
      } else if (ch === 0x7b || ch === 0x5b) depth++;
      else if ((ch === 0x7d || ch === 0x5d) && --depth === 0) return i + 1;
    }
    return text.length;
  }
  // A bare token: a number, true, false, null, or Python's NaN/Infinity.
  let i = at;
  while (i < text.length && !',]} \t\n\r'.includes(text.charAt(i))) i++;
  return i;
}
