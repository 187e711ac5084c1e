/**
 * A WSDL in the protocol-neutral form of Protocol.describe(): its service's operations, each
 * parameter typed by its XSD type, so `rpclab call soap <op> ... --schema service.wsdl` (or a
 * server's ?wsdl URL) can read command-line words for any simple document/literal service.
 */
import type { SchemaDescription, SchemaMethod } from '../types.js';
import type { SoapServiceModel } from './model.js';
import { schemaTypeOf } from './xsd.js';

export function describeModel(model: SoapServiceModel, path: string): SchemaDescription {
  const methods = new Map<string, SchemaMethod>();
  for (const op of model.operations.values()) {
    const [result] = op.output?.parts ?? [];
    methods.set(op.name, {
      name: op.name,
      params: op.input.parts.map((p) => ({ name: p.name, type: schemaTypeOf(p.type), required: p.required })),
      returns: result === undefined ? { kind: 'void' } : schemaTypeOf(result.type),
      oneway: op.output === undefined,
    });
  }
  return {
    path,
    services: new Map([[model.name, { name: model.name, methods }]]),
    structs: new Map(),
    enums: new Map(),
  };
}
