/**
 * Struct layouts and the codec between JavaScript values and Cap'n Proto structs.
 *
 * The RPC layer moves params and results as plain objects keyed by field name, with
 * capabilities as Hook references; a StructLayout says where each field lives (byte offset in
 * the data section, or index in the pointer section, as the schema compiler assigned them).
 * The Calculator layouts are taken from capnp-es's generated code (calculator-schema.ts); a
 * layout can also be built from any schema at run time (schema.ts), so `--schema` calls reach
 * interfaces this file never saw. Reading and writing go through capnp-es's accessors, which
 * bound every offset by the struct's real size (a short struct from an older schema reads as
 * defaults, as the spec requires).
 */
import * as capnp from 'capnp-es';
import { InvalidArgumentError } from '../../contract/errors.js';

export type Values = Record<string, unknown>;

export type FieldKind =
  | 'void'
  | 'bool'
  | 'int8'
  | 'int16'
  | 'int32'
  | 'int64'
  | 'uint8'
  | 'uint16'
  | 'uint32'
  | 'uint64'
  | 'float32'
  | 'float64'
  | 'enum'
  | 'text'
  | 'data'
  | 'struct'
  | 'list'
  | 'cap'
  | 'anyPointer';

export interface FieldLayout {
  readonly name: string;
  readonly kind: FieldKind;
  /** Data fields: offset in bytes (bool: in bits). Pointer fields: index in the pointer section. */
  readonly offset: number;
  /** Nested struct fields and lists of structs. */
  readonly struct?: StructLayout;
  /** List fields: the element kind (lists of scalars, text, data or structs). */
  readonly elem?: FieldKind;
  /** Interface fields: the interface's name (for documentation and the CLI). */
  readonly interfaceName?: string;
  /**
   * Scalar fields with a schema default (`x :Int32 = 5`): the default's bits, which the wire
   * value is XORed with on reading and writing (capnp-es's default masks).
   */
  readonly defaultMask?: DataView;
  /** Union member: the discriminant value and the byte offset of the discriminant. */
  readonly discriminant?: { readonly value: number; readonly offset: number };
}

export interface StructLayout {
  readonly name: string;
  readonly dataWords: number;
  readonly pointerCount: number;
  readonly fields: readonly FieldLayout[];
}

/** Where a capability goes when written (its index in the payload's cap table). */
export type CapWriter = (cap: unknown) => number;
/** The capability at an index of the payload's cap table (a new reference), or null. */
export type CapReader = (index: number) => unknown;

const POINTER_KINDS = new Set<FieldKind>(['text', 'data', 'struct', 'list', 'cap', 'anyPointer']);

export function isPointerKind(kind: FieldKind): boolean {
  return POINTER_KINDS.has(kind);
}

function size(layout: StructLayout): capnp.ObjectSize {
  return new capnp.ObjectSize(layout.dataWords * 8, layout.pointerCount);
}

const ctors = new WeakMap<StructLayout, capnp.StructCtor<capnp.Struct>>();

/** A capnp-es struct class of the layout's size (capnp-es resizes shorter structs to it when read). */
function ctorOf(layout: StructLayout): capnp.StructCtor<capnp.Struct> {
  let ctor = ctors.get(layout);
  if (ctor === undefined) {
    const objectSize = size(layout);
    ctor = class extends capnp.Struct {
      static override readonly _capnp = { displayName: layout.name, id: '0', size: objectSize };
    };
    ctors.set(layout, ctor);
  }
  return ctor;
}

function bad(field: string, what: string): never {
  throw new InvalidArgumentError(`field ${field}: ${what}`);
}

function intIn(field: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    bad(field, `expected an integer in [${min}, ${max}], got ${describe(v)}`);
  }
  return v;
}

function bigIn(field: string, v: unknown, signed: boolean): bigint {
  const b =
    typeof v === 'bigint' ? v : typeof v === 'number' && Number.isSafeInteger(v) ? BigInt(v) : undefined;
  if (b === undefined) bad(field, `expected a 64-bit integer, got ${describe(v)}`);
  const ok = signed ? b >= -(2n ** 63n) && b < 2n ** 63n : b >= 0n && b < 2n ** 64n;
  if (!ok) bad(field, `${b} is out of range`);
  return b;
}

function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v);
  if (typeof v === 'bigint') return `${v}n`;
  if (v instanceof Uint8Array) return `${v.byteLength} bytes`;
  return String(v);
}

function bytesOf(field: string, v: unknown): Uint8Array {
  if (v instanceof Uint8Array) return v;
  if (v instanceof ArrayBuffer) return new Uint8Array(v);
  if (typeof v === 'string') return new TextEncoder().encode(v);
  return bad(field, `expected bytes, got ${describe(v)}`);
}

/** Writes `values` into the struct `s` (already sized to the layout). Missing fields stay default. */
export function writeStruct(s: capnp.Struct, layout: StructLayout, values: Values, caps: CapWriter): void {
  const u = capnp.utils;
  for (const f of layout.fields) {
    if (!Object.hasOwn(values, f.name)) continue;
    const v = values[f.name];
    if (v === undefined) continue;
    if (f.discriminant !== undefined) u.setUint16(f.discriminant.offset, f.discriminant.value, s);
    switch (f.kind) {
      case 'void':
        break;
      case 'bool':
        if (typeof v !== 'boolean') bad(f.name, `expected a boolean, got ${describe(v)}`);
        u.setBit(f.offset, v, s, f.defaultMask);
        break;
      case 'int8':
        u.setInt8(f.offset, intIn(f.name, v, -128, 127), s, f.defaultMask);
        break;
      case 'int16':
        u.setInt16(f.offset, intIn(f.name, v, -32768, 32767), s, f.defaultMask);
        break;
      case 'int32':
        u.setInt32(f.offset, intIn(f.name, v, -(2 ** 31), 2 ** 31 - 1), s, f.defaultMask);
        break;
      case 'uint8':
        u.setUint8(f.offset, intIn(f.name, v, 0, 255), s, f.defaultMask);
        break;
      case 'uint16':
      case 'enum':
        u.setUint16(f.offset, intIn(f.name, v, 0, 65535), s, f.defaultMask);
        break;
      case 'uint32':
        u.setUint32(f.offset, intIn(f.name, v, 0, 2 ** 32 - 1), s, f.defaultMask);
        break;
      case 'int64':
        u.setInt64(f.offset, bigIn(f.name, v, true), s, f.defaultMask);
        break;
      case 'uint64':
        u.setUint64(f.offset, bigIn(f.name, v, false), s, f.defaultMask);
        break;
      case 'float32':
      case 'float64':
        if (typeof v !== 'number') bad(f.name, `expected a number, got ${describe(v)}`);
        if (f.kind === 'float32') u.setFloat32(f.offset, v, s, f.defaultMask);
        else u.setFloat64(f.offset, v, s, f.defaultMask);
        break;
      case 'text':
        if (typeof v !== 'string') bad(f.name, `expected a string, got ${describe(v)}`);
        u.setText(f.offset, v, s);
        break;
      case 'data': {
        const bytes = bytesOf(f.name, v);
        if (bytes.byteLength > 0) u.initData(f.offset, bytes.byteLength, s).copyBuffer(bytes);
        else u.initData(f.offset, 0, s);
        break;
      }
      case 'struct': {
        if (typeof v !== 'object' || v === null) bad(f.name, `expected a struct, got ${describe(v)}`);
        const nested = f.struct!;
        const child = initStructField(s, f.offset, nested);
        writeStruct(child, nested, v as Values, caps);
        break;
      }
      case 'list':
        writeList(s, f, v, caps);
        break;
      case 'cap':
        if (v === null) break;
        u.setInterfacePointer(caps(v), u.getPointer(f.offset, s));
        break;
      case 'anyPointer':
        bad(f.name, 'AnyPointer fields cannot be written from values');
    }
  }
}

function initStructField(s: capnp.Struct, index: number, layout: StructLayout): capnp.Struct {
  const p = capnp.utils.getPointer(index, s);
  const child = new capnp.Struct(p.segment, p.byteOffset, p._capnp.depthLimit);
  capnp.utils.initStruct(size(layout), child);
  return child;
}

function writeList(s: capnp.Struct, f: FieldLayout, v: unknown, caps: CapWriter): void {
  if (!Array.isArray(v)) bad(f.name, `expected a list, got ${describe(v)}`);
  const u = capnp.utils;
  const elem = f.elem!;
  const ctor: Record<string, capnp.ListCtor<unknown>> = {
    bool: capnp.BoolList,
    int8: capnp.Int8List,
    int16: capnp.Int16List,
    int32: capnp.Int32List,
    int64: capnp.Int64List,
    uint8: capnp.Uint8List,
    uint16: capnp.Uint16List,
    enum: capnp.Uint16List,
    uint32: capnp.Uint32List,
    uint64: capnp.Uint64List,
    float32: capnp.Float32List,
    float64: capnp.Float64List,
    text: capnp.TextList,
    data: capnp.DataList as capnp.ListCtor<unknown>,
  };
  if (elem === 'struct') {
    const layout = f.struct!;
    const List = capnp.CompositeList(ctorOf(layout));
    const list = u.initList(f.offset, List, v.length, s);
    v.forEach((item, i) => {
      writeStruct(list.get(i), layout, item as Values, caps);
    });
    return;
  }
  const List = ctor[elem];
  if (List === undefined) bad(f.name, `lists of ${elem} are not supported`);
  const list = u.initList(f.offset, List, v.length, s);
  v.forEach((item, i) => {
    if (elem === 'data') {
      const bytes = bytesOf(f.name, item);
      const d = (list as unknown as capnp.List<capnp.Data>).get(i);
      void d;
      (list as unknown as { set(i: number, d: unknown): void }).set(i, bytes);
      return;
    }
    (list as unknown as { set(i: number, value: unknown): void }).set(i, checkScalar(f.name, elem, item));
  });
}

function checkScalar(field: string, kind: FieldKind, v: unknown): unknown {
  switch (kind) {
    case 'bool':
      if (typeof v !== 'boolean') bad(field, `expected a boolean, got ${describe(v)}`);
      return v;
    case 'int8':
      return intIn(field, v, -128, 127);
    case 'int16':
      return intIn(field, v, -32768, 32767);
    case 'int32':
      return intIn(field, v, -(2 ** 31), 2 ** 31 - 1);
    case 'uint8':
      return intIn(field, v, 0, 255);
    case 'uint16':
    case 'enum':
      return intIn(field, v, 0, 65535);
    case 'uint32':
      return intIn(field, v, 0, 2 ** 32 - 1);
    case 'int64':
      return bigIn(field, v, true);
    case 'uint64':
      return bigIn(field, v, false);
    case 'float32':
    case 'float64':
      if (typeof v !== 'number') bad(field, `expected a number, got ${describe(v)}`);
      return v;
    case 'text':
      if (typeof v !== 'string') bad(field, `expected a string, got ${describe(v)}`);
      return v;
    default:
      return v;
  }
}

/** Reads the struct `s` as the layout says; capabilities become new references through `caps`. */
export function readStruct(s: capnp.Struct, layout: StructLayout, caps: CapReader): Values {
  const u = capnp.utils;
  const out: Values = {};
  for (const f of layout.fields) {
    if (f.discriminant !== undefined && u.getUint16(f.discriminant.offset, s) !== f.discriminant.value)
      continue;
    switch (f.kind) {
      case 'void':
        out[f.name] = null;
        break;
      case 'bool':
        out[f.name] = u.getBit(f.offset, s, f.defaultMask);
        break;
      case 'int8':
        out[f.name] = u.getInt8(f.offset, s, f.defaultMask);
        break;
      case 'int16':
        out[f.name] = u.getInt16(f.offset, s, f.defaultMask);
        break;
      case 'int32':
        out[f.name] = u.getInt32(f.offset, s, f.defaultMask);
        break;
      case 'uint8':
        out[f.name] = u.getUint8(f.offset, s, f.defaultMask);
        break;
      case 'uint16':
      case 'enum':
        out[f.name] = u.getUint16(f.offset, s, f.defaultMask);
        break;
      case 'uint32':
        out[f.name] = u.getUint32(f.offset, s, f.defaultMask);
        break;
      case 'int64':
        out[f.name] = u.getInt64(f.offset, s, f.defaultMask);
        break;
      case 'uint64':
        out[f.name] = u.getUint64(f.offset, s, f.defaultMask);
        break;
      case 'float32':
        out[f.name] = u.getFloat32(f.offset, s, f.defaultMask);
        break;
      case 'float64':
        out[f.name] = u.getFloat64(f.offset, s, f.defaultMask);
        break;
      case 'text':
        out[f.name] = u.getText(f.offset, s);
        break;
      case 'data':
        out[f.name] = readData(s, f.offset);
        break;
      case 'struct':
        // getStruct sizes a null or shorter struct to the layout (defaults), in place.
        out[f.name] = readStruct(u.getStruct(f.offset, ctorOf(f.struct!), s), f.struct!, caps);
        break;
      case 'list':
        out[f.name] = readList(s, f, caps);
        break;
      case 'cap': {
        const p = u.getPointer(f.offset, s);
        out[f.name] = u.isNull(p) ? null : caps(u.getInterfacePointer(p));
        break;
      }
      case 'anyPointer':
        out[f.name] = null;
        break;
    }
  }
  return out;
}

function emptyStruct(layout: StructLayout): capnp.Struct {
  return new capnp.Message().initRoot(ctorOf(layout));
}

function readData(s: capnp.Struct, index: number): Uint8Array {
  const p = capnp.utils.getPointer(index, s);
  if (capnp.utils.isNull(p)) return new Uint8Array(0);
  const d = capnp.utils.getData(index, s);
  // A copy: the message's buffers are not kept past the call.
  return new Uint8Array(d.toUint8Array());
}

function readList(s: capnp.Struct, f: FieldLayout, caps: CapReader): unknown[] {
  const u = capnp.utils;
  const p = u.getPointer(f.offset, s);
  if (u.isNull(p)) return [];
  const elem = f.elem!;
  if (elem === 'struct') {
    const layout = f.struct!;
    const List = capnp.CompositeList(ctorOf(layout));
    const list = u.getList(f.offset, List, s);
    const out: unknown[] = [];
    for (let i = 0; i < list.length; i++) out.push(readStruct(list.get(i), layout, caps));
    return out;
  }
  const ctor: Partial<Record<FieldKind, capnp.ListCtor<unknown>>> = {
    bool: capnp.BoolList,
    int8: capnp.Int8List,
    int16: capnp.Int16List,
    int32: capnp.Int32List,
    int64: capnp.Int64List,
    uint8: capnp.Uint8List,
    uint16: capnp.Uint16List,
    enum: capnp.Uint16List,
    uint32: capnp.Uint32List,
    uint64: capnp.Uint64List,
    float32: capnp.Float32List,
    float64: capnp.Float64List,
    text: capnp.TextList,
  };
  if (elem === 'data') {
    const list = u.getList(f.offset, capnp.DataList as capnp.ListCtor<capnp.Data>, s);
    const out: unknown[] = [];
    for (let i = 0; i < list.length; i++) out.push(new Uint8Array(list.get(i).toUint8Array()));
    return out;
  }
  const List = ctor[elem];
  if (List === undefined) return [];
  const list = u.getList(f.offset, List, s);
  const out: unknown[] = [];
  for (let i = 0; i < list.length; i++) out.push(list.get(i));
  return out;
}

/** A struct of `layout` at `pointer` (a payload's content), initialised for writing. */
export function initStructAtPointer(pointer: capnp.Pointer, layout: StructLayout): capnp.Struct {
  const s = new capnp.Struct(pointer.segment, pointer.byteOffset, pointer._capnp.depthLimit);
  capnp.utils.initStruct(size(layout), s);
  return s;
}

/** Reads a payload's content as `layout` (null content: every field at its default). */
export function readContent(pointer: capnp.Pointer, layout: StructLayout, caps: CapReader): Values {
  const u = capnp.utils;
  if (u.isNull(pointer)) return readStruct(emptyStruct(layout), layout, caps);
  if (u.getTargetPointerType(pointer) !== capnp.PointerType.STRUCT) {
    throw new InvalidArgumentError('payload content is not a struct');
  }
  const Ctor = ctorOf(layout);
  const s = new Ctor(pointer.segment, pointer.byteOffset, pointer._capnp.depthLimit);
  const have = u.getTargetStructSize(s);
  const want = Ctor._capnp.size;
  // A struct from an older (shorter) schema: its missing fields read as defaults.
  if (have.dataByteLength < want.dataByteLength || have.pointerLength < want.pointerLength) u.resize(want, s);
  return readStruct(s, layout, caps);
}

/**
 * The capability a pipelining transform (a list of pointer-field indices) names in `values`,
 * read as `layout`: the field at each index, descending into nested structs.
 */
export function capAtPath(values: Values, layout: StructLayout, path: readonly number[]): unknown {
  let current: unknown = values;
  let here: StructLayout | undefined = layout;
  for (const index of path) {
    if (here === undefined || typeof current !== 'object' || current === null) {
      throw new InvalidArgumentError('the transform goes past a capability');
    }
    const field: FieldLayout | undefined = here.fields.find(
      (f) => isPointerKind(f.kind) && f.offset === index,
    );
    if (field === undefined) throw new InvalidArgumentError(`the results have no pointer field ${index}`);
    current = (current as Values)[field.name];
    here = field.kind === 'struct' ? field.struct : undefined;
  }
  return current;
}

/** Every capability in `values` (read as `layout`), to release them. */
export function capsIn(values: Values, layout: StructLayout): unknown[] {
  const out: unknown[] = [];
  for (const f of layout.fields) {
    const v = values[f.name];
    if (v === null || v === undefined) continue;
    if (f.kind === 'cap') out.push(v);
    else if (f.kind === 'struct' && f.struct !== undefined) out.push(...capsIn(v as Values, f.struct));
    else if (f.kind === 'list' && f.elem === 'struct' && f.struct !== undefined && Array.isArray(v)) {
      for (const item of v) out.push(...capsIn(item as Values, f.struct));
    }
  }
  return out;
}

export interface MethodLayout {
  readonly name: string;
  readonly interfaceId: bigint;
  readonly interfaceName: string;
  readonly methodId: number;
  readonly params: StructLayout;
  readonly results: StructLayout;
}

export interface InterfaceLayout {
  readonly id: bigint;
  readonly name: string;
  /** Every method, inherited ones included, by name. */
  readonly methods: ReadonlyMap<string, MethodLayout>;
}

/** The IDs a capability implementing `iface` answers to: its own and its bases'. */
export function servedInterfaceIds(iface: InterfaceLayout): ReadonlySet<bigint> {
  const ids = new Set<bigint>([iface.id]);
  for (const m of iface.methods.values()) ids.add(m.interfaceId);
  return ids;
}

/** Looks methods up by (interface id, method id), as a Call names them. */
export class SchemaRegistry {
  // By interface, then ordinal: looked up once per Call, so no key string is built (a bigint
  // turned into text per call showed in the server's profile).
  private readonly byId = new Map<bigint, Map<number, MethodLayout>>();
  readonly interfaces = new Map<string, InterfaceLayout>();

  add(iface: InterfaceLayout): this {
    this.interfaces.set(iface.name, iface);
    for (const m of iface.methods.values()) {
      let methods = this.byId.get(m.interfaceId);
      if (methods === undefined) {
        methods = new Map();
        this.byId.set(m.interfaceId, methods);
      }
      methods.set(m.methodId, m);
    }
    return this;
  }

  method(interfaceId: bigint, methodId: number): MethodLayout | undefined {
    return this.byId.get(interfaceId)?.get(methodId);
  }

  merge(other: SchemaRegistry): this {
    for (const iface of other.interfaces.values()) this.add(iface);
    return this;
  }
}
