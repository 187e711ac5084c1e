import { parseArgs } from 'node:util';
import { calculator, calculatorContract } from '../../contract/calculator.js';
import { DEFAULT_HOST, DEFAULT_MAX_MESSAGE_BYTES } from '../../protocols/types.js';
import type { Command } from '../command.js';
import { checkVariant, intOption, portOption, protocolNamed } from '../options.js';

export const serveCommand: Command = {
  name: 'serve',
  summary: 'serve the Calculator over one protocol until interrupted',
  usage: `usage: rpclab serve <protocol> [options]

Serves the reference Calculator (add, divide, echo) until Ctrl-C or SIGTERM.

options:
  --host HOST                 address to bind (default ${DEFAULT_HOST}: loopback only)
  --port PORT                 port (default: the protocol's survey port; 0 picks a free one)
  --variant NAME              protocol variant (see \`rpclab tour --all-variants\`)
  --schema PATH               IDL/schema/WSDL file, for schema-first protocols
  --max-message-bytes N       largest request accepted (default ${DEFAULT_MAX_MESSAGE_BYTES})
  --json                      print the address as JSON once listening`,
  async run(argv) {
    const { values, positionals } = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        host: { type: 'string' },
        port: { type: 'string' },
        variant: { type: 'string' },
        schema: { type: 'string' },
        'max-message-bytes': { type: 'string' },
        json: { type: 'boolean', default: false },
      },
    });
    const protocol = protocolNamed(positionals[0]);
    checkVariant(protocol, values.variant);
    const port = portOption(values.port) ?? protocol.defaultPort;
    const server = await protocol.serve(calculatorContract, calculator, {
      host: values.host ?? DEFAULT_HOST,
      port,
      variant: values.variant,
      schemaPath: values.schema,
      maxMessageBytes: intOption(values['max-message-bytes'], '--max-message-bytes', 1),
    });
    const variant = values.variant ?? protocol.variants[0];
    if (values.json) {
      console.log(
        JSON.stringify({
          protocol: protocol.name,
          variant,
          host: server.host,
          port: server.port,
          address: server.address,
        }),
      );
    } else {
      console.log(`rpclab: serving ${protocol.title} [${variant}] on ${server.address} (Ctrl-C to stop)`);
    }
    await new Promise<void>((resolve) => {
      const stop = () => resolve();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    await server.close();
    if (!values.json) console.error('rpclab: server closed');
    return 0;
  },
};
