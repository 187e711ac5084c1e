import { parseArgs } from 'node:util';
import { calculator, calculatorContract } from '../../contract/calculator.js';
import { DEFAULT_HOST, DEFAULT_MAX_MESSAGE_BYTES } from '../../protocols/types.js';
import { DEFAULT_GRACE_MS, drainServer } from '../../serve/drain.js';
import { isServeWorker, serve, type WorkerGroup } from '../../serve/serve.js';
import { nextStopSignal } from '../../serve/signals.js';
import type { Command } from '../command.js';
import { checkVariant, intOption, portOption, protocolNamed } from '../options.js';

export const serveCommand: Command = {
  name: 'serve',
  summary: 'serve the Calculator over one protocol until interrupted',
  usage: `usage: rpclab serve <protocol> [options]

Serves the reference Calculator (add, divide, echo) until Ctrl-C or SIGTERM. On either the
server drains: it stops accepting, answers the calls in progress (up to --grace-ms), closes
and exits 0; a second signal stops it at once.

options:
  --host HOST                 address to bind (default ${DEFAULT_HOST}: loopback only)
  --port PORT                 port (default: the protocol's survey port; 0 picks a free one)
  --variant NAME              protocol variant (see \`rpclab tour --all-variants\`)
  --schema PATH               IDL/schema/WSDL file, for schema-first protocols
  --max-message-bytes N       largest request accepted (default ${DEFAULT_MAX_MESSAGE_BYTES})
  --grace-ms N                how long a drain waits for calls in progress (default ${DEFAULT_GRACE_MS})
  --workers N|auto            serve from N processes (auto: one per core): node:cluster workers
                              sharing the port, or for zeromq workers behind libzmq's proxy.
                              A worker that dies is replaced; signals drain every worker
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
        'grace-ms': { type: 'string' },
        workers: { type: 'string' },
        json: { type: 'boolean', default: false },
      },
    });
    const protocol = protocolNamed(positionals[0]);
    checkVariant(protocol, values.variant);
    const port = portOption(values.port) ?? protocol.defaultPort;
    const graceMs = intOption(values['grace-ms'], '--grace-ms', 0) ?? DEFAULT_GRACE_MS;
    const workers = values.workers === 'auto' ? 'auto' : intOption(values.workers, '--workers', 1, 1024);
    const server = await serve(protocol, calculatorContract, calculator, {
      host: values.host ?? DEFAULT_HOST,
      port,
      variant: values.variant,
      schemaPath: values.schema,
      maxMessageBytes: intOption(values['max-message-bytes'], '--max-message-bytes', 1),
      workers,
      graceMs,
    });
    // A worker serves until the primary (or a signal of its own) drains it; it exits then.
    if (isServeWorker()) return new Promise<number>(() => undefined);
    const pids = (server as Partial<WorkerGroup>).workerPids;
    const variant = values.variant ?? protocol.variants[0];
    if (values.json) {
      console.log(
        JSON.stringify({
          protocol: protocol.name,
          variant,
          host: server.host,
          port: server.port,
          address: server.address,
          ...(pids === undefined ? {} : { workers: pids }),
        }),
      );
    } else {
      const from = pids === undefined ? '' : ` from ${pids.length} workers (pids ${pids.join(', ')})`;
      console.log(
        `rpclab: serving ${protocol.title} [${variant}] on ${server.address}${from} (Ctrl-C to stop)`,
      );
    }
    const signal = await nextStopSignal();
    console.error(`rpclab: ${signal}: draining (answering calls in progress, up to ${graceMs} ms)`);
    void nextStopSignal().then((again) => {
      console.error(`rpclab: ${again} again: closing at once`);
      void server.close();
    });
    await drainServer(server, graceMs);
    console.error('rpclab: server closed');
    return 0;
  },
};
