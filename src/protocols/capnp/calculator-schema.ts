/**
 * The bundled calculator.capnp as layouts for the codec. Interface IDs and struct sizes come
 * from capnp-es's generated code (gen/calculator.ts, compiled from the schema by capnpc); the
 * field offsets are the ones the schema compiler assigned, which the generated accessors use
 * too (test/capnp/codec.test.ts writes with the generated setters and reads with the codec).
 */
import type * as capnp from 'capnp-es';
import type { FieldLayout, InterfaceLayout, MethodLayout, StructLayout } from './codec.js';
import { SchemaRegistry } from './codec.js';
import * as gen from './gen/calculator.js';

function layout(
  ctor: { readonly _capnp: { displayName: string; size: capnp.ObjectSize } },
  fields: FieldLayout[],
): StructLayout {
  const size = ctor._capnp.size;
  return {
    name: ctor._capnp.displayName,
    dataWords: Math.ceil(size.dataByteLength / 8),
    pointerCount: size.pointerLength,
    fields,
  };
}

function iface(
  id: bigint,
  name: string,
  methods: Omit<MethodLayout, 'interfaceId' | 'interfaceName'>[],
): InterfaceLayout {
  return {
    id,
    name,
    methods: new Map(methods.map((m) => [m.name, { ...m, interfaceId: id, interfaceName: name }])),
  };
}

const i32 = (name: string, offset: number): FieldLayout => ({ name, kind: 'int32', offset });
const f64 = (name: string, offset: number): FieldLayout => ({ name, kind: 'float64', offset });

export const CALCULATOR_INTERFACE_ID = gen.Calculator$Client.interfaceId;
export const ADDER_INTERFACE_ID = gen.Adder$Client.interfaceId;
export const FUNCTION_INTERFACE_ID = gen.Function$Client.interfaceId;

export const calculatorInterface = iface(CALCULATOR_INTERFACE_ID, 'Calculator', [
  {
    name: 'add',
    methodId: 0,
    params: layout(gen.Calculator_Add$Params, [i32('a', 0), i32('b', 4)]),
    results: layout(gen.Calculator_Add$Results, [i32('result', 0)]),
  },
  {
    name: 'divide',
    methodId: 1,
    params: layout(gen.Calculator_Divide$Params, [f64('a', 0), f64('b', 8)]),
    results: layout(gen.Calculator_Divide$Results, [f64('result', 0)]),
  },
  {
    name: 'echo',
    methodId: 2,
    params: layout(gen.Calculator_Echo$Params, [{ name: 'data', kind: 'data', offset: 0 }]),
    results: layout(gen.Calculator_Echo$Results, [{ name: 'data', kind: 'data', offset: 0 }]),
  },
  {
    name: 'adder',
    methodId: 3,
    params: layout(gen.Calculator_Adder$Params, [i32('base', 0)]),
    results: layout(gen.Calculator_Adder$Results, [
      { name: 'adder', kind: 'cap', offset: 0, interfaceName: 'Adder' },
    ]),
  },
  {
    name: 'apply',
    methodId: 4,
    params: layout(gen.Calculator_Apply$Params, [
      { name: 'fn', kind: 'cap', offset: 0, interfaceName: 'Function' },
      i32('a', 0),
      i32('b', 4),
    ]),
    results: layout(gen.Calculator_Apply$Results, [i32('result', 0)]),
  },
]);

export const adderInterface = iface(ADDER_INTERFACE_ID, 'Adder', [
  {
    name: 'add',
    methodId: 0,
    params: layout(gen.Adder_Add$Params, [i32('x', 0)]),
    results: layout(gen.Adder_Add$Results, [i32('result', 0)]),
  },
]);

export const functionInterface = iface(FUNCTION_INTERFACE_ID, 'Function', [
  {
    name: 'call',
    methodId: 0,
    params: layout(gen.Function_Call$Params, [i32('a', 0), i32('b', 4)]),
    results: layout(gen.Function_Call$Results, [i32('result', 0)]),
  },
]);

/** Every interface of calculator.capnp. */
export function calculatorSchema(): SchemaRegistry {
  return new SchemaRegistry().add(calculatorInterface).add(adderInterface).add(functionInterface);
}
