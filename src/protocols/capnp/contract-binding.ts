/**
 * Between the contract (methods with positional, typed params and one result) and a Cap'n
 * Proto interface (methods whose params and results are structs): a contract method is the
 * interface method of the same name; its params are the struct's fields by name (by position
 * when the names differ), and its result is the results struct's single field (the whole
 * struct, for a `dynamic` result over several fields).
 *
 * A contract method the schema lacks still goes over the wire, as a method ID past the
 * interface's last one with a struct laid out from the contract, so the server (ours or the
 * peer's) answers it as unimplemented: the same NO_SUCH_METHOD every other row gives.
 */
import { InvalidArgumentError } from '../../contract/errors.js';
import type { MethodSpec, ValueType } from '../../contract/spec.js';
import type { FieldKind, FieldLayout, InterfaceLayout, MethodLayout, StructLayout, Values } from './codec.js';

const KIND_OF: Record<ValueType, FieldKind> = {
  i32: 'int32',
  i64: 'int64',
  double: 'float64',
  bool: 'bool',
  string: 'text',
  binary: 'data',
  dynamic: 'anyPointer',
};

const DATA_BYTES: Partial<Record<FieldKind, number>> = { int32: 4, int64: 8, float64: 8 };

/** A struct laid out for the contract's params (both ends use this one, so no packing rules apply). */
function structFor(name: string, fields: readonly { name: string; type: ValueType }[]): StructLayout {
  let dataBytes = 0;
  let pointers = 0;
  const out: FieldLayout[] = [];
  const bools: string[] = [];
  for (const f of fields) {
    const kind = KIND_OF[f.type];
    const size = DATA_BYTES[kind];
    if (kind === 'bool') bools.push(f.name);
    else if (size !== undefined) {
      dataBytes = Math.ceil(dataBytes / size) * size;
      out.push({ name: f.name, kind, offset: dataBytes });
      dataBytes += size;
    } else out.push({ name: f.name, kind, offset: pointers++ });
  }
  // Bools (offsets in bits) take the word after the other data fields.
  const boolWord = Math.ceil(dataBytes / 8);
  bools.forEach((b, i) => {
    out.push({ name: b, kind: 'bool', offset: boolWord * 64 + i });
  });
  return { name, dataWords: boolWord + Math.ceil(bools.length / 64), pointerCount: pointers, fields: out };
}

/**
 * The layout a contract method is called with over `iface`: the schema's, or (for a method the
 * schema lacks) one laid out from the contract, with a method ID derived from its name.
 */
export function methodFor(iface: InterfaceLayout, name: string, spec: MethodSpec): MethodLayout {
  const known = iface.methods.get(name);
  if (known !== undefined) return known;
  return {
    name,
    interfaceId: iface.id,
    interfaceName: iface.name,
    // Past any real method of a hand-written interface; stable for a name on both ends.
    methodId: 0x8000 + (hash(name) % 0x7000),
    params: structFor(`${iface.name}.${name}$Params`, spec.params),
    results: structFor(`${iface.name}.${name}$Results`, [{ name: 'result', type: spec.result }]),
  };
}

function hash(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (h * 31 + s.charCodeAt(i)) >>> 0;
  return h;
}

/** The contract's positional args as the params struct. */
export function paramsFromArgs(method: MethodLayout, spec: MethodSpec, args: readonly unknown[]): Values {
  const values: Values = {};
  const fields = method.params.fields;
  spec.params.forEach((p, i) => {
    const byName = fields.find((f) => f.name === p.name);
    const field = byName ?? fields[i];
    if (field === undefined) {
      throw new InvalidArgumentError(`${method.interfaceName}.${method.name} has no parameter ${p.name}`);
    }
    if (i < args.length) values[field.name] = args[i];
  });
  return values;
}

/** The params field each contract argument comes from (by name, else by position). */
export function argFieldNames(method: MethodLayout, spec: MethodSpec): readonly (string | undefined)[] {
  const fields = method.params.fields;
  return spec.params.map((p, i) => (fields.find((f) => f.name === p.name) ?? fields[i])?.name);
}

/** The params struct as the contract's positional args (on the server), by argFieldNames. */
export function argsFromParams(argNames: readonly (string | undefined)[], params: Values): unknown[] {
  const args = new Array<unknown>(argNames.length);
  for (let i = 0; i < argNames.length; i++) {
    const name = argNames[i];
    args[i] = name === undefined ? undefined : params[name];
  }
  return args;
}

/** The contract's result out of the results struct. */
export function resultFromValues(method: MethodLayout, values: Values): unknown {
  const fields = method.results.fields;
  if (fields.length === 1) return values[fields[0]!.name];
  if (fields.length === 0) return null;
  return values;
}

/** The contract's result as the results struct (on the server). */
export function valuesFromResult(method: MethodLayout, result: unknown): Values {
  const fields = method.results.fields;
  if (fields.length === 0) return {};
  if (fields.length === 1) return { [fields[0]!.name]: result };
  if (typeof result === 'object' && result !== null) return result as Values;
  throw new InvalidArgumentError(
    `${method.interfaceName}.${method.name} returns a struct of ${fields.length} fields, got ${String(result)}`,
  );
}
