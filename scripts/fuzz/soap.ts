/**
 * Fuzzes the SOAP server, client and WSDL reader with mutated XML (loopback only).
 *
 *   npx tsx scripts/fuzz/soap.ts [--target server|client|wsdl|all] [--seed N]
 *                                [--iterations N] [--seconds N] [--batch N]
 *
 * Corpus: requests as our client, zeep and node-soap write them (SOAP 1.1 and 1.2, qualified
 * and unqualified children, xsi:nil, CDATA, comments), our replies and Faults and Spyne's, and
 * our WSDL and Spyne's. Mutations: bit flips, truncation, duplication, splices of corpus pieces,
 * inserted markup (DOCTYPE, entities, numeric character references out of range, CDATA ends,
 * namespace rebindings, deep nesting, huge numbers, invalid UTF-8).
 *
 * server: each mutated request goes to the transport-free handler; the answer must be a
 * well-formed envelope of the request's version (a response or a Fault), with status 200 or
 * 500, and nothing may throw. Every batch also goes over HTTP to a running server, each
 * exchange under a deadline, and then add(2, 5) must be 7 and the RSS below a ceiling.
 * client: a fake server answers each call with a mutated reply; every call must settle as a
 * result or an RpcError within its timeout plus a grace.
 * wsdl: parseWsdl must return a model or throw InvalidArgumentError, nothing else.
 *
 * Findings go to stdout; the exit code is 1 when any was found.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { calculator, calculatorContract, InvalidArgumentError, RpcError } from '../../src/contract/index.js';
import {
  envelopeVersion,
  faultEnvelope,
  messageEnvelope,
  readBody,
} from '../../src/protocols/soap/envelope.js';
import { soap } from '../../src/protocols/soap/index.js';
import { modelFromContract, type SoapVersion } from '../../src/protocols/soap/model.js';
import { createSoapHandler } from '../../src/protocols/soap/server.js';
import { parseWsdl } from '../../src/protocols/soap/wsdl-read.js';
import { writeWsdl } from '../../src/protocols/soap/wsdl-write.js';
import { parseXml } from '../../src/protocols/soap/xml.js';
import { option, prng } from './common.js';
import { SPYNE_WSDL, spyneReplies, thirdPartyRequests } from './soap-corpus.js';

const target = option('target', 'all');
const seed = Number(option('seed', String(Date.now() % 1_000_000)));
const iterations = Number(option('iterations', '3000'));
const seconds = Number(option('seconds', '60'));
const batch = Number(option('batch', '100'));
const random = prng(seed);
const deadline = Date.now() + seconds * 1000;
const findings: string[] = [];

const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
const int = (n: number) => Math.floor(random() * n);

function finding(what: string, input: string | Buffer): void {
  const text = Buffer.isBuffer(input) ? input.toString('latin1') : input;
  findings.push(`${what} [seed ${seed}] input: ${JSON.stringify(text.slice(0, 600))}`);
  console.log(findings[findings.length - 1]);
}

// ---- corpus and mutations ------------------------------------------------------------------

const model = modelFromContract(calculatorContract, 'http://127.0.0.1:8000/');
const op = (name: string) => model.operations.get(name)!;

function ourRequests(): { version: SoapVersion; xml: string }[] {
  const out: { version: SoapVersion; xml: string }[] = [];
  for (const version of ['1.1', '1.2'] as const) {
    out.push(
      { version, xml: messageEnvelope(version, op('add').input, [2, 5]) },
      { version, xml: messageEnvelope(version, op('divide').input, [1, 0]) },
      { version, xml: messageEnvelope(version, op('divide').input, [Number.NEGATIVE_INFINITY, Number.NaN]) },
      { version, xml: messageEnvelope(version, op('echo').input, [Buffer.from('hello')]) },
      { version, xml: messageEnvelope(version, op('add').input, [null, 'x']) },
    );
  }
  return [...out, ...thirdPartyRequests()];
}

const INSERTS = [
  '<!DOCTYPE x [<!ENTITY a "b">]>',
  '&a;',
  '&#0;',
  '&#x110000;',
  '&#xD800;',
  '&lt;',
  ']]>',
  '<![CDATA[<t:a>1</t:a>]]>',
  '<!-- c -->',
  '<?pi x?>',
  ' xmlns:t="other"',
  ' xmlns=""',
  ' xsi:nil="true"',
  '<t:a>99999999999999999999999</t:a>',
  '<t:b>1e99999</t:b>',
  '<t:data>AQ=A</t:data>',
  '\uFEFF',
  '<x>'.repeat(200),
  '</x>',
  '\u0000',
];

function mutate(text: string): string {
  let s = text;
  for (let n = 1 + int(4); n > 0; n--) {
    const at = int(s.length + 1);
    switch (int(7)) {
      case 0: {
        const chars = [...s];
        const i = int(chars.length);
        if (chars[i] !== undefined) chars[i] = String.fromCharCode(chars[i]!.charCodeAt(0) ^ (1 << int(7)));
        s = chars.join('');
        break;
      }
      case 1:
        s = s.slice(0, at);
        break;
      case 2: {
        const len = int(60);
        s = s.slice(0, at) + s.slice(at, at + len) + s.slice(at);
        break;
      }
      case 3:
        s = s.slice(0, at) + pick(INSERTS) + s.slice(at);
        break;
      case 4:
        s = s.slice(0, at) + s.slice(at + int(40));
        break;
      case 5: {
        const other = pick(ourRequests()).xml;
        const from = int(other.length);
        s = s.slice(0, at) + other.slice(from, from + int(120)) + s.slice(at);
        break;
      }
      default:
        s = s.replace(
          />[^<]*</,
          `>${pick(['', ' ', '-0', '+1', '2147483648', 'INF', 'NaN', '0x10', '1 2'])}<`,
        );
    }
  }
  return s;
}

function toBytes(text: string): Buffer {
  const buf = Buffer.from(text, 'utf8');
  // Sometimes invalid UTF-8 too.
  if (random() < 0.1 && buf.length > 0) buf[int(buf.length)] = 0xc0 | int(64);
  return buf;
}

// ---- server target ----------------------------------------------------------------------------

function checkAnswer(version: SoapVersion, status: number, xml: string, input: Buffer): void {
  if (status !== 200 && status !== 500) {
    finding(`server answered status ${status}`, input);
    return;
  }
  try {
    const root = parseXml(xml);
    if (envelopeVersion(root) !== version) {
      finding('server answered in the wrong envelope version', input);
      return;
    }
    const body = readBody(root, version);
    if (status === 500 && body.kind !== 'fault') finding('status 500 without a Fault', input);
    if (status === 200 && body.kind === 'fault') finding('a Fault with status 200', input);
  } catch (err) {
    finding(`server answer is not a usable envelope: ${String(err)}`, input);
  }
}

function httpPost(port: number, version: SoapVersion, body: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1',
      port,
      method: 'POST',
      path: '/',
      agent: false,
      headers: {
        'Content-Type': version === '1.1' ? 'text/xml' : 'application/soap+xml',
        'Content-Length': body.length,
      },
    });
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error('no answer within 10 s'));
    }, 10_000);
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => {
        clearTimeout(timer);
        resolve(res.statusCode ?? 0);
      });
    });
    req.end(body);
  });
}

async function fuzzServer(): Promise<number> {
  const handle = createSoapHandler(calculatorContract, calculator, model);
  const server = await soap.serve(calculatorContract, calculator, { port: 0 });
  const client = await soap.connect(calculatorContract, { port: server.port, timeoutMs: 10_000 });
  const corpus = ourRequests();
  const rssCeiling = process.memoryUsage().rss + 512 * 1024 * 1024;
  let done = 0;
  try {
    while (done < iterations && Date.now() < deadline) {
      const inputs: { version: SoapVersion; body: Buffer }[] = [];
      for (let i = 0; i < batch && done < iterations; i++, done++) {
        const { version, xml } = pick(corpus);
        const body = toBytes(mutate(xml));
        inputs.push({ version, body });
        try {
          const { status, xml: answer } = await handle(version, body);
          checkAnswer(version, status, answer, body);
        } catch (err) {
          finding(`handler threw ${String(err)}`, body);
        }
      }
      for (const { version, body } of inputs.slice(0, 20)) {
        try {
          const status = await httpPost(server.port, version, body);
          if (status !== 200 && status !== 500) finding(`HTTP status ${status}`, body);
        } catch (err) {
          finding(`HTTP exchange failed: ${String(err)}`, body);
        }
      }
      const sum = await client.add(2, 5).catch((err: unknown) => String(err));
      if (sum !== 7) finding(`add(2, 5) after a batch gave ${String(sum)}`, '');
      if (process.memoryUsage().rss > rssCeiling) finding('RSS above the ceiling', '');
    }
  } finally {
    await client.close();
    await server.close();
  }
  return done;
}

// ---- client target ----------------------------------------------------------------------------

async function fuzzClient(): Promise<number> {
  const replies = [
    ...(['1.1', '1.2'] as const).flatMap((v) => [
      messageEnvelope(v, op('add').output!, [7]),
      faultEnvelope(v, {
        side: 'client',
        message: 'division by zero',
        detail: { ns: 'calc.soap', element: 'DivideByZero', code: 'DIVIDE_BY_ZERO' },
      }),
    ]),
    ...spyneReplies(),
  ];
  let reply: Buffer = Buffer.alloc(0);
  let status = 200;
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(status, { 'Content-Type': 'text/xml' });
      res.end(reply);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const client = await soap.connect(calculatorContract, { port, timeoutMs: 2_000 });
  let done = 0;
  try {
    for (; done < iterations && Date.now() < deadline; done++) {
      const original = pick(replies);
      const mutated = random() < 0.1 ? original : mutate(original);
      reply = toBytes(mutated);
      status = pick([200, 200, 500, 400, 404]);
      const started = Date.now();
      try {
        const sum = await client.add(2, 5);
        if (typeof sum !== 'number') finding(`client returned ${typeof sum}`, reply);
      } catch (err) {
        if (!(err instanceof RpcError)) finding(`client threw a non-RpcError: ${String(err)}`, reply);
      }
      if (Date.now() - started > 5_000) finding('a call took longer than its timeout and grace', reply);
    }
  } finally {
    await client.close();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }
  return done;
}

// ---- WSDL target ---------------------------------------------------------------------------

function fuzzWsdl(): number {
  const corpus = [writeWsdl(model, 'http://127.0.0.1:8000/'), SPYNE_WSDL];
  let done = 0;
  for (; done < iterations && Date.now() < deadline; done++) {
    const text = mutate(pick(corpus));
    try {
      parseWsdl(text, 'fuzz.wsdl');
    } catch (err) {
      if (!(err instanceof InvalidArgumentError)) finding(`parseWsdl threw ${String(err)}`, text);
    }
  }
  return done;
}

const ran: string[] = [];
if (target === 'server' || target === 'all') ran.push(`server: ${await fuzzServer()} inputs`);
if (target === 'client' || target === 'all') ran.push(`client: ${await fuzzClient()} replies`);
if (target === 'wsdl' || target === 'all') ran.push(`wsdl: ${fuzzWsdl()} documents`);
console.log(`soap fuzz, seed ${seed}: ${ran.join('; ')}; ${findings.length} finding(s)`);
process.exit(findings.length > 0 ? 1 : 0);
