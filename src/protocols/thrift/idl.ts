/**
 * Loads a `.thrift` IDL at runtime, as thriftpy2's `thriftpy2.load()` does: the file is parsed
 * with @creditkarma/thrift-parser and reduced to the few facts the wire needs (services,
 * functions with field ids and types, exceptions, structs, enums, typedefs). No code is
 * generated, so any Thrift service can be served or called given only its IDL.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type {
  ConstValue,
  FieldDefinition,
  FunctionType,
  ServiceDefinition,
  ThriftDocument,
  ThriftError,
  ThriftStatement,
} from '@creditkarma/thrift-parser';
import thriftParser from '@creditkarma/thrift-parser';
import { InvalidArgumentError } from '../../contract/errors.js';

const { createParser, createScanner, SyntaxType } = thriftParser;

/**
 * The parser's own parse() prints errors to the console; scanning and parsing directly lets
 * the first error become an exception naming file, line and column instead.
 */
function parseThrift(text: string, file: string): ThriftDocument {
  const report = (err: ThriftError): never => {
    // The parser reports a top-level keyword it does not know (senum, interaction, a stray
    // word) by failing inside itself: no location, and a message about its own internals.
    const loc = (err as { loc?: ThriftError['loc'] }).loc;
    if (loc === undefined)
      throw new IdlError(
        `${file}: unsupported or invalid Thrift definition (expected include, cpp_include, namespace, typedef, const, enum, struct, union, exception or service)`,
      );
    throw new IdlError(`${file}:${loc.start.line}:${loc.start.column}: ${err.message}`);
  };
  return createParser(createScanner(unsupportedNoOps(text), report).scan(), report).parse();
}

/**
 * `namespace * name` (every language) and `cpp_include "..."` are standard Thrift the parser
 * rejects; neither matters on the wire, so the `*` becomes an identifier of the same width and
 * a cpp_include turns into spaces (line and column numbers of later errors stay right).
 */
function unsupportedNoOps(text: string): string {
  return text
    .replace(/^([ \t]*namespace[ \t]+)\*(?=[ \t])/gm, '$1_')
    .replace(/^[ \t]*cpp_include[ \t]+"[^"\n]*"/gm, (m) => ' '.repeat(m.length));
}

/** A resolved Thrift type: typedefs are followed, identifiers name a struct-like or an enum. */
export type ThriftType =
  | { readonly kind: 'void' }
  | { readonly kind: 'bool' | 'byte' | 'i16' | 'i32' | 'i64' | 'double' | 'string' | 'binary' }
  | { readonly kind: 'enum'; readonly name: string }
  | { readonly kind: 'struct'; readonly name: string }
  | { readonly kind: 'list' | 'set'; readonly elem: ThriftType }
  | { readonly kind: 'map'; readonly key: ThriftType; readonly value: ThriftType };

export interface ThriftField {
  readonly id: number;
  readonly name: string;
  readonly type: ThriftType;
  /** Declared `required`: generated readers refuse a struct without it. */
  readonly required?: boolean;
  /**
   * The IDL's `= value`, as a value of the field's type: a struct read without the field
   * carries it, and one written without it (undefined) sends it, as thriftpy2 and generated
   * constructors do. Shared: use through fieldDefault(), which copies containers.
   */
  readonly default?: unknown;
}

/** A field's default value, copied when mutable so no two structs share it. */
export function fieldDefault(f: ThriftField): unknown {
  return typeof f.default === 'object' && f.default !== null ? structuredClone(f.default) : f.default;
}

export interface ThriftStruct {
  readonly name: string;
  readonly kind: 'struct' | 'union' | 'exception';
  readonly fields: readonly ThriftField[];
}

export interface ThriftFunction {
  readonly name: string;
  readonly oneway: boolean;
  readonly returns: ThriftType;
  readonly params: readonly ThriftField[];
  /** Declared exceptions: field id and name in the result struct, type names a ThriftStruct. */
  readonly throws: readonly ThriftField[];
}

export interface ThriftService {
  readonly name: string;
  /** Own functions plus those of the services it extends. */
  readonly functions: ReadonlyMap<string, ThriftFunction>;
}

export interface ThriftEnum {
  readonly name: string;
  /** Member names and their values (explicit, or one more than the previous member's). */
  readonly members: ReadonlyMap<string, number>;
}

export interface ThriftIdl {
  readonly path: string;
  readonly services: ReadonlyMap<string, ThriftService>;
  readonly structs: ReadonlyMap<string, ThriftStruct>;
  /** Enums by the name types carry ("Op", or "shared.Op" from an include). */
  readonly enums: ReadonlyMap<string, ThriftEnum>;
}

/** The bundled calculator.thrift: next to this module under src/, or in src/ when running from dist/. */
export function bundledIdlPath(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const candidates = [
    path.join(here, 'calculator.thrift'),
    path.join(here, '..', '..', '..', '..', 'src', 'protocols', 'thrift', 'calculator.thrift'),
  ];
  return candidates.find((p) => existsSync(p)) ?? candidates[0]!;
}

/** A missing or invalid IDL: a bad option to serve/connect, hence INVALID_ARGUMENT. */
export class IdlError extends InvalidArgumentError {}

const cache = new Map<string, ThriftIdl>();

/** Loads (and caches) an IDL file and everything it includes. */
export function loadIdl(file: string = bundledIdlPath()): ThriftIdl {
  const abs = path.resolve(file);
  const hit = cache.get(abs);
  if (hit) return hit;
  const idl = new Loader().load(abs);
  cache.set(abs, idl);
  return idl;
}

/** Parses IDL source text (for tests and for IDLs that do not live in a file). */
export function parseIdl(source: string, name = '<inline>.thrift'): ThriftIdl {
  return new Loader().loadSource(source, path.resolve(name));
}

type Definition =
  | { readonly kind: 'typedef'; readonly type: FunctionType; readonly scope: Scope }
  | { readonly kind: 'enum' }
  | { readonly kind: 'const'; readonly type: FunctionType; readonly value: ConstValue }
  | { readonly kind: 'struct'; readonly struct: ThriftStruct };

/** The names one file sees: its own, and those of its includes under the include's basename. */
interface Scope {
  readonly file: string;
  /** "" for the loaded file, "<basename>." for included ones, so struct names stay unique. */
  readonly prefix: string;
  readonly includes: Map<string, Scope>;
  readonly defs: Map<string, Definition>;
  readonly services: Map<string, ServiceDefinition>;
}

class Loader {
  private readonly scopes = new Map<string, Scope>();
  private readonly structs = new Map<string, ThriftStruct>();
  private readonly enums = new Map<string, ThriftEnum>();
  private readonly loading = new Set<string>();
  /** Fields with an `= value`, converted once every struct is known (defaults may be structs). */
  private readonly defaults: {
    field: { default?: unknown };
    value: ConstValue;
    scope: Scope;
    where: string;
  }[] = [];

  load(file: string): ThriftIdl {
    let source: string;
    try {
      source = readFileSync(file, 'utf8');
    } catch (err) {
      throw new IdlError(`cannot read Thrift IDL ${file}: ${(err as Error).message}`);
    }
    return this.loadSource(source, file);
  }

  loadSource(source: string, file: string): ThriftIdl {
    const root = this.scopeFor(file, source, '');
    const services = new Map<string, ThriftService>();
    for (const [name, def] of root.services) services.set(name, this.service(root, def, new Set()));
    const converted = this.defaults.splice(0);
    for (const d of converted) {
      d.field.default = this.constValue(d.scope, d.value, (d.field as ThriftField).type, d.where, 0);
    }
    // A struct default names some fields; the others take their own defaults, as a generated
    // constructor called with those fields would.
    for (const d of converted) this.complete((d.field as ThriftField).type, d.field.default, d.where, 0);
    return { path: file, services, structs: this.structs, enums: this.enums };
  }

  private scopeFor(file: string, source: string | undefined, prefix: string): Scope {
    const existing = this.scopes.get(file);
    if (existing) return existing;
    if (this.loading.has(file)) throw new IdlError(`Thrift IDL include cycle through ${file}`);
    this.loading.add(file);
    let text = source;
    if (text === undefined) {
      try {
        text = readFileSync(file, 'utf8');
      } catch (err) {
        throw new IdlError(`cannot read included Thrift IDL ${file}: ${(err as Error).message}`);
      }
    }
    const doc = parseThrift(text, file);
    const scope: Scope = { file, prefix, includes: new Map(), defs: new Map(), services: new Map() };
    this.collect(scope, doc);
    this.loading.delete(file);
    this.scopes.set(file, scope);
    // Struct fields are resolved after every name of the scope is known (forward references).
    for (const statement of doc.body) this.resolveStruct(scope, statement);
    return scope;
  }

  private collect(scope: Scope, doc: ThriftDocument): void {
    for (const s of doc.body) {
      switch (s.type) {
        case SyntaxType.IncludeDefinition: {
          const target = path.resolve(path.dirname(scope.file), s.path.value);
          const base = path.basename(s.path.value, '.thrift');
          scope.includes.set(base, this.scopeFor(target, undefined, `${base}.`));
          break;
        }
        case SyntaxType.TypedefDefinition:
          scope.defs.set(s.name.value, { kind: 'typedef', type: s.definitionType, scope });
          break;
        case SyntaxType.EnumDefinition: {
          // Kept so callers can name members (the CLI takes `ADD` for an enum argument).
          const members = new Map<string, number>();
          let next = 0;
          for (const m of s.members) {
            const literal = m.initializer?.value;
            const radix = literal?.type === SyntaxType.HexLiteral ? 16 : 10;
            const value = literal ? Number.parseInt(literal.value, radix) : next;
            members.set(m.name.value, value);
            next = value + 1;
          }
          const name = scope.prefix + s.name.value;
          this.enums.set(name, { name, members });
          scope.defs.set(s.name.value, { kind: 'enum' });
          break;
        }
        case SyntaxType.StructDefinition:
        case SyntaxType.UnionDefinition:
        case SyntaxType.ExceptionDefinition: {
          // Filled in by resolveStruct; registered first so fields may refer to any struct.
          const struct: ThriftStruct = { name: scope.prefix + s.name.value, kind: 'struct', fields: [] };
          scope.defs.set(s.name.value, { kind: 'struct', struct });
          break;
        }
        case SyntaxType.ServiceDefinition:
          scope.services.set(s.name.value, s);
          break;
        case SyntaxType.ConstDefinition:
          // Only read when a default value names it.
          scope.defs.set(s.name.value, { kind: 'const', type: s.fieldType, value: s.initializer });
          break;
        default:
          break;
      }
    }
  }

  private resolveStruct(scope: Scope, s: ThriftStatement): void {
    if (
      s.type !== SyntaxType.StructDefinition &&
      s.type !== SyntaxType.UnionDefinition &&
      s.type !== SyntaxType.ExceptionDefinition
    )
      return;
    const kind =
      s.type === SyntaxType.ExceptionDefinition
        ? 'exception'
        : s.type === SyntaxType.UnionDefinition
          ? 'union'
          : 'struct';
    const def = scope.defs.get(s.name.value);
    if (def?.kind !== 'struct') return;
    const struct: ThriftStruct = {
      name: def.struct.name,
      kind,
      // A union with defaults would carry several fields at once; generated unions ignore them.
      fields: this.fields(scope, s.fields, `${kind} ${s.name.value}`, kind !== 'union'),
    };
    scope.defs.set(s.name.value, { kind: 'struct', struct });
    this.structs.set(struct.name, struct);
  }

  private fields(
    scope: Scope,
    defs: readonly FieldDefinition[],
    owner: string,
    withDefaults = true,
  ): ThriftField[] {
    const out: ThriftField[] = [];
    let implicit = 0;
    for (const f of defs) {
      // Thrift assigns negative ids to fields declared without one; keep that convention.
      const id = f.fieldID?.value ?? --implicit;
      if (out.some((o) => o.id === id)) throw new IdlError(`${owner}: duplicate field id ${id}`);
      const field: ThriftField = {
        id,
        name: f.name.value,
        type: this.type(scope, f.fieldType, `${owner}.${f.name.value}`),
        ...(f.requiredness === 'required' ? { required: true } : {}),
      };
      if (withDefaults && f.defaultValue)
        this.defaults.push({ field, value: f.defaultValue, scope, where: `${owner}.${f.name.value}` });
      out.push(field);
    }
    return out;
  }

  private service(scope: Scope, def: ServiceDefinition, seen: Set<string>): ThriftService {
    const functions = new Map<string, ThriftFunction>();
    if (seen.has(def.name.value)) throw new IdlError(`service ${def.name.value} extends itself`);
    seen.add(def.name.value);
    if (def.extends) {
      const [parentScope, parentName] = this.lookup(scope, def.extends.value);
      const parent = parentScope.services.get(parentName);
      if (!parent)
        throw new IdlError(`service ${def.name.value} extends unknown service ${def.extends.value}`);
      for (const [name, fn] of this.service(parentScope, parent, seen).functions) functions.set(name, fn);
    }
    for (const fn of def.functions) {
      const where = `${def.name.value}.${fn.name.value}`;
      functions.set(fn.name.value, {
        name: fn.name.value,
        oneway: fn.oneway,
        returns: this.type(scope, fn.returnType, where),
        params: this.fields(scope, fn.fields, where),
        throws: this.fields(scope, fn.throws, `${where} throws`),
      });
    }
    return { name: def.name.value, functions };
  }

  /** Fills the fields a struct default leaves out with their own defaults, at any depth. */
  private complete(t: ThriftType, v: unknown, where: string, depth: number): void {
    if (depth > 32) throw new IdlError(`${where}: default value nests too deep`);
    if (t.kind === 'list' || t.kind === 'set') {
      if (Array.isArray(v)) for (const e of v) this.complete(t.elem, e, where, depth + 1);
    } else if (t.kind === 'map') {
      if (v instanceof Map) for (const e of v.values()) this.complete(t.value, e, where, depth + 1);
    } else if (t.kind === 'struct' && typeof v === 'object' && v !== null) {
      const values = v as Record<string, unknown>;
      for (const f of this.structs.get(t.name)?.fields ?? []) {
        if (values[f.name] === undefined && f.default !== undefined) values[f.name] = fieldDefault(f);
        this.complete(f.type, values[f.name], where, depth + 1);
      }
    }
  }

  /** Converts a default value (or a constant it names) to a value of type `t`. */
  private constValue(scope: Scope, v: ConstValue, t: ThriftType, where: string, depth: number): unknown {
    const bad = (): never => {
      throw new IdlError(`${where}: default value does not fit ${typeName(t)}`);
    };
    if (depth > 32) throw new IdlError(`${where}: default value nests too deep`);
    if (v.type === SyntaxType.Identifier) {
      if (t.kind === 'enum') {
        // "Op.ADD", "ADD" or "inc.Op.ADD": the member name is the last part.
        const member = this.enums.get(t.name)?.members.get(v.value.slice(v.value.lastIndexOf('.') + 1));
        if (member !== undefined) return member;
      }
      const [defScope, bare] = this.lookup(scope, v.value);
      const def = defScope.defs.get(bare);
      if (def?.kind !== 'const')
        throw new IdlError(`${where}: default value names unknown constant ${v.value}`);
      return this.constValue(defScope, def.value, t, where, depth + 1);
    }
    const int = (): string | undefined => (v.type === SyntaxType.IntConstant ? v.value.value : undefined);
    switch (t.kind) {
      case 'bool':
        if (v.type === SyntaxType.BooleanLiteral) return v.value;
        return int() !== undefined ? Number(int()) !== 0 : bad();
      case 'byte':
      case 'i16':
      case 'i32':
      case 'enum':
        return int() !== undefined ? Number(int()) : bad();
      case 'i64':
        return int() !== undefined ? BigInt(int()!) : bad();
      case 'double':
        if (v.type === SyntaxType.DoubleConstant) return Number(v.value.value);
        return int() !== undefined ? Number(int()) : bad();
      case 'string':
        return v.type === SyntaxType.StringLiteral ? v.value : bad();
      case 'binary':
        return v.type === SyntaxType.StringLiteral ? Buffer.from(v.value, 'utf8') : bad();
      case 'list':
      case 'set':
        if (v.type !== SyntaxType.ConstList) return bad();
        return v.elements.map((e) => this.constValue(scope, e, t.elem, where, depth + 1));
      case 'map':
        if (v.type !== SyntaxType.ConstMap) return bad();
        return new Map(
          v.properties.map((p) => [
            this.constValue(scope, p.name, t.key, where, depth + 1),
            this.constValue(scope, p.initializer, t.value, where, depth + 1),
          ]),
        );
      case 'struct': {
        // A struct default is a map from field names to values.
        const struct = this.structs.get(t.name);
        if (v.type !== SyntaxType.ConstMap || !struct) return bad();
        const out: Record<string, unknown> = {};
        for (const p of v.properties) {
          const key = p.name.type === SyntaxType.StringLiteral ? p.name.value : undefined;
          const f = struct.fields.find((x) => x.name === key);
          if (!f) throw new IdlError(`${where}: default value sets an unknown field of ${t.name}`);
          out[f.name] = this.constValue(scope, p.initializer, f.type, where, depth + 1);
        }
        return out;
      }
      default:
        return bad();
    }
  }

  /** Splits "include.Name" into the scope that defines it and the bare name. */
  private lookup(scope: Scope, name: string): [Scope, string] {
    const dot = name.indexOf('.');
    if (dot > 0) {
      const inc = scope.includes.get(name.slice(0, dot));
      if (inc) return [inc, name.slice(dot + 1)];
    }
    return [scope, name];
  }

  private type(scope: Scope, t: FunctionType, where: string, depth = 0): ThriftType {
    if (depth > 32) throw new IdlError(`${where}: typedef chain too deep`);
    switch (t.type) {
      case SyntaxType.VoidKeyword:
        return { kind: 'void' };
      case SyntaxType.BoolKeyword:
        return { kind: 'bool' };
      case SyntaxType.ByteKeyword:
      case SyntaxType.I8Keyword:
        return { kind: 'byte' };
      case SyntaxType.I16Keyword:
        return { kind: 'i16' };
      case SyntaxType.I32Keyword:
        return { kind: 'i32' };
      case SyntaxType.I64Keyword:
        return { kind: 'i64' };
      case SyntaxType.DoubleKeyword:
        return { kind: 'double' };
      case SyntaxType.StringKeyword:
        return { kind: 'string' };
      case SyntaxType.BinaryKeyword:
        return { kind: 'binary' };
      case SyntaxType.ListType:
        return { kind: 'list', elem: this.type(scope, t.valueType, where, depth + 1) };
      case SyntaxType.SetType:
        return { kind: 'set', elem: this.type(scope, t.valueType, where, depth + 1) };
      case SyntaxType.MapType:
        return {
          kind: 'map',
          key: this.type(scope, t.keyType, where, depth + 1),
          value: this.type(scope, t.valueType, where, depth + 1),
        };
      case SyntaxType.Identifier: {
        const [defScope, bare] = this.lookup(scope, t.value);
        const def = defScope.defs.get(bare);
        if (!def && t.value === 'uuid')
          throw new IdlError(`${where}: the uuid type (Thrift 0.19+) is not supported`);
        if (!def) throw new IdlError(`${where}: unknown type ${t.value}`);
        if (def.kind === 'typedef') return this.type(def.scope, def.type, where, depth + 1);
        if (def.kind === 'enum') return { kind: 'enum', name: defScope.prefix + bare };
        if (def.kind === 'const') throw new IdlError(`${where}: ${t.value} is a constant, not a type`);
        return { kind: 'struct', name: def.struct.name };
      }
      default:
        throw new IdlError(`${where}: unsupported type ${String((t as { type: string }).type)}`);
    }
  }
}

/** The service a contract maps to: the one named like the contract, else the file's only one. */
export function pickService(idl: ThriftIdl, contractName: string): ThriftService {
  const named = idl.services.get(contractName);
  if (named) return named;
  if (idl.services.size === 1) return [...idl.services.values()][0]!;
  const names = [...idl.services.keys()].join(', ') || 'none';
  throw new IdlError(
    `${idl.path} has no service named ${contractName} (services: ${names}); name the service like the contract`,
  );
}

/** Short human form of a type, for error messages. */
export function typeName(t: ThriftType): string {
  switch (t.kind) {
    case 'enum':
    case 'struct':
      return t.name;
    case 'list':
    case 'set':
      return `${t.kind}<${typeName(t.elem)}>`;
    case 'map':
      return `map<${typeName(t.key)},${typeName(t.value)}>`;
    default:
      return t.kind;
  }
}
