/**
 * Reading the children of a wrapper element as typed values: each part's element is found by
 * local name (qualified or not: clients differ), checked against its XSD type and converted to
 * the contract's type. A missing required element, an unexpected one, a nested element where a
 * simple value belongs, or text outside the type's lexical space is INVALID_ARGUMENT.
 */
import { InvalidArgumentError } from '../../contract/errors.js';
import type { ParamSpec, ValueType } from '../../contract/spec.js';
import type { SoapMessage, SoapPart } from './model.js';
import { isNil, type XmlElement } from './xml.js';
import { parseXsd } from './xsd.js';

function readPart(
  part: SoapPart,
  el: XmlElement | undefined,
  type: ValueType | undefined,
  what: string,
): unknown {
  if (el === undefined) {
    if (part.required) throw new InvalidArgumentError(`${what}: element <${part.name}> is missing`);
    return null;
  }
  if (isNil(el)) return null;
  if (el.children.length > 0)
    throw new InvalidArgumentError(`${what}: <${part.name}> must hold an xs:${part.type}, not elements`);
  return parseXsd(part.type, el.text, what, type === 'i64');
}

function partElements(message: SoapMessage, wrapper: XmlElement, what: string): Map<string, XmlElement> {
  const found = new Map<string, XmlElement>();
  const names = new Set(message.parts.map((p) => p.name));
  for (const child of wrapper.children) {
    if (!names.has(child.local))
      throw new InvalidArgumentError(`${what}: unexpected element <${child.local}> in <${wrapper.local}>`);
    if (found.has(child.local))
      throw new InvalidArgumentError(`${what}: element <${child.local}> appears twice`);
    found.set(child.local, child);
  }
  return found;
}

/** The arguments of a request wrapper, in parameter order. */
export function decodeArguments(
  message: SoapMessage,
  params: readonly ParamSpec[],
  wrapper: XmlElement,
): unknown[] {
  const found = partElements(message, wrapper, message.element);
  return message.parts.map((part, i) =>
    readPart(part, found.get(part.name), params[i]?.type, `${message.element}.${part.name}`),
  );
}

/** The result in a response wrapper (its one part), or undefined for a response without parts. */
export function decodeResult(message: SoapMessage, type: ValueType, wrapper: XmlElement): unknown {
  const [part] = message.parts;
  if (part === undefined) return undefined;
  const found = partElements(message, wrapper, message.element);
  return readPart(part, found.get(part.name), type, `${message.element}.${part.name}`);
}
