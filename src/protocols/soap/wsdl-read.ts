/**
 * Reads a WSDL 1.1 document (document/literal wrapped, as Spyne, .NET and our own server write
 * them) into the service model: the first service's SOAP 1.1 and 1.2 ports, each operation's
 * wrapper elements and their XSD-typed children (inline or named complex types, in any schema
 * of the types section). Anything else (rpc style, encoded use, imports) is refused by name.
 */
import { InvalidArgumentError } from '../../contract/errors.js';
import type {
  SoapEndpoint,
  SoapMessage,
  SoapOperation,
  SoapPart,
  SoapServiceModel,
  SoapVersion,
} from './model.js';
import {
  attr,
  childElements,
  firstChild,
  parseXml,
  resolveQName,
  type XmlElement,
  XmlRefused,
} from './xml.js';
import { XSD_NS } from './xsd.js';

const WSDL_NS = 'http://schemas.xmlsoap.org/wsdl/';
const BINDING_NS: Readonly<Record<string, SoapVersion>> = {
  'http://schemas.xmlsoap.org/wsdl/soap/': '1.1',
  'http://schemas.xmlsoap.org/wsdl/soap12/': '1.2',
};

const key = (q: { ns: string; local: string }) => `{${q.ns}}${q.local}`;

interface SchemaEntry {
  readonly el: XmlElement;
  readonly ns: string;
  readonly qualified: boolean;
}

export function parseWsdl(text: string, source: string): SoapServiceModel {
  const bad = (why: string) => new InvalidArgumentError(`${source}: ${why}`);
  let root: XmlElement;
  try {
    root = parseXml(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text, {
      maxDepth: 64,
      maxElements: 200_000,
    });
  } catch (err) {
    throw bad(err instanceof XmlRefused ? err.message : String(err));
  }
  if (root.ns !== WSDL_NS || root.local !== 'definitions')
    throw bad('not a WSDL 1.1 document (no wsdl:definitions)');
  const tns = attr(root, 'targetNamespace') ?? '';

  const elements = new Map<string, SchemaEntry>();
  const types = new Map<string, SchemaEntry>();
  for (const typesEl of childElements(root, 'types', WSDL_NS)) {
    for (const schema of childElements(typesEl, 'schema', XSD_NS)) {
      const ns = attr(schema, 'targetNamespace') ?? '';
      const qualified = attr(schema, 'elementFormDefault') === 'qualified';
      for (const child of schema.children) {
        const name = attr(child, 'name');
        if (child.ns !== XSD_NS || name === undefined) continue;
        if (child.local === 'element') elements.set(key({ ns, local: name }), { el: child, ns, qualified });
        if (child.local === 'complexType') types.set(key({ ns, local: name }), { el: child, ns, qualified });
      }
    }
  }

  const partsOf = (complex: XmlElement, what: string): SoapPart[] => {
    const seq = firstChild(complex, 'sequence', XSD_NS) ?? firstChild(complex, 'all', XSD_NS);
    if (seq === undefined) {
      if (complex.children.some((c) => c.ns === XSD_NS && c.local !== 'annotation'))
        throw bad(`${what}: only a sequence of simple elements is supported`);
      return [];
    }
    return childElements(seq, 'element', XSD_NS).map((e) => {
      const name = attr(e, 'name');
      if (name === undefined) throw bad(`${what}: element references (ref=) are not supported`);
      const typeAttr = attr(e, 'type');
      const t = typeAttr === undefined ? undefined : resolveQName(e, typeAttr);
      // Non-XSD types (a schema's own simple or complex types) are carried as their text.
      const type = t === undefined ? 'anyType' : t.ns === XSD_NS ? t.local : 'anyType';
      const min = attr(e, 'minOccurs');
      return { name, type, required: min === undefined || Number(min) > 0 };
    });
  };

  const wrapper = (q: { ns: string; local: string }, what: string): SoapMessage => {
    const entry = elements.get(key(q));
    if (entry === undefined) throw bad(`${what}: element ${key(q)} is not in the types section`);
    let complex = firstChild(entry.el, 'complexType', XSD_NS);
    let owner = entry;
    const typeAttr = attr(entry.el, 'type');
    if (complex === undefined && typeAttr !== undefined) {
      const named = types.get(key(resolveQName(entry.el, typeAttr)));
      if (named === undefined) throw bad(`${what}: type ${typeAttr} is not in the types section`);
      complex = named.el;
      owner = named;
    }
    const parts = complex === undefined ? [] : partsOf(complex, what);
    return { ns: entry.ns, element: q.local, parts, qualified: owner.qualified };
  };

  const messages = new Map<string, { ns: string; local: string } | undefined>();
  for (const m of childElements(root, 'message', WSDL_NS)) {
    const [part] = childElements(m, 'part', WSDL_NS);
    const element = part ? attr(part, 'element') : undefined;
    messages.set(
      key({ ns: tns, local: attr(m, 'name') ?? '' }),
      element ? resolveQName(part!, element) : undefined,
    );
  }
  const messageElement = (el: XmlElement | undefined, what: string) => {
    const ref = el ? attr(el, 'message') : undefined;
    if (ref === undefined) return undefined;
    const q = resolveQName(el!, ref);
    if (!messages.has(key(q))) throw bad(`${what}: message ${ref} is not defined`);
    const element = messages.get(key(q));
    if (element === undefined)
      throw bad(`${what}: message ${ref} has no element part (rpc style is not supported)`);
    return element;
  };

  const portTypes = new Map<string, XmlElement>();
  for (const pt of childElements(root, 'portType', WSDL_NS))
    portTypes.set(key({ ns: tns, local: attr(pt, 'name') ?? '' }), pt);

  interface BindingInfo {
    version: SoapVersion;
    portType: XmlElement;
    actions: Map<string, string>;
  }
  const bindings = new Map<string, BindingInfo>();
  for (const b of childElements(root, 'binding', WSDL_NS)) {
    const soapBinding = b.children.find((c) => c.local === 'binding' && BINDING_NS[c.ns] !== undefined);
    if (soapBinding === undefined) continue; // an HTTP GET/POST or other binding: not SOAP
    const style = attr(soapBinding, 'style') ?? 'document';
    const typeRef = attr(b, 'type');
    const portType = typeRef ? portTypes.get(key(resolveQName(b, typeRef))) : undefined;
    if (portType === undefined) throw bad(`binding ${attr(b, 'name')}: portType ${typeRef} is not defined`);
    const actions = new Map<string, string>();
    for (const op of childElements(b, 'operation', WSDL_NS)) {
      const soapOp = op.children.find((c) => c.local === 'operation' && BINDING_NS[c.ns] !== undefined);
      const opStyle = (soapOp ? attr(soapOp, 'style') : undefined) ?? style;
      if (opStyle === 'rpc') throw bad(`operation ${attr(op, 'name')}: rpc style is not supported`);
      const input = firstChild(op, 'input', WSDL_NS);
      const body = input?.children.find((c) => c.local === 'body' && BINDING_NS[c.ns] !== undefined);
      if (body && attr(body, 'use') === 'encoded')
        throw bad(`operation ${attr(op, 'name')}: SOAP encoding is not supported`);
      actions.set(attr(op, 'name') ?? '', (soapOp ? attr(soapOp, 'soapAction') : undefined) ?? '');
    }
    bindings.set(key({ ns: tns, local: attr(b, 'name') ?? '' }), {
      version: BINDING_NS[soapBinding.ns]!,
      portType,
      actions,
    });
  }

  const [service] = childElements(root, 'service', WSDL_NS);
  if (service === undefined) throw bad('the WSDL defines no service');
  const endpoints: SoapEndpoint[] = [];
  let chosen: BindingInfo | undefined;
  for (const port of childElements(service, 'port', WSDL_NS)) {
    const ref = attr(port, 'binding');
    const info = ref ? bindings.get(key(resolveQName(port, ref))) : undefined;
    if (info === undefined) continue;
    const address = port.children.find((c) => c.local === 'address' && BINDING_NS[c.ns] !== undefined);
    endpoints.push({
      version: info.version,
      address: (address && attr(address, 'location')) ?? '',
      port: attr(port, 'name') ?? '',
    });
    chosen ??= info;
  }
  if (chosen === undefined) throw bad('the WSDL service has no SOAP port');

  const operations = new Map<string, SoapOperation>();
  for (const op of childElements(chosen.portType, 'operation', WSDL_NS)) {
    const name = attr(op, 'name') ?? '';
    const what = `operation ${name}`;
    const input = messageElement(firstChild(op, 'input', WSDL_NS), what);
    if (input === undefined) throw bad(`${what} has no input`);
    const output = messageElement(firstChild(op, 'output', WSDL_NS), what);
    const faults = childElements(op, 'fault', WSDL_NS).map((f) => {
      const q = messageElement(f, what);
      return q?.local ?? attr(f, 'name') ?? '';
    });
    operations.set(name, {
      name,
      soapAction: chosen.actions.get(name) ?? '',
      input: wrapper(input, what),
      output: output === undefined ? undefined : wrapper(output, what),
      faults,
    });
  }
  return { name: attr(service, 'name') ?? '', targetNamespace: tns, operations, endpoints };
}
