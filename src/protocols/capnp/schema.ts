/**
 * Any `.capnp` schema as codec layouts and as a Protocol.describe() description, so
 * `rpclab call capnp <method> ... --schema any.capnp [--service Interface]` reaches every method
 * of every interface.
 *
 * The schema is compiled by the reference compiler (`capnp compile -o-`, from Debian's
 * `capnproto` package), which writes a CodeGeneratorRequest (schema.capnp) to stdout; that
 * message is read with capnp-es's generated schema structs. Nothing here parses the schema
 * language itself.
 *
 * Names. Interfaces, structs and enums are named by their scope inside the file: `Calculator`,
 * `Outer.Inner` (the node's displayName without the `file.capnp:` prefix). A StructLayout's
 * `name` is the node's own short name (`add$Params`, `Point`), as capnp-es's generated code
 * names its classes; the layouts of calculator.capnp equal calculator-schema.ts's.
 *
 * Layouts (what codec.ts reads and writes):
 * - data fields: `offset` in bytes (bool: in bits); enums are kind 'enum' (a UInt16);
 *   pointer fields: `offset` is the index in the pointer section;
 * - struct fields carry `struct`; lists carry `elem` (and `struct` for lists of structs);
 *   interface fields are kind 'cap' with `interfaceName`; AnyPointer fields are 'anyPointer';
 * - union members carry `discriminant: { value, offset }`, the offset in bytes;
 * - groups (and named unions) are flattened into the enclosing struct, their members named
 *   `group.member` (they share the enclosing struct's sections, so they cannot be nested struct
 *   values for the codec). A group that is a union member gives each of its members the group's
 *   discriminant; a member-less one becomes a 'void' field named after the group. A field under
 *   two levels of unions (a union inside a group that is itself a union member) carries the
 *   outer discriminant only: the codec has one per field.
 * - a struct that contains itself gets a cyclic layout (the same StructLayout object).
 * - a generic parameter's field (`item :T` in `struct Box(T)`) is 'anyPointer', whatever the
 *   brand binds it to;
 * - scalar default values (`x :Int32 = 5`) are the field's `defaultMask`, which the codec
 *   XORs the wire value with; pointer defaults (a default Text, list or struct) are not applied;
 * Interfaces list every method, inherited ones included (an inherited method keeps the id of
 * the interface that declares it, as a Call names it); an own method shadows an inherited one
 * of the same name.
 *
 * Description (SchemaType per field): Bool bool, Int8/16/32/64 i8/i16/i32/i64, UInt8 i16,
 * UInt16 i32, UInt32 i64, UInt64 i64 (so values of 2^63 and above cannot be typed in; the
 * CLI's i64 words are bigints: codecValues() turns them into the numbers a UInt32 field
 * takes), Float32/64 double, Text string, Data binary, Void void, List(T) list<T>, enums and
 * structs by scoped name (in `enums` / `structs`). Capability and AnyPointer fields are left
 * out of params and struct fields (a command line cannot give a capability; a call sends them
 * null). A method returns its results' single field's type when the results struct has exactly
 * one field (void if that field is a capability or AnyPointer), void for an empty results
 * struct, and otherwise a struct named after the results struct (`Calculator.stats$Results`),
 * added to `structs`.
 */
import { execFileSync } from 'node:child_process';
import { statSync } from 'node:fs';
import path from 'node:path';
import * as capnp from 'capnp-es';
import * as schema from 'capnp-es/capnp/schema';
import { InvalidArgumentError } from '../../contract/errors.js';
import type { SchemaDescription, SchemaField, SchemaMethod, SchemaService, SchemaType } from '../types.js';
import {
  type FieldKind,
  type FieldLayout,
  type InterfaceLayout,
  type MethodLayout,
  SchemaRegistry,
  type StructLayout,
  type Values,
} from './codec.js';

export interface CapnpSchema {
  /** Every interface of the compiled request (the file's and its imports'), by scoped name. */
  readonly registry: SchemaRegistry;
  /** The file's own interfaces as services, with the structs and enums their methods use. */
  readonly description: SchemaDescription;
}

export interface LoadCapnpSchemaOptions {
  /** The compiler to run (default `capnp`, found on PATH). */
  readonly compiler?: string;
  /** Extra import directories (`-I`), for `import "/x.capnp"` paths. */
  readonly importPaths?: readonly string[];
  /** How long the compiler may take (default 30 s). */
  readonly timeoutMs?: number;
}

const DEFAULT_COMPILE_TIMEOUT_MS = 30_000;
const MAX_COMPILER_OUTPUT_BYTES = 64 * 1024 * 1024;
const NO_DISCRIMINANT = 0xffff;

/** A loaded schema is reused while the file is unchanged (describe() then connect() compile once). */
const cache = new Map<string, { readonly stamp: string; readonly schema: CapnpSchema }>();

/**
 * Compiles `schemaPath` with the Cap'n Proto compiler and returns its layouts and description.
 * Throws InvalidArgumentError for a missing file, a schema that does not compile (with the
 * compiler's message), or no compiler installed.
 */
export function loadCapnpSchema(schemaPath: string, options: LoadCapnpSchemaOptions = {}): CapnpSchema {
  const file = path.resolve(schemaPath);
  let stamp: string;
  try {
    const st = statSync(file);
    if (!st.isFile()) throw new InvalidArgumentError(`Cap'n Proto schema ${schemaPath} is not a file`);
    stamp = `${st.mtimeMs}:${st.size}:${options.compiler ?? ''}:${(options.importPaths ?? []).join(':')}`;
  } catch (err) {
    if (err instanceof InvalidArgumentError) throw err;
    throw new InvalidArgumentError(`Cap'n Proto schema not found: ${schemaPath}`, { cause: err });
  }
  const cached = cache.get(file);
  if (cached !== undefined && cached.stamp === stamp) return cached.schema;
  const request = compileCapnpSchema(file, options);
  const loaded = schemaFromRequest(request, file);
  cache.set(file, { stamp, schema: loaded });
  return loaded;
}

/** Runs `capnp compile -o-` on the file: the CodeGeneratorRequest it writes, as bytes. */
export function compileCapnpSchema(schemaPath: string, options: LoadCapnpSchemaOptions = {}): Uint8Array {
  const file = path.resolve(schemaPath);
  const compiler = options.compiler ?? 'capnp';
  const timeoutMs = options.timeoutMs ?? DEFAULT_COMPILE_TIMEOUT_MS;
  const args = [
    'compile',
    '-o-',
    `--src-prefix=${path.dirname(file)}`,
    ...(options.importPaths ?? []).flatMap((dir) => ['-I', path.resolve(dir)]),
    file,
  ];
  try {
    const out = execFileSync(compiler, args, {
      timeout: timeoutMs,
      maxBuffer: MAX_COMPILER_OUTPUT_BYTES,
      stdio: ['ignore', 'pipe', 'pipe'],
      windowsHide: true,
    });
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: Buffer | string; signal?: string | null };
    if (e.code === 'ENOENT') {
      throw new InvalidArgumentError(
        `cannot compile ${schemaPath}: the Cap'n Proto compiler "${compiler}" is not installed ` +
          '(Debian/Ubuntu: apt-get install capnproto)',
        { cause: err },
      );
    }
    if (e.code === 'ETIMEDOUT' || e.signal === 'SIGTERM') {
      throw new InvalidArgumentError(`capnp compile did not finish within ${timeoutMs} ms on ${schemaPath}`, {
        cause: err,
      });
    }
    if (e.code === 'ENOBUFS') {
      throw new InvalidArgumentError(`capnp compile wrote more than 64 MiB for ${schemaPath}`, {
        cause: err,
      });
    }
    const stderr = String(e.stderr ?? '').trim();
    // The standard schemas (/capnp/c++.capnp, ...) come with Debian's libcapnp-dev, not capnproto.
    const hint = /Import failed: \/capnp\//.test(stderr)
      ? ' (the standard /capnp/*.capnp imports come with libcapnp-dev, or give their directory as an import path)'
      : '';
    throw new InvalidArgumentError(
      `Cap'n Proto schema ${schemaPath} does not compile: ${stderr || (e.message ?? String(err))}${hint}`,
      { cause: err },
    );
  }
}

interface DescribedField {
  readonly layout: FieldLayout;
  /** undefined: not describable (a capability or AnyPointer). */
  readonly type: SchemaType | undefined;
}

interface BuiltStruct {
  readonly id: bigint;
  readonly layout: StructLayout;
  readonly fields: readonly DescribedField[];
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** Layouts and description from a CodeGeneratorRequest (the compiler's output) for `file`. */
export function schemaFromRequest(bytes: Uint8Array, file: string): CapnpSchema {
  let request: schema.CodeGeneratorRequest;
  const nodes = new Map<bigint, schema.Node>();
  try {
    request = new capnp.Message(bytes, false).getRoot(schema.CodeGeneratorRequest);
    for (const node of request.nodes) nodes.set(node.id, node);
  } catch (err) {
    throw new InvalidArgumentError(
      `capnp compile gave an unreadable CodeGeneratorRequest for ${file}: ${(err as Error).message}`,
      { cause: err },
    );
  }
  return new Builder(request, nodes, file).build();
}

class Builder {
  private readonly structs = new Map<bigint, BuiltStruct>();
  private readonly byLayout = new Map<StructLayout, BuiltStruct>();
  private readonly interfaces = new Map<bigint, InterfaceLayout>();
  private readonly describedStructs = new Map<
    string,
    { readonly name: string; readonly fields: readonly SchemaField[] }
  >();
  private readonly describedIds = new Map<string, bigint>();
  private readonly describedEnums = new Map<string, ReadonlyMap<string, number>>();

  constructor(
    private readonly request: schema.CodeGeneratorRequest,
    private readonly nodes: ReadonlyMap<bigint, schema.Node>,
    private readonly file: string,
  ) {}

  build(): CapnpSchema {
    const registry = new SchemaRegistry();
    for (const node of this.nodes.values()) {
      if (node.which() === schema.Node.INTERFACE) registry.add(this.interfaceOf(node.id));
    }
    const requested = new Set<bigint>();
    for (const f of this.request.requestedFiles) requested.add(f.id);
    const services = new Map<string, SchemaService>();
    // The requested files' own declarations, in declaration order (nested ones after their scope).
    const walk = (scope: schema.Node): void => {
      for (const nested of scope.nestedNodes) {
        const node = this.nodes.get(nested.id);
        if (node === undefined) continue;
        switch (node.which()) {
          case schema.Node.INTERFACE: {
            const service = this.serviceOf(this.interfaceOf(node.id));
            services.set(service.name, service);
            break;
          }
          case schema.Node.STRUCT:
            if (!node.isGeneric) this.describeStruct(node.id);
            break;
          case schema.Node.ENUM:
            this.describeEnum(node.id);
            break;
        }
        walk(node);
      }
    };
    for (const id of requested) {
      const fileNode = this.nodes.get(id);
      if (fileNode !== undefined) walk(fileNode);
    }
    for (const [name, id] of this.describedIds) {
      this.describedStructs.set(name, { name, fields: schemaFields(this.structOf(id).fields) });
    }
    return {
      registry,
      description: {
        path: this.file,
        services,
        structs: this.describedStructs,
        enums: this.describedEnums,
      },
    };
  }

  private node(id: bigint, what: string): schema.Node {
    const node = this.nodes.get(id);
    if (node === undefined) {
      throw new InvalidArgumentError(`${this.file}: the compiled schema lacks ${what} 0x${id.toString(16)}`);
    }
    return node;
  }

  /** `Outer.Inner`: the displayName without its `file.capnp:` prefix. */
  private scopedName(node: schema.Node): string {
    const display = node.displayName;
    const colon = display.indexOf(':');
    return colon < 0 ? display.slice(node.displayNamePrefixLength) : display.slice(colon + 1);
  }

  private shortName(node: schema.Node): string {
    return node.displayName.slice(node.displayNamePrefixLength);
  }

  private interfaceOf(id: bigint): InterfaceLayout {
    const done = this.interfaces.get(id);
    if (done !== undefined) return done;
    const node = this.node(id, 'interface');
    if (node.which() !== schema.Node.INTERFACE) {
      throw new InvalidArgumentError(`${this.file}: ${node.displayName} is not an interface`);
    }
    const name = this.scopedName(node);
    const methods = new Map<string, MethodLayout>();
    const iface: InterfaceLayout = { id, name, methods };
    // Registered before the superclasses are read: a cycle (which the compiler refuses) ends here.
    this.interfaces.set(id, iface);
    node.interface.methods.forEach((m, methodId) => {
      methods.set(m.name, {
        name: m.name,
        interfaceId: id,
        interfaceName: name,
        methodId,
        params: this.structOf(m.paramStructType).layout,
        results: this.structOf(m.resultStructType).layout,
      });
    });
    for (const superclass of node.interface.superclasses) {
      for (const [methodName, m] of this.interfaceOf(superclass.id).methods) {
        if (!methods.has(methodName)) methods.set(methodName, m);
      }
    }
    return iface;
  }

  private structOf(id: bigint): BuiltStruct {
    const done = this.structs.get(id);
    if (done !== undefined) return done;
    const node = this.node(id, 'struct');
    if (node.which() !== schema.Node.STRUCT) {
      throw new InvalidArgumentError(`${this.file}: ${node.displayName} is not a struct`);
    }
    const fieldLayouts: FieldLayout[] = [];
    const fields: DescribedField[] = [];
    const layout: StructLayout = {
      name: this.shortName(node),
      dataWords: node.struct.dataWordCount,
      pointerCount: node.struct.pointerCount,
      fields: fieldLayouts,
    };
    const built: BuiltStruct = { id, layout, fields };
    this.byLayout.set(layout, built);
    // Cached before the fields are read, so a struct that contains itself gets a cyclic layout.
    this.structs.set(id, built);
    for (const f of this.flatten(node, '', undefined)) {
      fieldLayouts.push(f.layout);
      fields.push(f);
    }
    return built;
  }

  /** The fields of a struct or group node, groups flattened into `group.member`. */
  private flatten(
    node: schema.Node,
    prefix: string,
    outer: FieldLayout['discriminant'] | undefined,
  ): DescribedField[] {
    const out: DescribedField[] = [];
    const discriminantOffset = node.struct.discriminantOffset * 2;
    for (const field of node.struct.fields) {
      const name = prefix + field.name;
      const own =
        field.discriminantValue === NO_DISCRIMINANT
          ? undefined
          : { value: field.discriminantValue, offset: discriminantOffset };
      const discriminant = outer ?? own;
      if (field.which() === schema.Field.GROUP) {
        const group = this.node(field.group.typeId, 'group');
        const members = this.flatten(group, `${name}.`, discriminant);
        if (members.length === 0 && discriminant !== undefined) {
          out.push({ layout: { name, kind: 'void', offset: 0, discriminant }, type: { kind: 'void' } });
        }
        out.push(...members);
        continue;
      }
      const slot = field.slot;
      const t = this.slotType(slot.type);
      const layout: Mutable<FieldLayout> = { name, kind: t.kind, offset: offsetOf(t.kind, slot.offset) };
      if (t.struct !== undefined) layout.struct = t.struct;
      if (t.elem !== undefined) layout.elem = t.elem;
      if (t.interfaceName !== undefined) layout.interfaceName = t.interfaceName;
      if (discriminant !== undefined) layout.discriminant = discriminant;
      const mask = defaultMask(t.kind, slot.defaultValue, layout.offset);
      if (mask !== undefined) layout.defaultMask = mask;
      out.push({ layout, type: t.type });
    }
    return out;
  }

  /** A slot's type: its codec kind (and nested layout / element kind / interface) and SchemaType. */
  private slotType(type: schema.Type): {
    kind: FieldKind;
    type: SchemaType | undefined;
    struct?: StructLayout;
    elem?: FieldKind;
    interfaceName?: string;
  } {
    switch (type.which()) {
      case schema.Type.VOID:
        return { kind: 'void', type: { kind: 'void' } };
      case schema.Type.BOOL:
        return { kind: 'bool', type: { kind: 'bool' } };
      case schema.Type.INT8:
        return { kind: 'int8', type: { kind: 'i8' } };
      case schema.Type.INT16:
        return { kind: 'int16', type: { kind: 'i16' } };
      case schema.Type.INT32:
        return { kind: 'int32', type: { kind: 'i32' } };
      case schema.Type.INT64:
        return { kind: 'int64', type: { kind: 'i64' } };
      // Unsigned: the nearest signed kind that holds every value (UInt64: i64, the widest there is).
      case schema.Type.UINT8:
        return { kind: 'uint8', type: { kind: 'i16' } };
      case schema.Type.UINT16:
        return { kind: 'uint16', type: { kind: 'i32' } };
      case schema.Type.UINT32:
        return { kind: 'uint32', type: { kind: 'i64' } };
      case schema.Type.UINT64:
        return { kind: 'uint64', type: { kind: 'i64' } };
      case schema.Type.FLOAT32:
        return { kind: 'float32', type: { kind: 'double' } };
      case schema.Type.FLOAT64:
        return { kind: 'float64', type: { kind: 'double' } };
      case schema.Type.TEXT:
        return { kind: 'text', type: { kind: 'string' } };
      case schema.Type.DATA:
        return { kind: 'data', type: { kind: 'binary' } };
      case schema.Type.ENUM: {
        const name = this.describeEnum(type.enum.typeId);
        return { kind: 'enum', type: { kind: 'enum', name } };
      }
      case schema.Type.STRUCT: {
        const id = type.struct.typeId;
        const built = this.structOf(id);
        const name = this.describeStruct(id);
        return { kind: 'struct', struct: built.layout, type: { kind: 'struct', name } };
      }
      case schema.Type.INTERFACE: {
        const name = this.scopedName(this.node(type.interface.typeId, 'interface'));
        return { kind: 'cap', interfaceName: name, type: undefined };
      }
      case schema.Type.LIST: {
        const elem = this.slotType(type.list.elementType);
        return {
          kind: 'list',
          elem: elem.kind,
          ...(elem.struct !== undefined ? { struct: elem.struct } : {}),
          type: elem.type === undefined ? undefined : { kind: 'list', elem: elem.type },
        };
      }
      default:
        return { kind: 'anyPointer', type: undefined };
    }
  }

  /** Adds a named struct to the description (once); returns its scoped name. */
  private describeStruct(id: bigint): string {
    const node = this.node(id, 'struct');
    const name = this.scopedName(node);
    // Its fields are filled in by build(), once every layout is complete (a struct met while
    // its own layout is being read, as a struct that contains itself is, has none yet).
    if (!this.describedStructs.has(name)) {
      this.describedStructs.set(name, { name, fields: [] });
      this.describedIds.set(name, id);
    }
    return name;
  }

  private describeEnum(id: bigint): string {
    const node = this.node(id, 'enum');
    const name = this.scopedName(node);
    if (!this.describedEnums.has(name)) {
      const members = new Map<string, number>();
      node.enum.enumerants.forEach((e, value) => {
        members.set(e.name, value);
      });
      this.describedEnums.set(name, members);
    }
    return name;
  }

  private serviceOf(iface: InterfaceLayout): SchemaService {
    const methods = new Map<string, SchemaMethod>();
    for (const m of iface.methods.values()) {
      const params = this.builtFor(m.params);
      const results = this.builtFor(m.results);
      let returns: SchemaType;
      if (results.fields.length === 0) returns = { kind: 'void' };
      else if (results.fields.length === 1) returns = results.fields[0]!.type ?? { kind: 'void' };
      else returns = { kind: 'struct', name: this.describeStruct(results.id) };
      methods.set(m.name, { name: m.name, params: schemaFields(params.fields), returns, oneway: false });
    }
    return { name: iface.name, methods };
  }

  private builtFor(layout: StructLayout): BuiltStruct {
    const built = this.byLayout.get(layout);
    if (built === undefined) throw new InvalidArgumentError(`${this.file}: no struct ${layout.name}`);
    return built;
  }
}

function schemaFields(fields: readonly DescribedField[]): SchemaField[] {
  const out: SchemaField[] = [];
  for (const f of fields) if (f.type !== undefined) out.push({ name: f.layout.name, type: f.type });
  return out;
}

const DATA_BYTES: Partial<Record<FieldKind, number>> = {
  int8: 1,
  uint8: 1,
  int16: 2,
  uint16: 2,
  enum: 2,
  int32: 4,
  uint32: 4,
  float32: 4,
  int64: 8,
  uint64: 8,
  float64: 8,
};

/**
 * The XOR mask of a scalar field's schema default (`x :Int32 = 5`); undefined when the default
 * is zero (the wire value is the value) or the field is not a scalar. Pointer defaults (a
 * default Text or struct) are not applied.
 */
function defaultMask(kind: FieldKind, value: schema.Value, offset: number): DataView | undefined {
  switch (kind) {
    case 'bool':
      return value.bool ? capnp.getBitMask(true, offset % 8) : undefined;
    case 'int8':
      return value.int8 === 0 ? undefined : capnp.getInt8Mask(value.int8);
    case 'int16':
      return value.int16 === 0 ? undefined : capnp.getInt16Mask(value.int16);
    case 'int32':
      return value.int32 === 0 ? undefined : capnp.getInt32Mask(value.int32);
    case 'int64':
      return value.int64 === 0n ? undefined : capnp.getInt64Mask(value.int64);
    case 'uint8':
      return value.uint8 === 0 ? undefined : capnp.getUint8Mask(value.uint8);
    case 'uint16':
      return value.uint16 === 0 ? undefined : capnp.getUint16Mask(value.uint16);
    case 'enum':
      return value.enum === 0 ? undefined : capnp.getUint16Mask(value.enum);
    case 'uint32':
      return value.uint32 === 0 ? undefined : capnp.getUint32Mask(value.uint32);
    case 'uint64':
      return value.uint64 === 0n ? undefined : capnp.getUint64Mask(value.uint64);
    case 'float32':
      // By bits: a default of -0 is not 0.
      return Object.is(value.float32, 0) ? undefined : capnp.getFloat32Mask(value.float32);
    case 'float64':
      return Object.is(value.float64, 0) ? undefined : capnp.getFloat64Mask(value.float64);
    default:
      return undefined;
  }
}

/** The schema's slot offset (in units of the field's size) as codec.ts wants it. */
function offsetOf(kind: FieldKind, slotOffset: number): number {
  if (kind === 'void') return 0;
  if (kind === 'bool') return slotOffset;
  const bytes = DATA_BYTES[kind];
  return bytes === undefined ? slotOffset : slotOffset * bytes;
}

/**
 * Values typed by the description (the CLI's parseSchemaArgs) as the codec takes them for
 * `layout`: the description types UInt32 as i64, read as a bigint, which a UInt32 field takes
 * as a number. Everything else passes as is; nested structs and lists are converted too.
 */
export function codecValues(layout: StructLayout, values: Values): Values {
  const out: Values = { ...values };
  for (const f of layout.fields) {
    const v = out[f.name];
    if (v === undefined || v === null) continue;
    if (f.kind === 'uint32' && typeof v === 'bigint') out[f.name] = toNumber(v);
    else if (f.kind === 'struct' && f.struct !== undefined && typeof v === 'object' && !Array.isArray(v)) {
      out[f.name] = codecValues(f.struct, v as Values);
    } else if (f.kind === 'list' && Array.isArray(v)) {
      if (f.elem === 'uint32') out[f.name] = v.map((x) => (typeof x === 'bigint' ? toNumber(x) : x));
      else if (f.elem === 'struct' && f.struct !== undefined) {
        const nested = f.struct;
        out[f.name] = v.map((x) =>
          typeof x === 'object' && x !== null ? codecValues(nested, x as Values) : x,
        );
      }
    }
  }
  return out;
}

/** In range stays exact; out of range is left to the codec's range check (as a bigint it refuses). */
function toNumber(v: bigint): number | bigint {
  return v >= 0n && v <= 0xffffffffn ? Number(v) : v;
}
