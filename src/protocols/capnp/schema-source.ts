/**
 * Where a side's interfaces come from: the bundled calculator.capnp (its layouts generated
 * ahead of time by capnpc through capnp-es), or any .capnp file given as schemaPath, compiled
 * by the reference compiler at run time (schema.ts). Each call returns a registry of its own:
 * a server adds the contract's extra methods to it.
 */
import { calculatorSchema } from './calculator-schema.js';
import { SchemaRegistry } from './codec.js';
import { loadCapnpSchema } from './schema.js';

export function loadSchema(schemaPath?: string): SchemaRegistry {
  if (schemaPath === undefined) return calculatorSchema();
  return new SchemaRegistry().merge(loadCapnpSchema(schemaPath).registry);
}
