/**
 * A SOAP service as a document/literal-wrapped WSDL describes it: per operation, the wrapper
 * element of the request (named like the operation) and of the response, and the child
 * elements each holds with their XSD types. The server and client work from this model;
 * it comes from a contract (what we serve) or from a WSDL read from a file or a URL.
 */
import type { Contract } from '../../contract/spec.js';
import { type XsdType, xsdFor } from './xsd.js';

export type SoapVersion = '1.1' | '1.2';

export interface SoapPart {
  readonly name: string;
  readonly type: XsdType;
  /** False when the schema says minOccurs="0" (Spyne's default): an absent element is null. */
  readonly required: boolean;
}

export interface SoapMessage {
  /** Namespace URI of the wrapper element. */
  readonly ns: string;
  readonly element: string;
  readonly parts: readonly SoapPart[];
  /** Whether child elements are namespace-qualified (elementFormDefault="qualified"). */
  readonly qualified: boolean;
}

export interface SoapOperation {
  readonly name: string;
  readonly soapAction: string;
  readonly input: SoapMessage;
  /** Undefined for a one-way operation. */
  readonly output: SoapMessage | undefined;
  /** Element names of the declared faults (ours: DivideByZero). */
  readonly faults: readonly string[];
}

export interface SoapEndpoint {
  readonly version: SoapVersion;
  readonly address: string;
  readonly port: string;
}

export interface SoapServiceModel {
  readonly name: string;
  readonly targetNamespace: string;
  readonly operations: ReadonlyMap<string, SoapOperation>;
  readonly endpoints: readonly SoapEndpoint[];
}

/** Fault detail element names for our error codes (DIVIDE_BY_ZERO -> DivideByZero). */
export function faultElementName(code: string): string {
  return code
    .toLowerCase()
    .split('_')
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
    .join('');
}

/** The model of what we serve for a contract: one operation per method, wrapped as Spyne does. */
export function modelFromContract(contract: Contract, address = ''): SoapServiceModel {
  const ns = contract.namespace;
  const operations = new Map<string, SoapOperation>();
  for (const [name, spec] of Object.entries(contract.methods)) {
    operations.set(name, {
      name,
      soapAction: name,
      input: {
        ns,
        element: name,
        qualified: true,
        parts: spec.params.map((p) => ({ name: p.name, type: xsdFor(p.type), required: true })),
      },
      output: {
        ns,
        element: `${name}Response`,
        qualified: true,
        parts: [{ name: `${name}Result`, type: xsdFor(spec.result), required: true }],
      },
      faults: (spec.errors ?? []).map(faultElementName),
    });
  }
  return {
    name: contract.name,
    targetNamespace: ns,
    operations,
    endpoints: [
      { version: '1.1', address, port: `${contract.name}Soap11` },
      { version: '1.2', address, port: `${contract.name}Soap12` },
    ],
  };
}
