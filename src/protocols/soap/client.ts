/**
 * SOAP over HTTP/1.1, client side, generic over any contract. Operations come from a WSDL (a
 * file or a URL's ?wsdl) or, without one, from the contract itself in the form our server and
 * Spyne use. Arguments are written by their XSD types; replies are read back to numbers, bytes
 * and strings, and Faults become typed errors.
 */
import http from 'node:http';
import { createClient } from '../../contract/client.js';
import {
  InternalError,
  InvalidArgumentError,
  ProtocolError,
  RpcError,
  TransportError,
} from '../../contract/errors.js';
import { type Client, type Contract, getMethod } from '../../contract/spec.js';
import { withTimeout } from '../../net/deadline.js';
import { CONTENT_TYPE, envelopeVersion, messageEnvelope, readBody, UnwritableValue } from './envelope.js';
import { errorFromFault } from './faults.js';
import { type Exchange, exchange, type HttpReply } from './http.js';
import { modelFromContract, type SoapOperation, type SoapServiceModel, type SoapVersion } from './model.js';
import { decodeResult } from './values.js';
import { parseXml, XmlRefused } from './xml.js';

export interface SoapConnectOptions {
  /** Where envelopes are POSTed. */
  readonly endpoint: URL;
  readonly version: SoapVersion;
  readonly timeoutMs: number;
  readonly maxMessageBytes: number;
  /** Operations from a WSDL; without one, the contract's own. */
  readonly model?: SoapServiceModel;
}

export function connectSoap<C extends Contract>(contract: C, options: SoapConnectOptions): Client<C> {
  const own = modelFromContract(contract);
  const model = options.model ?? own;
  const agent = new http.Agent({ keepAlive: true });
  const where = options.endpoint.href;
  const inFlight = new Set<Exchange>();
  let closed = false;

  const send = async (op: SoapOperation, body: Buffer, idempotent: boolean): Promise<HttpReply> => {
    const headers: http.OutgoingHttpHeaders =
      options.version === '1.1'
        ? { 'Content-Type': CONTENT_TYPE['1.1'], SOAPAction: `"${op.soapAction}"` }
        : { 'Content-Type': `${CONTENT_TYPE['1.2']}; action="${op.soapAction}"` };
    for (let attempt = 0; ; attempt++) {
      const pending = exchange({
        agent,
        url: options.endpoint,
        method: 'POST',
        headers,
        body,
        maxResponseBytes: options.maxMessageBytes,
      });
      inFlight.add(pending);
      try {
        return await withTimeout(pending.result, options.timeoutMs, `SOAP call ${op.name} to ${where}`, () =>
          pending.abort(new TransportError('call timed out')),
        );
      } catch (err) {
        // A keep-alive socket the server closed while idle: the request never arrived.
        if (!(idempotent && attempt === 0 && pending.diedOnStaleSocket() && !closed)) throw err;
      } finally {
        inFlight.delete(pending);
      }
    }
  };

  const call = async (method: string, args: readonly unknown[]): Promise<unknown> => {
    const spec = getMethod(contract, method);
    // A method the WSDL lacks is still sent (as the contract describes it): the server decides.
    const op = model.operations.get(method) ?? own.operations.get(method);
    if (spec === undefined || op === undefined)
      throw new InvalidArgumentError(`no such method in the contract: ${method}`);
    if (closed) throw new TransportError(`client for ${where} is closed`);
    let envelope: string;
    try {
      envelope = messageEnvelope(options.version, op.input, args);
    } catch (err) {
      if (err instanceof UnwritableValue) throw new InvalidArgumentError(`${method}: ${err.message}`);
      throw err;
    }
    const reply = await send(op, Buffer.from(envelope, 'utf8'), spec.idempotent === true);
    if (reply.status === 413)
      throw new RpcError('MESSAGE_TOO_LARGE', `${where} refused the request as too large (HTTP 413)`);
    if (!/xml/i.test(reply.contentType) || reply.body.length === 0) {
      if (reply.status === 202 && op.output === undefined) return undefined;
      // A server that failed before it could write a Fault (Spyne's SOAP 1.2 validation errors
      // end as a WSGI "A server error occurred") is the server's INTERNAL error.
      // 502, 503 and 504 come from a gateway (HAProxy) or a draining server, not from the SOAP
      // service failing: the call did not reach a server that could answer, so TRANSPORT.
      if (reply.status >= 500 && ![502, 503, 504].includes(reply.status)) {
        const said = reply.body.subarray(0, 200).toString('utf8').replace(/\s+/g, ' ').trim();
        throw new InternalError(`${where} failed with HTTP ${reply.status} and no SOAP Fault: ${said}`);
      }
      throw new TransportError(
        `${where} replied HTTP ${reply.status} (${reply.contentType || 'no content type'}), not SOAP`,
      );
    }
    let root: ReturnType<typeof parseXml>;
    try {
      root = parseXml(reply.body.toString('utf8').replace(/^\uFEFF/, ''));
    } catch (err) {
      const why = err instanceof XmlRefused ? err.message : String(err);
      throw reply.status === 200
        ? new ProtocolError(`${where} sent a reply that is not usable XML: ${why}`)
        : new TransportError(`${where} replied HTTP ${reply.status}`);
    }
    const version = envelopeVersion(root);
    if (version === undefined)
      throw new ProtocolError(`${where} replied with <${root.local}>, not a SOAP envelope`);
    const content = readBody(root, version);
    if (content.kind === 'fault') throw errorFromFault(content.fault, where);
    if (reply.status !== 200)
      throw new TransportError(`${where} replied HTTP ${reply.status} without a Fault`);
    if (op.output === undefined) return undefined;
    if (content.element.local !== op.output.element)
      throw new ProtocolError(
        `${where} answered ${method} with <${content.element.local}>, expected <${op.output.element}>`,
      );
    try {
      return decodeResult(op.output, spec.result, content.element);
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      throw new ProtocolError(`${where} sent a result that does not fit its type: ${why}`, { cause: err });
    }
  };

  return createClient(contract, {
    call,
    close: async () => {
      closed = true;
      for (const pending of inFlight) pending.abort(new TransportError(`client for ${where} was closed`));
      agent.destroy();
    },
  });
}
