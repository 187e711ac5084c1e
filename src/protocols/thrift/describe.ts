/**
 * A loaded IDL in the protocol-neutral form of Protocol.describe(): what a tool needs to call
 * any function of it with typed arguments (the CLI's `call thrift <fn> ... --schema x.thrift`).
 */
import type { SchemaDescription, SchemaField, SchemaType } from '../types.js';
import { loadIdl, type ThriftField, type ThriftType } from './idl.js';

function schemaType(t: ThriftType): SchemaType {
  switch (t.kind) {
    case 'byte':
      return { kind: 'i8' };
    case 'list':
    case 'set':
      return { kind: t.kind, elem: schemaType(t.elem) };
    case 'map':
      return { kind: 'map', key: schemaType(t.key), value: schemaType(t.value) };
    case 'enum':
    case 'struct':
      return { kind: t.kind, name: t.name };
    default:
      return { kind: t.kind };
  }
}

function schemaFields(fields: readonly ThriftField[]): SchemaField[] {
  return fields.map((f) => ({
    name: f.name,
    type: schemaType(f.type),
    ...(f.required ? { required: true } : {}),
  }));
}

export function describeIdl(schemaPath?: string): SchemaDescription {
  const idl = loadIdl(schemaPath);
  return {
    path: idl.path,
    services: new Map(
      [...idl.services].map(([name, service]) => [
        name,
        {
          name,
          methods: new Map(
            [...service.functions].map(([fn, f]) => [
              fn,
              { name: fn, params: schemaFields(f.params), returns: schemaType(f.returns), oneway: f.oneway },
            ]),
          ),
        },
      ]),
    ),
    structs: new Map([...idl.structs].map(([name, s]) => [name, { name, fields: schemaFields(s.fields) }])),
    enums: new Map([...idl.enums].map(([name, e]) => [name, e.members])),
  };
}
