/**
 * The Protocol interface every adapter implements. The CLI, tour, benchmarks and the
 * conformance suite only ever talk to this interface.
 */
import type { Client, Contract, Implementation } from '../contract/spec.js';

/** Facts about a protocol that feed the README's comparison table and the tour. */
export interface Traits {
  /** How the contract is declared: an IDL/schema file, a WSDL, or nothing (dynamic). */
  readonly schema: 'idl' | 'wsdl' | 'none';
  readonly encoding: 'binary' | 'text';
  /** The transport, as a short phrase ("HTTP/1.1", "TCP", "ZMTP over TCP"). */
  readonly transport: string;
  /** The server can call functions the client passes in. */
  readonly callbacks: boolean;
  /** Many calls can be in flight on one connection (in some variant: see pipelinedVariant). */
  readonly pipelining: boolean;
  /** The variant that pipelines, when the default one does not (ZeroMQ's lock-step REQ vs DEALER). */
  readonly pipelinedVariant?: string;
}

export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024;
export const DEFAULT_TIMEOUT_MS = 10_000;

export interface ServeOptions {
  /** Defaults to 127.0.0.1: nothing is exposed beyond loopback unless asked. */
  host?: string;
  /** Defaults to the protocol's survey port; 0 picks a free port. */
  port?: number;
  /** Protocol variant (e.g. Thrift's "compact-framed"); defaults to the first in `variants`. */
  variant?: string;
  /** Largest request accepted; larger ones are rejected without being buffered. */
  maxMessageBytes?: number;
  /** Path to an IDL/schema/WSDL for schema-first protocols serving a contract other than Calculator. */
  schemaPath?: string;
}

export interface ConnectOptions {
  host?: string;
  port?: number;
  variant?: string;
  /** Per-call timeout; a call not answered in time fails with TIMEOUT. */
  timeoutMs?: number;
  maxMessageBytes?: number;
  schemaPath?: string;
  /** HTTP path of the endpoint, for protocols over HTTP (default "/"); e.g. "/RPC2". */
  path?: string;
}

/**
 * A value type as a schema declares it (Thrift IDL, .proto, WSDL), richer than the contract's
 * ValueType: tools that call any method of a schema (the CLI's `call --schema`) read arguments
 * by it. Struct and enum types name an entry of the description's `structs` / `enums`, so
 * recursive structs stay finite.
 */
export type SchemaType =
  | { readonly kind: 'void' | 'bool' | 'i8' | 'i16' | 'i32' | 'i64' | 'double' | 'string' | 'binary' }
  | { readonly kind: 'enum' | 'struct'; readonly name: string }
  | { readonly kind: 'list' | 'set'; readonly elem: SchemaType }
  | { readonly kind: 'map'; readonly key: SchemaType; readonly value: SchemaType };

export interface SchemaField {
  readonly name: string;
  readonly type: SchemaType;
  /** A struct value lacking it is refused by the peer. */
  readonly required?: boolean;
}

export interface SchemaMethod {
  readonly name: string;
  readonly params: readonly SchemaField[];
  readonly returns: SchemaType;
  /** No reply is sent or awaited. */
  readonly oneway: boolean;
}

export interface SchemaService {
  readonly name: string;
  /** Every callable method, inherited ones included. */
  readonly methods: ReadonlyMap<string, SchemaMethod>;
}

export interface SchemaDescription {
  /** The schema file described. */
  readonly path: string;
  readonly services: ReadonlyMap<string, SchemaService>;
  readonly structs: ReadonlyMap<string, { readonly name: string; readonly fields: readonly SchemaField[] }>;
  /** Enum member names and values, by enum name. */
  readonly enums: ReadonlyMap<string, ReadonlyMap<string, number>>;
}

export interface RunningServer {
  readonly host: string;
  readonly port: number;
  /** The address a client would use, e.g. "http://127.0.0.1:4000/" or "tcp://127.0.0.1:5555". */
  readonly address: string;
  /** Stops accepting, closes every connection, and frees the port. */
  close(): Promise<void>;
  /**
   * Graceful shutdown: stops accepting, answers the calls already in progress for up to
   * `graceMs` (then cuts the rest), closes, and frees the port. Clients see their calls
   * answered or failed with TRANSPORT, never a hang. src/serve/drain.ts's drainServer() falls
   * back to close() for a server without it.
   */
  drain?(graceMs: number): Promise<void>;
}

/**
 * A broker in front of worker processes, for a protocol whose servers cannot share one
 * listening port through node:cluster (libzmq binds its own sockets): it listens where the
 * server would, and workers connect to its backend.
 */
export interface Broker {
  readonly host: string;
  readonly port: number;
  readonly address: string;
  /** The endpoint workers connect to. */
  readonly backend: string;
  close(): Promise<void>;
}

export interface Protocol {
  /** Short name used by the CLI and the reports: "jsonrpc", "thrift", ... */
  readonly name: string;
  /** Human title for tables: "JSON-RPC 2.0", "Apache Thrift", ... */
  readonly title: string;
  /** The survey's port for this protocol. */
  readonly defaultPort: number;
  readonly traits: Traits;
  /** Variants offered (wire encodings, transports, socket patterns); the first is the default. */
  readonly variants: readonly string[];
  serve<C extends Contract>(
    contract: C,
    impl: Implementation<C>,
    options?: ServeOptions,
  ): Promise<RunningServer>;
  connect<C extends Contract>(contract: C, options?: ConnectOptions): Promise<Client<C>>;
  /**
   * Schema-first protocols: the services, methods and types of a schema file (default: the
   * bundled one). A contract named like one of its services, holding any of that service's
   * methods with `dynamic` parameters and result, can then be connected with the same
   * schemaPath; the schema types the values. Throws INVALID_ARGUMENT for a missing or bad file.
   */
  describe?(options?: { readonly schemaPath?: string }): SchemaDescription;
  /**
   * describe() for schemas that may have to be fetched (SOAP's http://host:port/?wsdl): takes a
   * file as describe() does, or a URL. The CLI prefers it when a protocol has it.
   */
  describeAsync?(options?: { readonly schemaPath?: string }): Promise<SchemaDescription>;
  /**
   * For protocols whose servers cannot share a port through node:cluster: how several worker
   * processes serve behind one address (src/serve/serve.ts uses it for `workers`). Others are
   * served by node:cluster workers sharing the listening port.
   */
  readonly broker?: {
    start(options: ServeOptions): Promise<Broker>;
    serveWorker<C extends Contract>(
      contract: C,
      impl: Implementation<C>,
      backend: string,
      options?: ServeOptions,
    ): Promise<RunningServer>;
  };
}
