/**
 * Fuzz harness for the JSON-RPC server and client (loopback only, seeded, bounded).
 *
 *   npx tsx scripts/fuzz/jsonrpc.ts --target http   --seed 1 --iterations 5000 --seconds 180
 *   npx tsx scripts/fuzz/jsonrpc.ts --target json   --seed 2 --iterations 5000 --seconds 180
 *   npx tsx scripts/fuzz/jsonrpc.ts --target client --seed 3 --iterations 2000 --seconds 180
 *
 * Targets:
 * - http: requests captured from jsonrpclib-pelix, tinyrpc, jsonrpcclient (requests), curl and
 *   our client, mutated as bytes (request line, headers, smuggling shapes, chunking, bodies),
 *   written in random slices with pauses, sometimes pipelined, sometimes half-closed.
 * - json: valid requests and batches mutated by grammar (types, nesting, numbers, escapes,
 *   duplicate and prototype keys, ids and params of every shape); each reply is checked
 *   against what the spec asks for that request (an oracle built from JSON.parse).
 * - client: our client against a fake server answering mutated replies; every call must
 *   settle within its timeout as a number or an RpcError.
 * Every `--check-every` iterations (and at the end) the server must answer add(2,5) = 7 on a
 * fresh connection, RSS must stay under a bound, and no uncaught error or warning may have
 * occurred. The same seed replays the same inputs (timing aside). Exit status 1 on any finding;
 * findings are printed with the seed, iteration and input.
 */
import { Buffer } from 'node:buffer';
import http from 'node:http';
import net from 'node:net';
import { RpcError } from '../../src/contract/errors.js';
import { calculator, calculatorContract } from '../../src/contract/index.js';
import { connectJsonRpc } from '../../src/protocols/jsonrpc/client.js';
import { type JsonRpcRunningServer, serveJsonRpc } from '../../src/protocols/jsonrpc/server.js';
import { option, prng } from './common.js';

// ---------- options ----------
const argv = process.argv.slice(2);
const target = option('target', 'http');
const seed = Number(option('seed', '1'));
const iterations = Number(option('iterations', '2000'));
const budgetMs = Number(option('seconds', '60')) * 1000;
const checkEvery = Number(option('check-every', '50'));
const maxRssGrowth = Number(option('max-rss-mb', '400')) * 1024 * 1024;
const verbose = argv.includes('--verbose');

// ---------- seeded PRNG (mulberry32) ----------
const rand = prng(seed);
const int = (n: number): number => Math.floor(rand() * n);
const chance = (p: number): boolean => rand() < p;
function pick<T>(items: readonly T[]): T {
  return items[int(items.length)] as T;
}

// ---------- findings ----------
const findings: string[] = [];
let iteration = 0;
function finding(what: string, input?: string | Buffer): void {
  const shown = input === undefined ? '' : `\n  input: ${JSON.stringify(String(input).slice(0, 600))}`;
  const line = `[seed ${seed} iter ${iteration}] ${what}${shown}`;
  findings.push(line);
  console.log(line);
}
process.on('uncaughtException', (err) => finding(`uncaught exception: ${err.stack ?? err}`));
process.on('unhandledRejection', (err) => finding(`unhandled rejection: ${String(err)}`));
process.on('warning', (w) => finding(`process warning: ${w.name}: ${w.message}`));

// ---------- captured requests (real traffic, recorded with a raw TCP listener) ----------
const ADD_BODY = '{"jsonrpc": "2.0", "method": "add", "params": [2, 5], "id": 1}';
const SEEDS: readonly string[] = [
  // jsonrpclib-pelix 1.2.0
  'POST / HTTP/1.1\r\nHost: 127.0.0.1:4555\r\nAccept-Encoding: gzip\r\nContent-Type: application/json-rpc\r\nContent-Length: 99\r\nUser-Agent: jsonrpclib/1.2.0 (Python 3.11.7)\r\n\r\n{"id": "7a771dec-4652-41d7-b91f-33f409139d83", "method": "add", "params": [2, 5], "jsonrpc": "2.0"}',
  // tinyrpc 1.1.7 (requests, no Content-Type)
  `POST / HTTP/1.1\r\nHost: 127.0.0.1:4555\r\nUser-Agent: python-requests/2.34.2\r\nAccept-Encoding: gzip, deflate\r\nAccept: */*\r\nConnection: keep-alive\r\nContent-Length: 62\r\n\r\n${ADD_BODY}`,
  // jsonrpcclient 4.0.3 over requests
  `POST / HTTP/1.1\r\nHost: 127.0.0.1:4555\r\nUser-Agent: python-requests/2.34.2\r\nAccept-Encoding: gzip, deflate\r\nAccept: */*\r\nConnection: keep-alive\r\nContent-Length: 62\r\nContent-Type: application/json\r\n\r\n${ADD_BODY}`,
  // curl 7.88.1 -d
  'POST / HTTP/1.1\r\nHost: 127.0.0.1:4555\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\nContent-Type: application/json\r\nContent-Length: 54\r\n\r\n{"jsonrpc":"2.0","method":"add","params":[2,5],"id":1}',
  // our client (node:http, keep-alive agent)
  'POST / HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 54\r\nAccept: application/json\r\nHost: 127.0.0.1:4555\r\nConnection: keep-alive\r\n\r\n{"jsonrpc":"2.0","id":1,"method":"add","params":[2,5]}',
];

// ---------- HTTP-layer mutation ----------
interface Parts {
  line: string;
  headers: [string, string][];
  body: string;
}
function split(raw: string): Parts {
  const end = raw.indexOf('\r\n\r\n');
  const lines = raw.slice(0, end).split('\r\n');
  return {
    line: lines[0] as string,
    headers: lines.slice(1).map((l) => {
      const c = l.indexOf(':');
      return [l.slice(0, c), l.slice(c + 1).trim()] as [string, string];
    }),
    body: raw.slice(end + 4),
  };
}
const setHeader = (p: Parts, name: string, value: string) => {
  p.headers = p.headers.filter(([n]) => n.toLowerCase() !== name.toLowerCase());
  p.headers.push([name, value]);
};
const chunked = (body: string, ext = false, trailer = ''): string => {
  let out = '';
  let i = 0;
  while (i < body.length) {
    const n = 1 + int(Math.max(1, body.length - i));
    const size = Buffer.byteLength(body.slice(i, i + n)).toString(16);
    out += `${chance(0.3) ? size.toUpperCase() : size}${ext ? pick([';a=b', ';x', ' ;y="z"', ';;']) : ''}\r\n${body.slice(i, i + n)}\r\n`;
    i += n;
  }
  return `${out}0\r\n${trailer}\r\n`;
};
const WEIRD = [
  '',
  ' ',
  '\t',
  '\0',
  '\r',
  '\n',
  '\r\n',
  '\x7f',
  'é',
  '\u00ff',
  '%00',
  '\\',
  '"',
  ',',
  ';',
  ':',
];
const HTTP_MUTATORS: readonly ((p: Parts) => void)[] = [
  (p) => {
    p.line = pick([
      'GET / HTTP/1.1',
      'POST / HTTP/1.0',
      'POST / HTTP/2.0',
      'POST / HTTP/1.1 extra',
      'POST  / HTTP/1.1',
      'post / HTTP/1.1',
      'POST * HTTP/1.1',
      'POST http://127.0.0.1/ HTTP/1.1',
      `POST /${'a'.repeat(int(20000))} HTTP/1.1`,
      'OPTIONS / HTTP/1.1',
      'PRI * HTTP/2.0',
      'POST /RPC2?x=%zz HTTP/1.1',
      'POST / HTTP/1.1\r',
      '',
    ]);
  },
  (p) => {
    const v = String(Buffer.byteLength(p.body));
    setHeader(
      p,
      'Content-Length',
      pick([
        `${v}, ${v}`,
        `+${v}`,
        `0${v}`,
        `-1`,
        `${v}.0`,
        ' ',
        '1e2',
        `${Number(v) + 5}`,
        `${Number(v) - 5}`,
        '99999999999999999999',
        `0x${Number(v).toString(16)}`,
      ]),
    );
  },
  (p) => p.headers.push(['Content-Length', String(Buffer.byteLength(p.body) + int(10) - 5)]),
  (p) => {
    setHeader(
      p,
      'Transfer-Encoding',
      pick([
        'chunked',
        'Chunked',
        ' chunked',
        'chunked, chunked',
        'gzip, chunked',
        'identity',
        'xchunked',
        'chunked\t',
      ]),
    );
    if (chance(0.7)) p.body = chunked(p.body, chance(0.3), chance(0.3) ? 'X-T: 1\r\n' : '');
  },
  (p) => {
    // Smuggling shapes: both framings, a second TE, obs-fold on TE.
    p.headers.push(['Transfer-Encoding', 'chunked']);
    if (chance(0.5)) p.headers.push(['Transfer-Encoding', pick(['identity', 'chunked', 'gzip'])]);
    p.body = chance(0.5)
      ? chunked(p.body)
      : `0\r\n\r\nPOST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n[1,2]`;
  },
  (p) => p.headers.push(['Transfer-Encoding', `\r\n chunked`]),
  (p) => {
    setHeader(p, 'Transfer-Encoding', 'chunked');
    p.body = pick([
      `ffffffffffffffffffff\r\n${p.body}\r\n0\r\n\r\n`,
      `-1\r\n${p.body}\r\n0\r\n\r\n`,
      `zz\r\n${p.body}\r\n0\r\n\r\n`,
      `${(Buffer.byteLength(p.body) + 3).toString(16)}\r\n${p.body}\r\n0\r\n\r\n`,
      `${Buffer.byteLength(p.body).toString(16)}\r\n${p.body}0\r\n\r\n`,
      `${Buffer.byteLength(p.body).toString(16)}\n${p.body}\n0\n\n`,
      chunked(p.body, true, 'Content-Length: 999\r\nTransfer-Encoding: chunked\r\n'),
      `${chunked(p.body).slice(0, -2)}`,
    ]);
  },
  (p) => {
    // Duplicate or conflicting headers.
    const [name, value] = pick(p.headers.length > 0 ? p.headers : [['Host', 'x'] as [string, string]]);
    p.headers.splice(int(p.headers.length + 1), 0, [name, chance(0.5) ? value : `${value}x`]);
  },
  (p) => {
    if (p.headers.length > 0) {
      const h = pick(p.headers);
      h[1] = `${h[1]}\r\n ${pick(['folded', 'chunked', '1'])}`; // obs-fold
    }
  },
  (p) => {
    if (p.headers.length > 0) {
      const h = pick(p.headers);
      const at = int(h[0].length + 1);
      if (chance(0.5)) h[0] = h[0].slice(0, at) + pick(WEIRD) + h[0].slice(at);
      else h[1] = h[1].slice(0, at) + pick(WEIRD) + h[1].slice(at);
    }
  },
  (p) => {
    const n = pick([50, 200, 1000, 3000]);
    for (let i = 0; i < n; i++) p.headers.push([`X-H${i}`, 'v'.repeat(int(40))]);
  },
  (p) => p.headers.push(['X-Big', 'v'.repeat(pick([8000, 17000, 70000]))]),
  (p) =>
    p.headers.push([
      pick(['Expect', 'Connection', 'Upgrade', 'Content-Encoding', 'Origin', 'Host']),
      pick([
        '100-continue',
        'close',
        'upgrade',
        'websocket',
        'h2c',
        'gzip',
        'br',
        'gzip, gzip, gzip, gzip',
        'null',
        '',
        'http://evil',
      ]),
    ]),
  (p) => {
    p.headers = p.headers.filter(([n]) => !/^(host|content-length)$/i.test(n) || chance(0.5));
  },
  (p) => {
    p.body = p.body.slice(0, int(p.body.length + 1));
  },
  (p) => {
    p.body += pick(['', ' ', 'x', '\0', '}', ADD_BODY, '\r\n', 'GET / HTTP/1.1\r\n\r\n']);
  },
  (p) => {
    p.body = pick(['', '[]', '{}', 'null', '[[]]', `\ufeff${ADD_BODY}`, `[${ADD_BODY},${ADD_BODY}]`]);
    setHeader(p, 'Content-Length', String(Buffer.byteLength(p.body)));
  },
];
function byteFlip(buf: Buffer): Buffer {
  const out = Buffer.from(buf);
  for (let k = 1 + int(4); k > 0 && out.length > 0; k--) {
    const i = int(out.length);
    out[i] = chance(0.5) ? int(256) : (out[i] as number) ^ (1 << int(8));
  }
  return out;
}
function mutateHttp(raw: string): Buffer {
  const p = split(raw);
  for (let k = 1 + int(3); k > 0; k--) pick(HTTP_MUTATORS)(p);
  const head = [p.line, ...p.headers.map(([n, v]) => `${n}: ${v}`)].join('\r\n');
  const bytes = Buffer.from(`${head}\r\n\r\n${p.body}`, 'latin1');
  return chance(0.15) ? byteFlip(bytes) : bytes;
}

// ---------- JSON-layer generation ----------
/** A JSON tree that can hold what JSON.stringify cannot: duplicate keys and raw number text. */
type J =
  | { t: 'raw'; text: string }
  | { t: 'str'; v: string }
  | { t: 'arr'; items: J[] }
  | { t: 'obj'; members: [string, J][] };
const raw = (text: string): J => ({ t: 'raw', text });
const str = (v: string): J => ({ t: 'str', v });
function render(j: J): string {
  switch (j.t) {
    case 'raw':
      return j.text;
    case 'str':
      return JSON.stringify(j.v).replace(/\\u([0-9a-f]{4})/g, (m) =>
        chance(0.5) ? m.toUpperCase().replace('\\U', '\\u') : m,
      );
    case 'arr':
      return `[${j.items.map(render).join(',')}]`;
    case 'obj':
      return `{${j.members.map(([k, v]) => `${JSON.stringify(k)}:${render(v)}`).join(',')}}`;
  }
}
const NUMBERS = [
  '0',
  '-0',
  '1',
  '7',
  '-1',
  '2.5',
  '1e2',
  '1E+2',
  '1e-7',
  '2147483647',
  '2147483648',
  '-2147483649',
  '9007199254740993',
  '12345678901234567890',
  '1e308',
  '1e309',
  '1e400',
  '-1e400',
  '4.9e-324',
  '1e-400',
  '0.1',
  `1${'0'.repeat(400)}`,
  `1e${'9'.repeat(30)}`,
  '1.0',
  '5.0000000000000000001',
  'Infinity',
  '-Infinity',
  'NaN',
  '01',
  '1.',
  '.5',
  '+1',
  '0x10',
];
const STRINGS = [
  '',
  'add',
  'divide',
  'echo',
  'Add',
  'add ',
  '__proto__',
  'constructor',
  'toString',
  'hasOwnProperty',
  'rpc.discover',
  'system.listMethods',
  '\u0000',
  '\ud800',
  '\udc00x',
  '\ud83d\ude00',
  '\u2028',
  'é',
  'AAAA',
  'AA==',
  'AA=',
  '===',
  '2.0',
  '2',
  'x'.repeat(70000),
];
function randomValue(depth = 0): J {
  switch (int(depth > 3 ? 4 : 7)) {
    case 0:
      return raw(pick(NUMBERS));
    case 1:
      return str(pick(STRINGS));
    case 2:
      return raw(pick(['true', 'false', 'null']));
    case 3:
      return str(String.fromCharCode(...Array.from({ length: int(12) }, () => int(0x10000))));
    case 4:
      return { t: 'arr', items: Array.from({ length: int(4) }, () => randomValue(depth + 1)) };
    case 5:
      return {
        t: 'obj',
        members: Array.from({ length: int(4) }, () => [pick(STRINGS), randomValue(depth + 1)] as [string, J]),
      };
    default:
      return nested(pick([10, 100, 511, 512, 513, 2000, 100000]));
  }
}
function nested(n: number): J {
  return raw(chance(0.5) ? `${'['.repeat(n)}${']'.repeat(n)}` : `${'{"a":'.repeat(n)}1${'}'.repeat(n)}`);
}
function validRequest(): J {
  const method = pick(['add', 'divide', 'echo']);
  const params =
    method === 'echo'
      ? [str(pick(['AAEC', '', 'aGVsbG8=']))]
      : [raw(String(int(100))), raw(String(int(100)))];
  const members: [string, J][] = [
    ['jsonrpc', str('2.0')],
    ['method', str(method)],
    [
      'params',
      chance(0.8)
        ? { t: 'arr', items: params }
        : {
            t: 'obj',
            members: [
              method === 'echo' ? ['data', params[0] as J] : ['a', params[0] as J],
              ...(method === 'echo' ? [] : [['b', params[1] as J] as [string, J]]),
            ],
          },
    ],
  ];
  if (chance(0.9)) members.push(['id', chance(0.5) ? raw(String(1 + int(1000))) : str(`id-${int(1000)}`)]);
  return { t: 'obj', members };
}
/** Every node of a tree with a setter replacing it, for point mutations. */
function slots(root: { v: J }): ((j: J) => void)[] {
  const out: ((j: J) => void)[] = [(j) => (root.v = j)];
  const walk = (j: J) => {
    if (j.t === 'arr')
      for (const [i, item] of j.items.entries()) {
        out.push((n) => {
          j.items[i] = n;
        });
        walk(item);
      }
    if (j.t === 'obj')
      for (const m of j.members) {
        out.push((n) => {
          m[1] = n;
        });
        walk(m[1]);
      }
  };
  walk(root.v);
  return out;
}
function mutateJson(): string {
  const root = {
    v: chance(0.7)
      ? validRequest()
      : ({ t: 'arr', items: Array.from({ length: int(5) }, validRequest) } as J),
  };
  for (let k = int(4); k > 0; k--) {
    const ops = slots(root);
    const set = pick(ops);
    switch (int(6)) {
      case 0:
      case 1:
        set(randomValue());
        break;
      case 2: {
        // Add or duplicate a member of some object.
        const objs: J[] = [];
        const walk = (j: J) => {
          if (j.t === 'obj') objs.push(j);
          if (j.t === 'arr') j.items.forEach(walk);
          if (j.t === 'obj') for (const [, v] of j.members) walk(v);
        };
        walk(root.v);
        const o = objs.length > 0 ? pick(objs) : undefined;
        if (o?.t === 'obj') {
          const key =
            chance(0.5) && o.members.length > 0
              ? (pick(o.members)[0] as string)
              : pick([...STRINGS.slice(0, 14), 'id', 'params', 'method', 'jsonrpc', 'result', 'error']);
          o.members.splice(int(o.members.length + 1), 0, [key, randomValue(2)]);
        }
        break;
      }
      case 3: {
        // Remove a member.
        const r = root.v;
        if (r.t === 'obj' && r.members.length > 0) r.members.splice(int(r.members.length), 1);
        break;
      }
      case 4:
        set(nested(pick([511, 512, 513, 5000])));
        break;
      default:
        if (root.v.t === 'arr' && chance(0.3)) {
          const filler = render(validRequest());
          root.v = raw(`[${Array.from({ length: pick([999, 1000, 1001]) }, () => filler).join(',')}]`);
        } else set(raw(pick(NUMBERS)));
    }
  }
  let text = render(root.v);
  if (chance(0.1)) text = text.slice(0, int(text.length + 1)); // truncated
  if (chance(0.05)) text = pick([' ', '\ufeff', '\t\n']) + text + pick(['', ' ', '\n', 'x', '}']);
  return text;
}

// ---------- the JSON-RPC oracle ----------
interface Expected {
  /** The error code the spec requires, or undefined when a result (or any application error) may come. */
  code?: number;
  id: unknown;
}
function isValidId(id: unknown): boolean {
  return typeof id === 'string' || typeof id === 'number' || id === null;
}
function expectEntry(e: unknown): Expected | null {
  if (typeof e !== 'object' || e === null || Array.isArray(e)) return { code: -32600, id: null };
  const r = e as Record<string, unknown>;
  const id = 'id' in r && isValidId(r.id) ? r.id : null;
  if (
    r.jsonrpc !== '2.0' ||
    typeof r.method !== 'string' ||
    ('id' in r && !isValidId(r.id)) ||
    ('params' in r && (typeof r.params !== 'object' || r.params === null)) ||
    'result' in r ||
    'error' in r
  )
    return { code: -32600, id };
  if (!('id' in r)) return null;
  if (!['add', 'divide', 'echo'].includes(r.method)) return { code: -32601, id };
  return { id };
}
function sameId(got: unknown, want: unknown): boolean {
  // -0 leaves as 0 (=== holds) and 1e400 is echoed as its source text (Infinity again).
  return got === want;
}
/** Problems with one response object (spec §5). */
function responseProblems(r: unknown, want?: Expected): string[] {
  if (typeof r !== 'object' || r === null || Array.isArray(r)) return ['response is not an object'];
  const o = r as Record<string, unknown>;
  const out: string[] = [];
  if (o.jsonrpc !== '2.0') out.push('jsonrpc is not "2.0"');
  if (!('id' in o) || !isValidId(o.id)) out.push('missing or bad id');
  if ('result' in o === 'error' in o) out.push('not exactly one of result/error');
  for (const k of Object.keys(o))
    if (!['jsonrpc', 'id', 'result', 'error'].includes(k)) out.push(`extra member ${k}`);
  if ('error' in o) {
    const e = o.error as Record<string, unknown> | null;
    if (typeof e !== 'object' || e === null) out.push('error is not an object');
    else {
      if (!Number.isInteger(e.code)) out.push('error.code is not an integer');
      if (typeof e.message !== 'string') out.push('error.message is not a string');
    }
  }
  if (want !== undefined) {
    const code = (o.error as { code?: unknown } | undefined)?.code;
    if (want.code !== undefined && code !== want.code)
      out.push(`expected error ${want.code}, got ${JSON.stringify(o).slice(0, 200)}`);
    if (want.code === undefined && code !== undefined && ![-32602, 1001].includes(code as number))
      out.push(`unexpected error for a valid call: ${JSON.stringify(o).slice(0, 200)}`);
    if (!sameId(o.id, want.id))
      out.push(`id ${JSON.stringify(o.id)} does not echo ${JSON.stringify(want.id)}`);
  }
  return out;
}
/** Checks a reply body against the request text; returns the problems found. */
function checkJsonReply(request: string, status: number, body: string): string[] {
  let parsed: unknown;
  let expect: Expected | Expected[] | null;
  try {
    parsed = JSON.parse(request.replace(/^\ufeff/, ''));
    if (/(\[|\{)/.test(request) && maxDepth(request) > 512) throw new Error('deep');
  } catch {
    parsed = undefined;
  }
  if (parsed === undefined) {
    // Python's bare Infinity/NaN tokens are accepted, so only check that something sane came back.
    if (/Infinity|NaN/.test(request)) expect = undefined as unknown as null;
    else expect = { code: -32700, id: null };
  } else if (Array.isArray(parsed)) {
    if (parsed.length === 0 || parsed.length > 1000) expect = { code: -32600, id: null };
    else expect = parsed.map(expectEntry).filter((e): e is Expected => e !== null);
  } else expect = expectEntry(parsed);
  if (status !== 200) return [`HTTP ${status} for a well-framed request`];
  if (expect === undefined) return body === '' ? [] : wellFormed(body);
  if (expect === null || (Array.isArray(expect) && expect.length === 0))
    return body === '' ? [] : [`expected no body (notifications), got ${body.slice(0, 200)}`];
  let reply: unknown;
  try {
    reply = JSON.parse(body);
  } catch {
    return [`reply is not JSON: ${body.slice(0, 200)}`];
  }
  if (!Array.isArray(expect)) return responseProblems(reply, expect);
  if (!Array.isArray(reply) || reply.length !== expect.length)
    return [`expected an array of ${expect.length} replies, got ${body.slice(0, 200)}`];
  return reply.flatMap((r, i) => responseProblems(r, expect[i]));
}
function wellFormed(body: string): string[] {
  let reply: unknown;
  try {
    reply = JSON.parse(body);
  } catch {
    return [`reply is not JSON: ${body.slice(0, 200)}`];
  }
  return Array.isArray(reply) ? reply.flatMap((r) => responseProblems(r)) : responseProblems(reply);
}
function maxDepth(text: string): number {
  let d = 0;
  let max = 0;
  let inStr = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inStr) {
      if (c === '\\') i++;
      else if (c === '"') inStr = false;
    } else if (c === '"') inStr = true;
    else if (c === '[' || c === '{') max = Math.max(max, ++d);
    else if (c === ']' || c === '}') d--;
  }
  return max;
}

// ---------- raw HTTP exchange with the server ----------
interface HttpResponse {
  status: number;
  headers: Map<string, string[]>;
  body: Buffer;
}
/** Splits the bytes a server wrote into responses; throws on anything that is not well-formed HTTP/1.1. */
function parseResponses(data: Buffer): HttpResponse[] {
  const out: HttpResponse[] = [];
  let at = 0;
  while (at < data.length) {
    const end = data.indexOf('\r\n\r\n', at);
    if (end < 0)
      throw new Error(
        `incomplete response head: ${JSON.stringify(data.subarray(at, at + 200).toString('latin1'))}`,
      );
    const lines = data.subarray(at, end).toString('latin1').split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3}) [^\r\n]*$/.exec(lines[0] as string);
    if (m === null) throw new Error(`bad status line ${JSON.stringify(lines[0])}`);
    const headers = new Map<string, string[]>();
    for (const l of lines.slice(1)) {
      const hm = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*(.*?)[ \t]*$/.exec(l);
      if (hm === null) throw new Error(`bad header line ${JSON.stringify(l)}`);
      const name = (hm[1] as string).toLowerCase();
      headers.set(name, [...(headers.get(name) ?? []), hm[2] as string]);
    }
    const status = Number(m[1]);
    at = end + 4;
    let body: Buffer;
    const cl = headers.get('content-length');
    if (status < 200 || status === 204 || status === 304) body = Buffer.alloc(0);
    else if (headers.has('transfer-encoding')) {
      // Node's own answers (e.g. 400 for a missing Host) are chunked.
      if (headers.get('transfer-encoding')?.join(',') !== 'chunked') throw new Error('bad Transfer-Encoding');
      const parts: Buffer[] = [];
      for (;;) {
        const eol = data.indexOf('\r\n', at);
        const size = eol < 0 ? Number.NaN : Number.parseInt(data.subarray(at, eol).toString('latin1'), 16);
        if (!Number.isInteger(size) || data.length < eol + 2 + size + 2) throw new Error('bad chunked body');
        parts.push(data.subarray(eol + 2, eol + 2 + size));
        at = eol + 2 + size + 2;
        if (size === 0) break;
      }
      body = Buffer.concat(parts);
    } else if (cl !== undefined) {
      if (cl.length !== 1 || !/^\d+$/.test(cl[0] as string)) throw new Error(`bad Content-Length ${cl}`);
      const n = Number(cl[0]);
      if (at + n > data.length) throw new Error('body shorter than Content-Length');
      body = data.subarray(at, at + n);
      at += n;
    } else {
      // Without a length the body runs to the close; only our bare error answers do this.
      if (!/close/i.test(headers.get('connection')?.join(',') ?? ''))
        throw new Error('no Content-Length and not closing');
      body = data.subarray(at);
      at = data.length;
    }
    out.push({ status, headers, body });
    // RFC 9112 §9.6: after a response saying close, the server must not answer anything else.
    if (at < data.length && /close/i.test(headers.get('connection')?.join(',') ?? ''))
      throw new Error(
        `a response after Connection: close: ${JSON.stringify(data.subarray(at, at + 120).toString('latin1'))}`,
      );
  }
  return out;
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Writes bytes in random slices with pauses; resolves with everything the server wrote. */
function exchange(
  port: number,
  bytes: Buffer,
  halfClose: boolean,
): Promise<{ data: Buffer; reset: boolean }> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let reset = false;
    let idle: NodeJS.Timeout | undefined;
    // Without a half-close the server may wait for more: stop once it has been quiet a while.
    const quiet = () => {
      clearTimeout(idle);
      idle = setTimeout(() => socket.destroy(), halfClose ? 5000 : 300);
    };
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      quiet();
    });
    socket.on('error', () => (reset = true));
    socket.on('close', () => {
      clearTimeout(idle);
      resolve({ data: Buffer.concat(chunks), reset });
    });
    socket.on('connect', async () => {
      let at = 0;
      const slices = chance(0.7) ? 1 : 2 + int(6);
      while (at < bytes.length && !socket.destroyed) {
        const n = slices === 1 ? bytes.length : Math.max(1, int(Math.ceil((2 * bytes.length) / slices)));
        socket.write(bytes.subarray(at, at + n));
        at += n;
        if (slices > 1) await sleep(int(15));
      }
      if (socket.destroyed) return;
      if (halfClose) socket.end();
      quiet();
    });
  });
}

// ---------- health check ----------
function addOnFreshConnection(port: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify({ jsonrpc: '2.0', id: 42, method: 'add', params: [2, 5] });
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/',
        agent: false,
        headers: { 'Content-Length': Buffer.byteLength(body) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          try {
            resolve((JSON.parse(Buffer.concat(chunks).toString()) as { result?: unknown }).result);
          } catch (err) {
            reject(err);
          }
        });
      },
    );
    req.setTimeout(2000, () => req.destroy(new Error('add(2,5) took over 2 s')));
    req.on('error', reject);
    req.end(body);
  });
}
let baselineRss = 0;
async function health(server: JsonRpcRunningServer | undefined): Promise<void> {
  if (server !== undefined) {
    try {
      const got = await addOnFreshConnection(server.port);
      if (got !== 7) finding(`health: add(2,5) answered ${JSON.stringify(got)}`);
    } catch (err) {
      finding(`health: add(2,5) failed: ${String(err)}`);
    }
  }
  const rss = process.memoryUsage().rss;
  if (rss - baselineRss > maxRssGrowth)
    finding(`health: RSS grew by ${Math.round((rss - baselineRss) / 1e6)} MB`);
}

// ---------- server targets ----------
async function fuzzServer(kind: 'http' | 'json', deadline: number): Promise<number> {
  const server = await serveJsonRpc(calculatorContract, calculator, {
    port: 0,
    // Tighter than the defaults so a request mutated into "wait for more" ends in seconds.
    headersTimeoutMs: 2000,
    requestTimeoutMs: 3000,
  });
  let done = 0;
  for (iteration = 0; iteration < iterations && Date.now() < deadline; iteration++) {
    let bytes: Buffer;
    let requestText: string | undefined;
    // Unmutated captured requests leading a pipeline: each must get its own add(2,5) = 7.
    let intact = 0;
    if (kind === 'json') {
      requestText = mutateJson();
      const body = Buffer.from(requestText, 'utf8');
      bytes = Buffer.concat([
        Buffer.from(
          `POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`,
        ),
        body,
      ]);
    } else {
      const count = chance(0.15) ? 2 + int(3) : 1;
      const mutated = Array.from({ length: count }, () => chance(0.8));
      intact = mutated.indexOf(true) < 0 ? count : mutated.indexOf(true);
      bytes = Buffer.concat(
        mutated.map((m) => (m ? mutateHttp(pick(SEEDS)) : Buffer.from(pick(SEEDS), 'latin1'))),
      );
    }
    const halfClose = kind === 'json' || chance(0.6);
    const { data } = await exchange(server.port, bytes, halfClose);
    try {
      const responses = parseResponses(data);
      for (const r of responses) {
        if (r.status === 500)
          finding(`HTTP 500: ${r.body.toString('utf8').slice(0, 300)}`, bytes.toString('latin1'));
        const type = r.headers.get('content-type')?.join(',') ?? '';
        if (r.body.length === 0) continue;
        const text = r.body.toString('utf8');
        if (!type.includes('json')) {
          finding(`non-JSON body with status ${r.status}: ${text.slice(0, 200)}`, bytes.toString('latin1'));
          continue;
        }
        const problems =
          requestText !== undefined ? checkJsonReply(requestText, r.status, text) : wellFormed(text);
        for (const p of problems) finding(`reply: ${p}`, requestText ?? bytes.toString('latin1'));
      }
      for (let i = 0; i < intact; i++) {
        const r = responses[i];
        const result =
          r === undefined ? undefined : (JSON.parse(r.body.toString('utf8')) as { result?: unknown }).result;
        if (r?.status !== 200 || result !== 7)
          finding(
            `pipelined request ${i + 1} (unmutated) got ${r === undefined ? 'no response' : `${r.status} ${r.body.toString('utf8').slice(0, 200)}`}`,
            bytes.toString('latin1'),
          );
      }
      if (kind === 'json' && responses.length === 0)
        finding('no response to a well-framed request', requestText);
      if (
        kind === 'json' &&
        responses.length === 1 &&
        requestText !== undefined &&
        responses[0]?.body.length === 0
      ) {
        for (const p of checkJsonReply(requestText, responses[0].status, ''))
          finding(`reply: ${p}`, requestText);
      }
    } catch (err) {
      finding(`malformed HTTP from the server: ${String(err)}`, bytes.toString('latin1'));
    }
    if (verbose)
      console.log(iteration, bytes.length, data.subarray(0, 80).toString('latin1').split('\r\n')[0]);
    done++;
    if (done % checkEvery === 0) await health(server);
  }
  await health(server);
  if (server.connectionCount > 0) {
    await sleep(500);
    if (server.connectionCount > 0)
      finding(`${server.connectionCount} connection(s) still open after the run`);
  }
  await server.close();
  return done;
}

// ---------- client target ----------
const REPLY_BODIES = (id: string): string[] => [
  `{"jsonrpc":"2.0","id":${id},"result":7}`,
  `{"jsonrpc":"2.0","id":${id},"error":{"code":-32601,"message":"nope"}}`,
  `{"jsonrpc":"2.0","id":${id},"error":{"code":1001,"message":"division by zero","data":{"code":"DIVIDE_BY_ZERO"}}}`,
  `{"id":${id},"result":7,"error":null}`,
];
function mutateReplyBody(body: string): string {
  let out = body;
  for (let k = int(3); k > 0; k--) {
    switch (int(9)) {
      case 0:
        out = out.replace(/"result":[^,}]*/, `"result":${render(randomValue())}`);
        break;
      case 1:
        out = out.replace(/"id":[^,}]*/, `"id":${render(randomValue(3))}`);
        break;
      case 2:
        out = out.replace(/"code":[^,}]*/, `"code":${render(randomValue(3))}`);
        break;
      case 3:
        out = out.replace(/"message":"[^"]*"/, `"message":${render(randomValue(3))}`);
        break;
      case 4:
        out = out.slice(0, int(out.length + 1));
        break;
      case 5:
        out = pick([
          `[${out}]`,
          `${out}${out}`,
          `{"__proto__":{"result":1},${out.slice(1)}`,
          `{"constructor":1,${out.slice(1)}`,
          `{"toString":1,${out.slice(1)}`,
          `{"id":1,${out.slice(1)}`,
        ]);
        break;
      case 6:
        out = render(nested(pick([100, 600, 100000])));
        break;
      case 7:
        out = out.replace(/"jsonrpc":"2.0"/, `"jsonrpc":${render(randomValue(3))}`);
        break;
      default:
        out = render(randomValue());
    }
  }
  return out;
}
function mutateReply(id: string): Buffer {
  const body = chance(0.85) ? mutateReplyBody(pick(REPLY_BODIES(id))) : pick(REPLY_BODIES(id));
  const p: Parts = {
    line: 'HTTP/1.1 200 OK',
    headers: [
      ['Content-Type', 'application/json'],
      ['Content-Length', String(Buffer.byteLength(body))],
    ],
    body,
  };
  if (chance(0.4)) {
    pick<(q: Parts) => void>([
      (q) =>
        (q.line = pick([
          'HTTP/1.1 404 Not Found',
          'HTTP/1.1 500 Oops',
          'HTTP/1.1 204 No Content',
          'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK',
          'HTTP/1.1 307 Temporary Redirect\r\nLocation: /x',
          'HTTP/1.0 200 OK',
          'HTTP/1.1 999 X',
          'HTTP/1.1 2000 OK',
          'ICY 200 OK',
          '',
          'HTTP/1.1 413 Too Large',
          'HTTP/1.1 101 Switching Protocols',
        ])),
      (q) =>
        setHeader(
          q,
          'Content-Length',
          pick(['0', '-1', '5, 7', '99999999999', String(Buffer.byteLength(q.body) + 20), 'x']),
        ),
      (q) => {
        setHeader(q, 'Transfer-Encoding', 'chunked');
        q.body = chance(0.5)
          ? chunked(q.body, chance(0.5), chance(0.5) ? 'X: y\r\n' : '')
          : `fffffffffff\r\n${q.body}`;
      },
      (q) => {
        q.headers = q.headers.filter(([n]) => n !== 'Content-Length');
        q.headers.push(['Connection', 'close']);
      },
      (q) =>
        q.headers.push([
          'Content-Encoding',
          pick(['gzip', 'br', 'deflate', 'gzip, gzip, gzip, gzip', 'identity']),
        ]),
      (q) => q.headers.push(['Content-Type', pick(['text/html', '', 'application/json; charset=latin1'])]),
      (q) => {
        for (let i = 0; i < 3000; i++) q.headers.push([`X-${i}`, 'v'.repeat(20)]);
      },
      (q) => q.headers.push(['X', 'a\r\n folded']),
    ])(p);
  }
  const head = [p.line, ...p.headers.map(([n, v]) => `${n}: ${v}`)].join('\r\n');
  const bytes = Buffer.from(`${head}\r\n\r\n${p.body}`, 'utf8');
  return chance(0.1) ? byteFlip(bytes) : bytes;
}
type ServerMode = 'reply' | 'silent' | 'close' | 'flood' | 'trickle';
async function fuzzClient(deadline: number): Promise<number> {
  const limit = 64 * 1024;
  const timeoutMs = 1000;
  let mode: ServerMode = 'reply';
  let reply: (id: string) => Buffer = mutateReply;
  const sockets = new Set<net.Socket>();
  const fake = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let buf = '';
    socket.on('data', async (d: Buffer) => {
      buf += d.toString('latin1');
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const len = Number(/content-length: *(\d+)/i.exec(buf)?.[1] ?? 0);
      if (buf.length < end + 4 + len) return;
      const id = /"id":(\d+)/.exec(buf)?.[1] ?? 'null';
      buf = '';
      const bytes = reply(id);
      if (mode === 'silent') return;
      if (mode === 'close') return void socket.destroy();
      if (mode === 'flood') {
        socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n');
        const chunk = `${(16 * 1024).toString(16)}\r\n${' '.repeat(16 * 1024)}\r\n`;
        // Bounded: four times the client's limit, then stop.
        for (let i = 0; i < 16 && !socket.destroyed; i++) {
          if (!socket.write(chunk)) await new Promise((r) => socket.once('drain', r));
        }
        return;
      }
      if (mode === 'trickle') {
        for (let at = 0; at < bytes.length && !socket.destroyed; at += 1 + int(40)) {
          socket.write(bytes.subarray(at, at + 1 + int(40)));
          await sleep(int(5));
        }
      } else socket.write(bytes);
      if (chance(0.2)) socket.end();
    });
  });
  await new Promise<void>((r) => fake.listen(0, '127.0.0.1', r));
  const port = (fake.address() as net.AddressInfo).port;
  const client = connectJsonRpc(calculatorContract, {
    host: '127.0.0.1',
    port,
    timeoutMs,
    maxMessageBytes: limit,
  });
  let done = 0;
  const outcomes = new Map<string, number>();
  for (iteration = 0; iteration < iterations && Date.now() < deadline; iteration++) {
    mode = chance(0.9) ? 'reply' : pick<ServerMode>(['silent', 'close', 'flood', 'trickle']);
    let input = '';
    reply = (id) => {
      const b = mutateReply(id);
      input = b.toString('latin1');
      return b;
    };
    const call = chance(0.5) ? client.add(2, 5) : client.divide(1, 2);
    const guard = sleep(timeoutMs + 3000).then(() => 'hang' as const);
    const outcome = await Promise.race([
      call.then(
        (v: unknown) => ({ ok: true as const, v }),
        (e: unknown) => ({ ok: false as const, e }),
      ),
      guard,
    ]);
    if (outcome === 'hang')
      finding(`client call did not settle within ${timeoutMs + 3000} ms (mode ${mode})`, input);
    else if (outcome.ok) {
      if (typeof outcome.v !== 'number')
        finding(`client result is not a number: ${String(outcome.v)}`, input);
    } else if (!(outcome.e instanceof RpcError))
      finding(`client rejected with a non-RpcError: ${String(outcome.e)}`, input);
    else if (outcome.e.code === 'TIMEOUT' && mode === 'reply' && verbose)
      console.log(`timeout on a reply: ${JSON.stringify(input.slice(0, 200))}`);
    const kind =
      outcome === 'hang'
        ? 'hang'
        : outcome.ok
          ? 'result'
          : outcome.e instanceof RpcError
            ? outcome.e.code
            : 'other';
    outcomes.set(`${mode} ${kind}`, (outcomes.get(`${mode} ${kind}`) ?? 0) + 1);
    if (verbose)
      console.log(
        iteration,
        mode,
        outcome === 'hang' ? 'hang' : outcome.ok ? outcome.v : (outcome.e as Error).message,
      );
    done++;
    if (done % checkEvery === 0) await health(undefined);
  }
  // What the calls came to, by server behaviour: shows the mutations reach every error path.
  console.log(
    [...outcomes]
      .sort()
      .map(([k, n]) => `${k}: ${n}`)
      .join(', '),
  );
  await client.close();
  for (const s of sockets) s.destroy();
  await new Promise<void>((r) => fake.close(() => r()));
  await health(undefined);
  return done;
}

async function main(): Promise<void> {
  baselineRss = process.memoryUsage().rss;
  const deadline = Date.now() + budgetMs;
  const started = Date.now();
  let done: number;
  if (target === 'http' || target === 'json') done = await fuzzServer(target, deadline);
  else if (target === 'client') done = await fuzzClient(deadline);
  else throw new Error(`unknown --target ${target} (http, json or client)`);
  console.log(
    `target ${target} seed ${seed}: ${done} iterations in ${((Date.now() - started) / 1000).toFixed(1)} s, ${findings.length} finding(s)`,
  );
  process.exitCode = findings.length > 0 ? 1 : 0;
}

await main();
