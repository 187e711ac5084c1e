/**
 * JSON parsing that also accepts the bare Infinity, -Infinity and NaN tokens Python's json
 * module writes for non-finite floats (json.dumps(float('inf')) == 'Infinity'), as the
 * jsonrpclib peers do. Standard JSON takes the fast path; only text JSON.parse rejects is
 * rescanned, and those tokens become the strings wire-values.ts decodes for `double`.
 */
export function parseJson(text: string): unknown {
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
