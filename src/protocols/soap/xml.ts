/**
 * A small namespace-aware XML tree on `saxes`, built for hostile input: any DOCTYPE is refused
 * before anything in it is used (saxes never expands entities a DTD declares, and we never get
 * that far), nesting deeper than a limit and more elements than a limit are refused, and every
 * element keeps its namespace URI and local name, which is all SOAP and WSDL reading need.
 */
import { SaxesParser } from 'saxes';

export interface XmlElement {
  /** Namespace URI ('' for none). */
  readonly ns: string;
  readonly local: string;
  /** Attributes by "{uri}local" (or "local" when unqualified). */
  readonly attrs: ReadonlyMap<string, string>;
  readonly children: XmlElement[];
  /** Character data directly inside this element (text and CDATA, concatenated). */
  text: string;
  /** Prefix -> URI bindings in scope here, to resolve QName-valued attributes (type="xs:int"). */
  readonly scope: ReadonlyMap<string, string>;
}

export class XmlRefused extends Error {
  /** 'doctype': a DTD was present; 'limit': too deep or too many elements; 'malformed': not XML. */
  readonly reason: 'doctype' | 'limit' | 'malformed';
  constructor(reason: 'doctype' | 'limit' | 'malformed', message: string) {
    super(message);
    this.reason = reason;
  }
}

export interface XmlLimits {
  /** Deepest element nesting accepted (an envelope with wrapped arguments needs about 5). */
  readonly maxDepth?: number;
  /** Most elements in one document. */
  readonly maxElements?: number;
}

export const DEFAULT_MAX_DEPTH = 64;
export const DEFAULT_MAX_ELEMENTS = 100_000;

/** Parses a whole document into its root element; throws XmlRefused. */
export function parseXml(text: string, limits: XmlLimits = {}): XmlElement {
  const maxDepth = limits.maxDepth ?? DEFAULT_MAX_DEPTH;
  const maxElements = limits.maxElements ?? DEFAULT_MAX_ELEMENTS;
  const parser = new SaxesParser({ xmlns: true, position: false });
  const stack: XmlElement[] = [];
  const scopes: Map<string, string>[] = [];
  let root: XmlElement | undefined;
  let count = 0;
  let failure: XmlRefused | undefined;

  parser.on('doctype', () => {
    throw new XmlRefused('doctype', 'a DOCTYPE is not allowed (no DTDs, no entity declarations)');
  });
  parser.on('opentag', (tag) => {
    if (stack.length >= maxDepth)
      throw new XmlRefused('limit', `XML nested deeper than ${maxDepth} elements`);
    if (++count > maxElements) throw new XmlRefused('limit', `XML has more than ${maxElements} elements`);
    const parentScope = scopes[scopes.length - 1];
    const own = Object.entries(tag.ns ?? {});
    const scope = own.length === 0 && parentScope ? parentScope : new Map(parentScope);
    for (const [prefix, uri] of own) scope.set(prefix, uri);
    const attrs = new Map<string, string>();
    for (const attr of Object.values(tag.attributes)) {
      if (attr.prefix === 'xmlns' || attr.name === 'xmlns') continue;
      attrs.set(attr.uri ? `{${attr.uri}}${attr.local}` : attr.local, attr.value);
    }
    const el: XmlElement = { ns: tag.uri, local: tag.local, attrs, children: [], text: '', scope };
    const parent = stack[stack.length - 1];
    if (parent) parent.children.push(el);
    else root = el;
    stack.push(el);
    scopes.push(scope);
  });
  parser.on('closetag', () => {
    stack.pop();
    scopes.pop();
  });
  const onText = (t: string) => {
    const top = stack[stack.length - 1];
    if (top) top.text += t;
  };
  parser.on('text', onText);
  parser.on('cdata', onText);
  parser.on('error', (err) => {
    failure ??= new XmlRefused('malformed', `malformed XML: ${err.message}`);
    throw failure;
  });
  try {
    parser.write(text).close();
  } catch (err) {
    if (err instanceof XmlRefused) throw err;
    throw new XmlRefused('malformed', `malformed XML: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (root === undefined) throw new XmlRefused('malformed', 'malformed XML: no root element');
  return root;
}

/** Child elements, optionally only those with this local name (and namespace, when given). */
export function childElements(el: XmlElement, local?: string, ns?: string): XmlElement[] {
  return el.children.filter(
    (c) => (local === undefined || c.local === local) && (ns === undefined || c.ns === ns),
  );
}

export function firstChild(el: XmlElement, local: string, ns?: string): XmlElement | undefined {
  return el.children.find((c) => c.local === local && (ns === undefined || c.ns === ns));
}

export function attr(el: XmlElement, name: string): string | undefined {
  return el.attrs.get(name);
}

/** Resolves a QName attribute value ("xs:int") against the element's namespace scope. */
export function resolveQName(el: XmlElement, value: string): { ns: string; local: string } {
  const colon = value.indexOf(':');
  if (colon < 0) return { ns: el.scope.get('') ?? '', local: value };
  const prefix = value.slice(0, colon);
  return { ns: el.scope.get(prefix) ?? '', local: value.slice(colon + 1) };
}

const XSI = 'http://www.w3.org/2001/XMLSchema-instance';

/** Whether an element says xsi:nil="true". */
export function isNil(el: XmlElement): boolean {
  const nil = el.attrs.get(`{${XSI}}nil`);
  return nil === 'true' || nil === '1';
}

/** Escapes text for element content or a double-quoted attribute. */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"\r]/g, (c) => ESCAPES[c]!);
}

const ESCAPES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  '\r': '&#13;',
};

/** Characters XML 1.0 cannot carry at all (not even escaped): refuse rather than write bad XML. */
export function hasIllegalXmlChars(text: string): boolean {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: exactly the control characters XML forbids
  return /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(
    text,
  );
}
