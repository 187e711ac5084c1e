/**
 * A contract is data: a method table of names, parameter and result types, and the typed
 * errors each method may raise. Dynamic protocols serve and call any table; schema-first
 * protocols pair a table with their IDL. The TypeScript types of services and clients are
 * derived from the table, so a contract is written once.
 */
import type { ErrorCode } from './errors.js';

/**
 * Wire-neutral value types. `i32` is a 32-bit signed integer, `double` an IEEE-754 double.
 * `dynamic` is any value the protocol can carry, unchecked: it describes results of ad-hoc
 * calls to methods outside a contract (e.g. `rpclab call jsonrpc someMethod 1 2`).
 */
export type ValueType = 'i32' | 'i64' | 'double' | 'bool' | 'string' | 'binary' | 'dynamic';

export interface ParamSpec {
  readonly name: string;
  readonly type: ValueType;
}

export interface MethodSpec {
  readonly params: readonly ParamSpec[];
  readonly result: ValueType;
  /** Application errors the method may raise, beyond the transport-level ones. */
  readonly errors?: readonly ErrorCode[];
  /** Safe to retry after a lost reply (used by clients that resend, e.g. ZeroMQ lazy pirate). */
  readonly idempotent?: boolean;
  readonly doc?: string;
}

export interface Contract {
  readonly name: string;
  /** Namespace used by protocols that need one (SOAP target namespace, Thrift namespace, ...). */
  readonly namespace: string;
  readonly methods: Readonly<Record<string, MethodSpec>>;
}

/** TypeScript type carried by each value type. */
export interface ValueTypeMap {
  i32: number;
  i64: bigint;
  double: number;
  bool: boolean;
  string: string;
  binary: Uint8Array;
  dynamic: unknown;
}

export type TsType<T extends ValueType> = ValueTypeMap[T];

type ParamsToArgs<P extends readonly ParamSpec[]> = {
  -readonly [I in keyof P]: P[I] extends { readonly type: infer T extends ValueType } ? TsType<T> : never;
};

export type ArgsOf<M extends MethodSpec> = ParamsToArgs<M['params']>;

export type ResultOf<M extends MethodSpec> = TsType<M['result']>;

/** What a server is given: one function per method, sync or async. */
export type Implementation<C extends Contract> = {
  readonly [K in keyof C['methods']]: (
    ...args: ArgsOf<C['methods'][K]>
  ) => ResultOf<C['methods'][K]> | Promise<ResultOf<C['methods'][K]>>;
};

export interface Closable {
  close(): Promise<void>;
}

/** What a client returns: one async function per method, plus close(). */
export type Client<C extends Contract> = {
  readonly [K in keyof C['methods']]: (
    ...args: ArgsOf<C['methods'][K]>
  ) => Promise<ResultOf<C['methods'][K]>>;
} & Closable;

/** Untyped views, for code generic over any contract (dispatchers, the CLI's `call`). */
export type AnyHandler = (...args: never[]) => unknown;
export type UntypedCall = (method: string, args: readonly unknown[]) => Promise<unknown>;

export function defineContract<const C extends Contract>(contract: C): C {
  return contract;
}

export function methodNames(contract: Contract): string[] {
  return Object.keys(contract.methods);
}

export function getMethod(contract: Contract, name: string): MethodSpec | undefined {
  return Object.hasOwn(contract.methods, name) ? contract.methods[name] : undefined;
}
