/**
 * SOAP over HTTP/1.1, server side. GET ?wsdl serves the WSDL (its soap:address is where this
 * server listens); POST takes a SOAP 1.1 (text/xml) or 1.2 (application/soap+xml) envelope and
 * answers in that version's envelope and Fault form. Bodies over the limit get 413 before they
 * are buffered; a DOCTYPE, deep nesting or a malformed document gets a Client Fault; arguments
 * are checked against their XSD types before the shared dispatcher sees them.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createDispatcher } from '../../contract/dispatch.js';
import { MessageTooLargeError, NoSuchMethodError, type RpcError, toRpcError } from '../../contract/errors.js';
import type { Contract, Implementation } from '../../contract/spec.js';
import { AnswerThenError, clientErrorStatus } from '../../serve/answer-then-error.js';
import { drainableHttp } from '../../serve/http.js';
import { closedForRequests, lingerOnClose } from '../../serve/lingering-close.js';
import { readBoundedBody } from '../jsonrpc/bounded-body.js';
import type { RunningServer } from '../types.js';
import {
  CONTENT_TYPE,
  envelopeVersion,
  type FaultSpec,
  faultEnvelope,
  messageEnvelope,
  readBody,
} from './envelope.js';
import { faultFor } from './faults.js';
import { modelFromContract, type SoapServiceModel, type SoapVersion } from './model.js';
import { decodeArguments } from './values.js';
import { writeWsdl } from './wsdl-write.js';
import { DEFAULT_MAX_DEPTH, parseXml, XmlRefused } from './xml.js';

export const DEFAULT_HEADERS_TIMEOUT_MS = 10_000;
export const DEFAULT_REQUEST_TIMEOUT_MS = 60_000;

export interface SoapServeOptions {
  host: string;
  port: number;
  maxMessageBytes: number;
  /** Deepest XML nesting accepted in a request (default 64). */
  maxDepth?: number;
  headersTimeoutMs?: number;
  requestTimeoutMs?: number;
}

export interface SoapRunningServer extends RunningServer {
  /** The WSDL served at ?wsdl. */
  readonly wsdl: string;
  readonly connectionCount: number;
}

/** The SOAP version a Content-Type asks for, or undefined for one that is not SOAP. */
export function versionForContentType(header: string | undefined): SoapVersion | undefined {
  const media = (header ?? '').split(';')[0]!.trim().toLowerCase();
  if (media === 'text/xml') return '1.1';
  if (media === 'application/soap+xml') return '1.2';
  return undefined;
}

export function wantsWsdl(url: string | undefined): boolean {
  const query = (url ?? '').split('?')[1];
  return query?.split('&').some((q) => q.toLowerCase() === 'wsdl') === true;
}

/**
 * The transport-free part: one request body (already bounded) in, the status and envelope out.
 * Exported for the fuzz harness and unit tests.
 */
export function createSoapHandler<C extends Contract>(
  contract: C,
  impl: Implementation<C>,
  model: SoapServiceModel,
  maxDepth = DEFAULT_MAX_DEPTH,
): (version: SoapVersion, body: Buffer) => Promise<{ status: number; xml: string }> {
  const dispatch = createDispatcher(contract, impl);
  const ns = model.targetNamespace;
  const fault = (version: SoapVersion, spec: FaultSpec) => ({
    status: 500,
    xml: faultEnvelope(version, spec),
  });
  const errorFault = (version: SoapVersion, err: RpcError) => fault(version, faultFor(err, ns));
  return async (version, body) => {
    let root: ReturnType<typeof parseXml>;
    try {
      let text = body.toString('utf8');
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      root = parseXml(text, { maxDepth });
    } catch (err) {
      const why = err instanceof XmlRefused ? err.message : String(err);
      return fault(version, { side: 'client', message: why });
    }
    const sent = envelopeVersion(root);
    if (sent === undefined)
      return fault(version, {
        side: 'client',
        message: `expected a SOAP ${version} Envelope, got <${root.local}>`,
      });
    if (sent !== version)
      return fault(version, {
        side: 'version',
        message: `a SOAP ${sent} envelope sent as SOAP ${version} (Content-Type ${CONTENT_TYPE[version]})`,
      });
    try {
      const content = readBody(root, version);
      if (content.kind === 'fault')
        return fault(version, { side: 'client', message: 'a request cannot be a Fault' });
      const el = content.element;
      const op = el.ns === ns ? model.operations.get(el.local) : undefined;
      if (op === undefined) throw new NoSuchMethodError(el.ns === ns ? el.local : `{${el.ns}}${el.local}`);
      const spec = contract.methods[op.name]!;
      const args = decodeArguments(op.input, spec.params, el);
      const result = await dispatch(op.name, args);
      if (op.output === undefined) return { status: 202, xml: '' };
      return { status: 200, xml: messageEnvelope(version, op.output, [result]) };
    } catch (err) {
      return errorFault(version, toRpcError(err));
    }
  };
}

export async function serveSoap<C extends Contract>(
  contract: C,
  impl: Implementation<C>,
  options: SoapServeOptions,
): Promise<SoapRunningServer> {
  const limit = options.maxMessageBytes;
  let model = modelFromContract(contract);
  const handle = createSoapHandler(contract, impl, model, options.maxDepth);
  let wsdl = '';
  let wsdlFor: (hostHeader: string | undefined) => string = () => wsdl;

  const send = (res: http.ServerResponse, status: number, type: string, text: string, close = false) => {
    if (res.headersSent || res.destroyed) return;
    const headers: http.OutgoingHttpHeaders = {
      'Content-Type': type,
      'Content-Length': Buffer.byteLength(text),
    };
    if (close) {
      headers.Connection = 'close';
      lingerOnClose(res.req);
    }
    res.writeHead(status, headers);
    res.end(text);
  };
  const tooLarge = (res: http.ServerResponse, version: SoapVersion, size: number) =>
    send(
      res,
      413,
      CONTENT_TYPE[version],
      faultEnvelope(version, faultFor(new MessageTooLargeError(size, limit), model.targetNamespace)),
      true,
    );

  const onRequest = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    // RFC 9112 §3.2; checked here rather than by Node so that the answer closes the connection
    // through send(), and nothing pipelined behind it runs.
    if (req.httpVersionMajor === 1 && req.httpVersionMinor === 1 && !req.headers.host) {
      send(res, 400, 'text/plain; charset=utf-8', 'an HTTP/1.1 request must carry a Host header\n', true);
      return;
    }
    if (req.method === 'GET' || req.method === 'HEAD') {
      if (wantsWsdl(req.url)) send(res, 200, 'text/xml; charset=utf-8', wsdlFor(req.headers.host));
      else send(res, 404, 'text/plain; charset=utf-8', 'SOAP endpoint: POST an envelope, or GET ?wsdl\n');
      return;
    }
    if (req.method !== 'POST') {
      res.setHeader('Allow', 'GET, POST');
      send(res, 405, 'text/plain; charset=utf-8', `${req.method} is not allowed\n`, true);
      return;
    }
    const version = versionForContentType(req.headers['content-type']);
    if (version === undefined) {
      const why = 'Content-Type must be text/xml (SOAP 1.1) or application/soap+xml (SOAP 1.2)\n';
      send(res, 415, 'text/plain; charset=utf-8', why, true);
      return;
    }
    const coding = (req.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
    if (coding !== 'identity') {
      send(res, 415, 'text/plain; charset=utf-8', `Content-Encoding ${coding} is not supported\n`, true);
      return;
    }
    const body = await readBoundedBody(req, limit);
    if (body.kind === 'aborted') {
      res.destroy();
      return;
    }
    if (body.kind === 'too-large') {
      tooLarge(res, version, body.size);
      return;
    }
    const { status, xml } = await handle(version, body.body);
    send(res, status, CONTENT_TYPE[version], xml);
  };

  const server = http.createServer(
    {
      headersTimeout: options.headersTimeoutMs ?? DEFAULT_HEADERS_TIMEOUT_MS,
      requestTimeout: options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
      connectionsCheckingInterval: 1_000,
      requireHostHeader: false, // checked in onRequest
    },
    (req, res) => dispatchRequest(req, res),
  );
  const answers = new AnswerThenError(options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS);
  function dispatchRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    // Sent after an answer that closed the connection: dropped unread, never run or answered.
    if (closedForRequests(req.socket)) {
      req.resume();
      return;
    }
    answers.track(res);
    onRequest(req, res).catch((err: unknown) => {
      // Only a bug lands here: answer it (or cut the connection) rather than leave a client hanging.
      if (res.headersSent) res.destroy();
      else
        send(
          res,
          500,
          CONTENT_TYPE['1.1'],
          faultEnvelope('1.1', faultFor(toRpcError(err), model.targetNamespace)),
          true,
        );
    });
  }
  // Expect: 100-continue with an oversized Content-Length is refused before the body is sent.
  server.on('checkContinue', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const declared = Number(req.headers['content-length']);
    if (closedForRequests(req.socket)) {
      dispatchRequest(req, res);
      return;
    }
    if (Number.isFinite(declared) && declared > limit) {
      answers.track(res);
      tooLarge(res, versionForContentType(req.headers['content-type']) ?? '1.1', declared);
      return;
    }
    res.writeContinue();
    dispatchRequest(req, res);
  });
  // Malformed HTTP or a timeout: the whole requests before it are answered, then the status.
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    answers.clientError(socket, clientErrorStatus(err.code));
  });
  // GET/HEAD /healthz, and graceful drain (src/serve/http.ts), around the handlers above.
  const drainer = drainableHttp(server);
  let connections = 0;
  server.on('connection', (socket) => {
    connections++;
    socket.once('close', () => connections--);
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const urlHost = options.host.includes(':') ? `[${options.host}]` : options.host;
  const address = `http://${urlHost}:${port}/`;
  model = modelFromContract(contract, address);
  wsdl = writeWsdl(model, address);
  // Listening on every interface, 0.0.0.0 is no address a client can use: the WSDL then names
  // the host the client asked for (its Host header, when it is a plain host[:port]).
  const wildcard = options.host === '0.0.0.0' || options.host === '::';
  const perHost = new Map<string, string>();
  wsdlFor = (hostHeader) => {
    if (
      !wildcard ||
      hostHeader === undefined ||
      !/^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/.test(hostHeader)
    )
      return wsdl;
    let text = perHost.get(hostHeader);
    if (text === undefined) {
      // Host names the authority the client used (no port: 80, as a URL without one says).
      const where = `http://${hostHeader}/`;
      text = writeWsdl(model, where);
      if (perHost.size >= 16) perHost.clear();
      perHost.set(hostHeader, text);
    }
    return text;
  };
  return {
    host: options.host,
    port,
    address,
    wsdl,
    get connectionCount() {
      return connections;
    },
    drain: (graceMs: number) => drainer.drain(graceMs),
    close: () =>
      new Promise<void>((resolve) => {
        if (!server.listening) {
          // Drained (or closing): the close callback would never come a second time.
          server.closeAllConnections();
          resolve();
          return;
        }
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
