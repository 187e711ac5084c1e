/**
 * SOAP 1.1 and 1.2 envelopes: writing requests, responses and Faults in each version's own
 * form, and reading an envelope down to its body's first element (or its Fault).
 */
import { ProtocolError } from '../../contract/errors.js';
import type { SoapMessage, SoapVersion } from './model.js';
import { childElements, escapeXml as esc, firstChild, hasIllegalXmlChars, type XmlElement } from './xml.js';
import { formatXsd } from './xsd.js';

export const SOAP11_ENV = 'http://schemas.xmlsoap.org/soap/envelope/';
export const SOAP12_ENV = 'http://www.w3.org/2003/05/soap-envelope';

export const CONTENT_TYPE: Readonly<Record<SoapVersion, string>> = {
  '1.1': 'text/xml; charset=utf-8',
  '1.2': 'application/soap+xml; charset=utf-8',
};

export function envNamespace(version: SoapVersion): string {
  return version === '1.1' ? SOAP11_ENV : SOAP12_ENV;
}

function envelope(version: SoapVersion, body: string, extraNs = ''): string {
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n<soap:Envelope xmlns:soap="${envNamespace(version)}"${extraNs}>` +
    `<soap:Body>${body}</soap:Body></soap:Envelope>`
  );
}

/** Thrown for a value XML cannot carry (a string with a NUL): the caller's argument is bad. */
export class UnwritableValue extends Error {}

/** A wrapper element holding `values` for `message`'s parts, in order. */
export function wrapperXml(message: SoapMessage, values: readonly unknown[]): string {
  const children = message.parts
    .map((part, i) => {
      const value = values[i];
      const tag = message.qualified ? `tns:${part.name}` : part.name;
      if (value === null || value === undefined)
        return `<${tag} xsi:nil="true" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"/>`;
      const text = formatXsd(part.type, value);
      if (typeof value === 'string' && hasIllegalXmlChars(text))
        throw new UnwritableValue(`${part.name}: the value holds characters XML 1.0 cannot carry`);
      return `<${tag}>${esc(text)}</${tag}>`;
    })
    .join('');
  return `<tns:${message.element} xmlns:tns="${esc(message.ns)}">${children}</tns:${message.element}>`;
}

export function messageEnvelope(
  version: SoapVersion,
  message: SoapMessage,
  values: readonly unknown[],
): string {
  return envelope(version, wrapperXml(message, values));
}

export interface FaultSpec {
  /** 'Client'/'Server' (1.1) and 'Sender'/'Receiver' (1.2) are chosen from this by version. */
  readonly side: 'client' | 'server' | 'version';
  readonly message: string;
  /** Detail element: local name in `ns`, holding our stable code and the message. */
  readonly detail?: { readonly ns: string; readonly element: string; readonly code: string };
}

function clean(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: replacing what XML cannot carry
  return text.replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g, '\uFFFD');
}

export function faultEnvelope(version: SoapVersion, fault: FaultSpec): string {
  const message = esc(clean(fault.message));
  const detail = fault.detail
    ? `<tns:${fault.detail.element} xmlns:tns="${esc(fault.detail.ns)}"><tns:code>${esc(fault.detail.code)}</tns:code>` +
      `<tns:message>${message}</tns:message></tns:${fault.detail.element}>`
    : '';
  if (version === '1.1') {
    const code = { client: 'Client', server: 'Server', version: 'VersionMismatch' }[fault.side];
    return envelope(
      version,
      `<soap:Fault><faultcode>soap:${code}</faultcode><faultstring>${message}</faultstring>` +
        (detail ? `<detail>${detail}</detail>` : '') +
        '</soap:Fault>',
    );
  }
  const code = { client: 'Sender', server: 'Receiver', version: 'VersionMismatch' }[fault.side];
  return envelope(
    version,
    `<soap:Fault><soap:Code><soap:Value>soap:${code}</soap:Value></soap:Code>` +
      `<soap:Reason><soap:Text xml:lang="en">${message}</soap:Text></soap:Reason>` +
      (detail ? `<soap:Detail>${detail}</soap:Detail>` : '') +
      '</soap:Fault>',
  );
}

export interface ReceivedFault {
  /** The code as written, resolved: { ns, local } of faultcode / Code/Value, plus subcodes. */
  readonly codes: readonly { readonly ns: string; readonly local: string }[];
  readonly message: string;
  readonly detail: readonly XmlElement[];
}

export type BodyContent =
  | { readonly kind: 'element'; readonly element: XmlElement }
  | { readonly kind: 'fault'; readonly fault: ReceivedFault };

/** The SOAP version an envelope is written in, or undefined when it is not an envelope. */
export function envelopeVersion(root: XmlElement): SoapVersion | undefined {
  if (root.local !== 'Envelope') return undefined;
  if (root.ns === SOAP11_ENV) return '1.1';
  if (root.ns === SOAP12_ENV) return '1.2';
  return undefined;
}

function qname(el: XmlElement, text: string): { ns: string; local: string } {
  const v = text.trim();
  const colon = v.indexOf(':');
  if (colon < 0) return { ns: el.scope.get('') ?? '', local: v };
  return { ns: el.scope.get(v.slice(0, colon)) ?? '', local: v.slice(colon + 1) };
}

/** The body's content: its first element, or the Fault it holds. Throws ProtocolError. */
export function readBody(root: XmlElement, version: SoapVersion): BodyContent {
  const ns = envNamespace(version);
  const body = firstChild(root, 'Body', ns);
  if (body === undefined) throw new ProtocolError('the SOAP envelope has no Body');
  const [first] = childElements(body);
  if (first === undefined) throw new ProtocolError('the SOAP Body is empty');
  if (first.local !== 'Fault' || first.ns !== ns) return { kind: 'element', element: first };
  if (version === '1.1') {
    const code = firstChild(first, 'faultcode');
    const codes = code ? [qname(code, code.text)] : [];
    const detail = firstChild(first, 'detail');
    return {
      kind: 'fault',
      fault: {
        codes,
        message: firstChild(first, 'faultstring')?.text ?? '',
        detail: detail ? childElements(detail) : [],
      },
    };
  }
  const codes: { ns: string; local: string }[] = [];
  let code = firstChild(first, 'Code', ns);
  for (let depth = 0; code && depth < 8; depth++) {
    const value = firstChild(code, 'Value', ns);
    if (value) codes.push(qname(value, value.text));
    code = firstChild(code, 'Subcode', ns);
  }
  const reason = firstChild(first, 'Reason', ns);
  const text = reason ? (firstChild(reason, 'Text', ns)?.text ?? '') : '';
  const detail = firstChild(first, 'Detail', ns);
  return { kind: 'fault', fault: { codes, message: text, detail: detail ? childElements(detail) : [] } };
}
