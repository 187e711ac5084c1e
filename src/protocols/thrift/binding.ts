/**
 * Pairs a contract's method table with a loaded IDL: each contract method becomes a call plan
 * (field ids and wire types of its arguments, result and declared exceptions). Methods in
 * both must agree on types, checked when serving or connecting. A method the IDL lacks is
 * derived from the table (field ids 1..n in parameter order), so a client can still send it
 * and get the server's UNKNOWN_METHOD answer, as a generated client of an older IDL would.
 */
import { type ErrorCode, InvalidArgumentError, isErrorCode } from '../../contract/errors.js';
import type { Contract, MethodSpec, ValueType } from '../../contract/spec.js';
import type { StructLookup } from './codec.js';
import {
  loadIdl,
  pickService,
  type ThriftField,
  type ThriftIdl,
  type ThriftStruct,
  type ThriftType,
  typeName,
} from './idl.js';

export interface DeclaredException {
  /** Field id and name in the result struct. */
  readonly field: ThriftField;
  readonly struct: ThriftStruct | undefined;
  /** The contract error code this exception stands for, by name (DivideByZero -> DIVIDE_BY_ZERO). */
  readonly code: ErrorCode | undefined;
}

export interface MethodPlan {
  readonly name: string;
  readonly oneway: boolean;
  readonly params: readonly ThriftField[];
  /** Type of the result's field 0; undefined means "whatever arrives" (ad-hoc call outside the IDL). */
  readonly returns: ThriftType | undefined;
  readonly throws: readonly DeclaredException[];
  /** True when the method was found in the IDL (false: derived from the method table). */
  readonly inIdl: boolean;
}

export interface Binding {
  readonly idl: ThriftIdl;
  readonly service: string;
  readonly plans: ReadonlyMap<string, MethodPlan>;
  readonly structs: StructLookup;
}

/** The IDL type a contract value type travels as; `dynamic` has none. */
export function idlTypeOf(type: ValueType): ThriftType | undefined {
  return type === 'dynamic' ? undefined : { kind: type };
}

/** "DivideByZero", "DivideByZeroException", "InvalidArgumentError" -> the matching error code. */
export function codeForException(name: string): ErrorCode | undefined {
  const bare = name.slice(name.lastIndexOf('.') + 1).replace(/(Exception|Error)$/, '');
  const snake = bare.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
  return isErrorCode(snake) ? snake : undefined;
}

function sameType(contract: ValueType, idl: ThriftType): boolean {
  return contract !== 'dynamic' && idl.kind === contract;
}

function derive(name: string, spec: MethodSpec): MethodPlan {
  const params = spec.params.map((p, i) => {
    const type = idlTypeOf(p.type);
    if (!type) throw new InvalidArgumentError(`${name}: parameter '${p.name}' has no Thrift type (dynamic)`);
    return { id: i + 1, name: p.name, type };
  });
  return { name, oneway: false, params, returns: idlTypeOf(spec.result), throws: [], inIdl: false };
}

/** Builds the call plans of `contract` against the IDL at `schemaPath` (default: calculator.thrift). */
export function bindContract(contract: Contract, schemaPath?: string): Binding {
  const idl = loadIdl(schemaPath);
  const service = pickService(idl, contract.name);
  const structs: StructLookup = (n) => idl.structs.get(n);
  const plans = new Map<string, MethodPlan>();
  const problems: string[] = [];
  for (const [name, spec] of Object.entries(contract.methods)) {
    const fn = service.functions.get(name);
    if (!fn) {
      plans.set(name, derive(name, spec));
      continue;
    }
    // A contract method with a dynamic result is an ad-hoc call (the CLI's `call` of a method
    // outside Calculator): the IDL's types rule, arguments are converted when written.
    const adHoc = spec.result === 'dynamic';
    if (!adHoc) {
      if (fn.params.length !== spec.params.length) {
        problems.push(
          `${name} takes ${spec.params.length} parameter(s) in the contract, ${fn.params.length} in the IDL`,
        );
      }
      spec.params.forEach((p, i) => {
        const f = fn.params[i];
        if (f && !sameType(p.type, f.type))
          problems.push(
            `${name} parameter ${i + 1} ('${p.name}') is ${p.type} in the contract, ${typeName(f.type)} in the IDL`,
          );
      });
      if (!sameType(spec.result, fn.returns))
        problems.push(`${name} returns ${spec.result} in the contract, ${typeName(fn.returns)} in the IDL`);
    }
    plans.set(name, {
      name,
      oneway: fn.oneway,
      params: fn.params,
      returns: fn.returns,
      throws: fn.throws.map((field) => {
        const structName = field.type.kind === 'struct' ? field.type.name : '';
        return { field, struct: idl.structs.get(structName), code: codeForException(structName) };
      }),
      inIdl: true,
    });
  }
  if (problems.length > 0) {
    throw new InvalidArgumentError(
      `contract ${contract.name} and service ${service.name} of ${idl.path} disagree: ${problems.join('; ')}`,
    );
  }
  return { idl, service: service.name, plans, structs };
}
