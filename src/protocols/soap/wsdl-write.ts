/**
 * Writes the WSDL 1.1 we serve at ?wsdl: document/literal wrapped, an XSD types section with
 * one wrapper element per request and response (elementFormDefault="qualified"), a fault
 * element per declared error, and one binding and port per SOAP version, both at the address
 * the server actually listens on. zeep, node-soap and strong-soap build their clients from it.
 */
import type { SoapMessage, SoapServiceModel } from './model.js';
import { escapeXml as esc } from './xml.js';

const WSDL = 'http://schemas.xmlsoap.org/wsdl/';
const SOAP11_BINDING = 'http://schemas.xmlsoap.org/wsdl/soap/';
const SOAP12_BINDING = 'http://schemas.xmlsoap.org/wsdl/soap12/';
const HTTP_TRANSPORT = 'http://schemas.xmlsoap.org/soap/http';

function wrapperElement(m: SoapMessage): string {
  const parts = m.parts
    .map(
      (p) =>
        `<xs:element name="${esc(p.name)}" type="xs:${esc(p.type)}"${p.required ? '' : ' minOccurs="0"'}/>`,
    )
    .join('');
  return `<xs:element name="${esc(m.element)}"><xs:complexType><xs:sequence>${parts}</xs:sequence></xs:complexType></xs:element>`;
}

function faultElement(name: string): string {
  return (
    `<xs:element name="${esc(name)}"><xs:complexType><xs:sequence>` +
    '<xs:element name="code" type="xs:string"/><xs:element name="message" type="xs:string"/>' +
    '</xs:sequence></xs:complexType></xs:element>'
  );
}

function binding(model: SoapServiceModel, prefix: 'soap' | 'soap12'): string {
  const ops = [...model.operations.values()]
    .map((op) => {
      const faults = op.faults
        .map(
          (f) =>
            `<wsdl:fault name="${esc(f)}"><${prefix}:fault name="${esc(f)}" use="literal"/></wsdl:fault>`,
        )
        .join('');
      const output = op.output ? `<wsdl:output><${prefix}:body use="literal"/></wsdl:output>` : '';
      return (
        `<wsdl:operation name="${esc(op.name)}"><${prefix}:operation soapAction="${esc(op.soapAction)}" style="document"/>` +
        `<wsdl:input><${prefix}:body use="literal"/></wsdl:input>${output}${faults}</wsdl:operation>`
      );
    })
    .join('');
  const suffix = prefix === 'soap' ? 'Soap11' : 'Soap12';
  return (
    `<wsdl:binding name="${esc(model.name)}${suffix}Binding" type="tns:${esc(model.name)}">` +
    `<${prefix}:binding style="document" transport="${HTTP_TRANSPORT}"/>${ops}</wsdl:binding>`
  );
}

export function writeWsdl(model: SoapServiceModel, address: string): string {
  const ops = [...model.operations.values()];
  const elements = new Set<string>();
  const types: string[] = [];
  const faultNames = new Set<string>();
  for (const op of ops) {
    for (const m of [op.input, op.output]) {
      if (m && !elements.has(m.element)) {
        elements.add(m.element);
        types.push(wrapperElement(m));
      }
    }
    for (const f of op.faults) faultNames.add(f);
  }
  for (const f of faultNames) types.push(faultElement(f));
  const messages = ops
    .flatMap((op) => [op.input, ...(op.output ? [op.output] : [])])
    .map(
      (m) =>
        `<wsdl:message name="${esc(m.element)}"><wsdl:part name="parameters" element="tns:${esc(m.element)}"/></wsdl:message>`,
    );
  for (const f of faultNames)
    messages.push(
      `<wsdl:message name="${esc(f)}Fault"><wsdl:part name="${esc(f)}" element="tns:${esc(f)}"/></wsdl:message>`,
    );
  const portOps = ops
    .map((op) => {
      const output = op.output ? `<wsdl:output message="tns:${esc(op.output.element)}"/>` : '';
      const faults = op.faults
        .map((f) => `<wsdl:fault name="${esc(f)}" message="tns:${esc(f)}Fault"/>`)
        .join('');
      return `<wsdl:operation name="${esc(op.name)}"><wsdl:input message="tns:${esc(op.input.element)}"/>${output}${faults}</wsdl:operation>`;
    })
    .join('');
  const where = esc(address);
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<wsdl:definitions xmlns:wsdl="${WSDL}" xmlns:soap="${SOAP11_BINDING}" xmlns:soap12="${SOAP12_BINDING}" ` +
    `xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:tns="${esc(model.targetNamespace)}" ` +
    `targetNamespace="${esc(model.targetNamespace)}" name="${esc(model.name)}">` +
    `<wsdl:types><xs:schema targetNamespace="${esc(model.targetNamespace)}" elementFormDefault="qualified">` +
    `${types.join('')}</xs:schema></wsdl:types>` +
    messages.join('') +
    `<wsdl:portType name="${esc(model.name)}">${portOps}</wsdl:portType>` +
    binding(model, 'soap') +
    binding(model, 'soap12') +
    `<wsdl:service name="${esc(model.name)}">` +
    `<wsdl:port name="${esc(model.name)}Soap11" binding="tns:${esc(model.name)}Soap11Binding"><soap:address location="${where}"/></wsdl:port>` +
    `<wsdl:port name="${esc(model.name)}Soap12" binding="tns:${esc(model.name)}Soap12Binding"><soap12:address location="${where}"/></wsdl:port>` +
    '</wsdl:service></wsdl:definitions>\n'
  );
}
