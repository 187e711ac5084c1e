import { parseArgs } from 'node:util';
import { calculatorContract } from '../../contract/calculator.js';
import { RpcError, TimeoutError, TransportError } from '../../contract/errors.js';
import { defineContract, getMethod } from '../../contract/spec.js';
import { DEFAULT_HOST, DEFAULT_TIMEOUT_MS } from '../../protocols/types.js';
import { parseCallArgs } from '../call-args.js';
import type { Command } from '../command.js';
import { formatValue, jsonValue } from '../format.js';
import { checkVariant, intOption, portOption, protocolNamed, UsageError } from '../options.js';

export const callCommand: Command = {
  name: 'call',
  summary: 'call one method on a running server',
  usage: `usage: rpclab call <protocol> <method> [args...] [options]

Calls a method and prints its result. Methods of the Calculator contract take their declared
types (add <a:i32> <b:i32>, divide <a:double> <b:double>, echo <data:bytes>); bytes are given as
text, or as hex:00ff / base64:AAE=. Other methods (dynamic protocols can call anything) take
typed words (i32:5 i64:5 double:2.5 bool:true str:text hex:.. base64:..) or untyped ones,
guessed as integer, number, boolean or string.

options:
  --host HOST         server address (default ${DEFAULT_HOST})
  --port PORT         server port (default: the protocol's survey port)
  --timeout MS        call timeout in milliseconds (default ${DEFAULT_TIMEOUT_MS})
  --variant NAME      protocol variant
  --schema PATH       IDL/schema/WSDL file, for schema-first protocols
  --json              print {"result": ...} or {"error": {...}} as JSON

exit codes: 0 result printed, 1 the server answered with an error, 2 usage error,
            3 transport failure or timeout (server unreachable, no answer)`,
  async run(argv) {
    const { values, positionals } = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        host: { type: 'string' },
        port: { type: 'string' },
        timeout: { type: 'string' },
        variant: { type: 'string' },
        schema: { type: 'string' },
        json: { type: 'boolean', default: false },
      },
    });
    const [protocolName, method, ...words] = positionals;
    const protocol = protocolNamed(protocolName);
    checkVariant(protocol, values.variant);
    if (method === undefined) throw new UsageError('name a method, e.g. rpclab call jsonrpc add 2 5');
    const parsed = parseCallArgs(method, getMethod(calculatorContract, method), words);
    const contract = defineContract({
      name: calculatorContract.name,
      namespace: calculatorContract.namespace,
      methods: { ...calculatorContract.methods, [method]: parsed.spec },
    });
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
      })
      .catch((err: unknown) => {
        throw withEndpoint(err, where);
      });
    try {
      const fn = (client as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>)[method]!;
      const result = await fn(...parsed.args);
      console.log(values.json ? JSON.stringify({ result: jsonValue(result) }) : formatValue(result));
      return 0;
    } catch (err) {
      throw withEndpoint(err, where);
    } finally {
      await client.close();
    }
  },
};

/** Names the endpoint in transport failures, so "connection refused" says where. */
function withEndpoint(err: unknown, where: string): unknown {
  if (err instanceof RpcError && (err.code === 'TRANSPORT' || err.code === 'TIMEOUT')) {
    const Ctor = err.code === 'TRANSPORT' ? TransportError : TimeoutError;
    return new Ctor(`${where}: ${err.message}`, { cause: err });
  }
  return err;
}
