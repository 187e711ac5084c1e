import { parseArgs } from 'node:util';
import { calculatorContract } from '../../contract/calculator.js';
import { RpcError, TimeoutError, TransportError } from '../../contract/errors.js';
import { type Contract, defineContract, getMethod } from '../../contract/spec.js';
import {
  DEFAULT_HOST,
  DEFAULT_TIMEOUT_MS,
  type Protocol,
  type SchemaDescription,
  type SchemaService,
} from '../../protocols/types.js';
import { parseCallArgs } from '../call-args.js';
import type { Command } from '../command.js';
import { disposeResult, formatValue, jsonValue } from '../format.js';
import { checkVariant, intOption, portOption, protocolNamed, UsageError } from '../options.js';
import { methodUsage, parseSchemaArgs } from '../schema-args.js';

export const callCommand: Command = {
  name: 'call',
  summary: 'call one method on a running server',
  usage: `usage: rpclab call <protocol> <method> [args...] [options]

Calls a method and prints its result. Methods of the Calculator contract take their declared
types (add <a:i32> <b:i32>, divide <a:double> <b:double>, echo <data:bytes>); bytes are given as
text, or as hex:00ff / base64:AAE=. Other methods (dynamic protocols can call anything) take
typed words (i32:5 i64:5 double:2.5 bool:true str:text hex:.. base64:..) or untyped ones,
guessed as integer, number, boolean or string.

With --schema (or --service), a schema-first protocol (thrift) calls any method of the
schema's service, and the schema types each word: strings as is, integers range-checked
(i8..i64), double (also NaN, inf), bool, binary (text, hex:.., base64:..), enums by member
name or number, structs, lists, sets and maps as JSON (a map with non-text keys as
[[key, value], ...]; i64 beyond 2^53 inside JSON as a string). For example:
  rpclab call thrift compute '{"num1":1,"num2":2,"op":"ADD"}' MUL --schema tools.thrift
Without a method, it lists the service's methods and their parameter types.

Results print on one line: structs, lists, sets and maps JSON-like, i64 exact. A void or
oneway method prints nothing ({"result":null} with --json).

options:
  --host HOST         server address (default ${DEFAULT_HOST})
  --port PORT         server port (default: the protocol's survey port)
  --timeout MS        call timeout in milliseconds (default ${DEFAULT_TIMEOUT_MS})
  --variant NAME      protocol variant
  --schema PATH       IDL/schema/WSDL file, for schema-first protocols
  --service NAME      the schema's service to call (needed when it defines several)
  --path PATH         HTTP path of the endpoint, for protocols over HTTP (jsonrpc; default /)
  --json              print {"result": ...} or {"error": {...}} as JSON; i64 as strings,
                      bytes as {"base64": ...}, maps as objects (or [key, value] pairs)

exit codes: 0 result printed, 1 the server answered with an error, 2 usage error (also a
            missing or invalid schema, an unknown method or service),
            3 transport failure or timeout (server unreachable, no answer)`,
  async run(argv) {
    const negatives = new Map<string, string>();
    const { values, positionals: raw } = parseArgs({
      args: protectNegatives(argv, negatives),
      allowPositionals: true,
      options: {
        host: { type: 'string' },
        port: { type: 'string' },
        timeout: { type: 'string' },
        variant: { type: 'string' },
        schema: { type: 'string' },
        service: { type: 'string' },
        path: { type: 'string' },
        json: { type: 'boolean', default: false },
      },
    });
    const positionals = raw.map((word) => negatives.get(word) ?? word);
    const [protocolName, method, ...words] = positionals;
    const protocol = protocolNamed(protocolName);
    checkVariant(protocol, values.variant);
    const describe =
      protocol.describeAsync?.bind(protocol) ??
      (protocol.describe && (async (o: { schemaPath?: string }) => protocol.describe!(o)));
    const schemaCall = values.schema !== undefined || values.service !== undefined;
    if (values.service !== undefined && !describe)
      throw new UsageError(`--service is for schema-first protocols; ${protocol.name} has no schema`);
    const {
      contract,
      method: name,
      args,
    } = schemaCall && describe
      ? await schemaBoundCall(describe, values.schema, values.service, method, words)
      : contractCall(method, words);
    const host = values.host ?? DEFAULT_HOST;
    const port = portOption(values.port) ?? protocol.defaultPort;
    const where = `${protocol.name} server at ${host}:${port}`;
    const client = await protocol
      .connect(contract, {
        host,
        port,
        timeoutMs: intOption(values.timeout, '--timeout', 1) ?? DEFAULT_TIMEOUT_MS,
        variant: values.variant,
        schemaPath: values.schema,
        path: values.path,
      })
      .catch((err: unknown) => {
        throw withEndpoint(err, where);
      });
    try {
      const fn = (client as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>)[name]!;
      const result = await fn(...args);
      if (values.json) console.log(JSON.stringify({ result: jsonValue(result) }));
      else if (result !== undefined) console.log(formatValue(result));
      disposeResult(result);
      return 0;
    } catch (err) {
      throw withEndpoint(err, where);
    } finally {
      await client.close();
    }
  },
};

/** Options of `call` that take a value: the word after one is that value, not an argument. */
const VALUE_OPTIONS = new Set([
  '--host',
  '--port',
  '--timeout',
  '--variant',
  '--schema',
  '--service',
  '--path',
]);

/**
 * parseArgs takes "-7" for an option, so `add -2 5` would fail: negative numbers (and -inf)
 * are swapped for placeholders, recorded in `negatives`, and restored after parsing.
 */
function protectNegatives(argv: readonly string[], negatives: Map<string, string>): string[] {
  return argv.map((word, i) => {
    const previous = argv[i - 1];
    if (!/^-(\d|\.\d|inf(inity)?$)/i.test(word) || (previous !== undefined && VALUE_OPTIONS.has(previous)))
      return word;
    const placeholder = `\0negative${negatives.size}`;
    negatives.set(placeholder, word);
    return placeholder;
  });
}

interface PreparedCall {
  readonly contract: Contract;
  readonly method: string;
  readonly args: readonly unknown[];
}

/** Without a schema: the Calculator contract types its methods, other methods are ad hoc. */
function contractCall(method: string | undefined, words: readonly string[]): PreparedCall {
  if (method === undefined) throw new UsageError('name a method, e.g. rpclab call jsonrpc add 2 5');
  const parsed = parseCallArgs(method, getMethod(calculatorContract, method), words);
  const contract = defineContract({
    name: calculatorContract.name,
    namespace: calculatorContract.namespace,
    methods: { ...calculatorContract.methods, [method]: parsed.spec },
  });
  return { contract, method, args: parsed.args };
}

/**
 * With a schema: the contract holds the called method alone, named like the chosen service,
 * with dynamic types, so the schema types it and no Calculator method is checked against a
 * foreign service (whose `add` may well differ).
 */
async function schemaBoundCall(
  describe: NonNullable<Protocol['describeAsync']>,
  schemaPath: string | undefined,
  serviceName: string | undefined,
  method: string | undefined,
  words: readonly string[],
): Promise<PreparedCall> {
  let schema: SchemaDescription;
  try {
    schema = await describe({ schemaPath });
  } catch (err) {
    // A missing or unparsable file is a bad option, not a server's answer.
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  const service = pickService(schema, serviceName);
  const listing = () => [...service.methods.values()].map((m) => `  ${methodUsage(m)}`).join('\n');
  if (method === undefined) throw new UsageError(`name a method of service ${service.name}:\n${listing()}`);
  const signature = service.methods.get(method);
  if (!signature)
    throw new UsageError(
      `service ${service.name} of ${schema.path} has no method ${method}; it has:\n${listing()}`,
    );
  const args = parseSchemaArgs(schema, signature, words);
  const name: string = signature.name;
  const contract = defineContract({
    name: service.name,
    namespace: service.name,
    methods: {
      [name]: {
        params: signature.params.map((p) => ({ name: p.name, type: 'dynamic' as const })),
        result: 'dynamic' as const,
      },
    },
  });
  return { contract, method: name, args };
}

function pickService(schema: SchemaDescription, name: string | undefined): SchemaService {
  const names = [...schema.services.keys()].join(', ') || 'none';
  if (name !== undefined) {
    const named = schema.services.get(name);
    if (!named) throw new UsageError(`${schema.path} has no service ${name} (services: ${names})`);
    return named;
  }
  const [only, ...others] = schema.services.values();
  if (!only) throw new UsageError(`${schema.path} defines no service`);
  if (others.length > 0)
    throw new UsageError(`${schema.path} defines several services (${names}): choose one with --service`);
  return only;
}

/** Names the endpoint in transport failures, so "connection refused" says where. */
function withEndpoint(err: unknown, where: string): unknown {
  if (err instanceof RpcError && (err.code === 'TRANSPORT' || err.code === 'TIMEOUT')) {
    const Ctor = err.code === 'TRANSPORT' ? TransportError : TimeoutError;
    return new Ctor(`${where}: ${err.message}`, { cause: err });
  }
  return err;
}
