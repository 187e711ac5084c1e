/**
 * The tour: every registered protocol served in-process on a free loopback port and called
 * through its own client — add, divide (also by zero), echo — with a round-trip median and
 * the bytes each call puts on the wire, measured through a counting relay.
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { type CalculatorClient, calculator, calculatorContract } from '../../contract/calculator.js';
import { startCountingRelay } from '../../net/counting-relay.js';
import { type Protocol, protocols } from '../../protocols/index.js';
import type { Command } from '../command.js';
import { formatError, jsonError, renderTable } from '../format.js';
import { intOption, protocolNamed } from '../options.js';

export interface TourRow {
  protocol: string;
  title: string;
  variant: string;
  ok: boolean;
  add?: number;
  addError?: ReturnType<typeof jsonError>;
  divide?: number;
  divideByZero?: ReturnType<typeof jsonError> | { code: 'NONE'; type: ''; message: string };
  echoOk?: boolean;
  medianRoundTripUs?: number;
  requestBytes?: number;
  responseBytes?: number;
  failure?: string;
}

const TIMEOUT_MS = 10_000;

async function measureRoundTrip(client: CalculatorClient, calls: number): Promise<number> {
  for (let i = 0; i < Math.min(20, calls); i++) await client.add(i, 1); // warm-up
  const samples: number[] = [];
  for (let i = 0; i < calls; i++) {
    const t0 = process.hrtime.bigint();
    await client.add(i, 2);
    samples.push(Number(process.hrtime.bigint() - t0) / 1000);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)]!;
}

export async function tourProtocol(protocol: Protocol, variant: string, calls: number): Promise<TourRow> {
  const row: TourRow = { protocol: protocol.name, title: protocol.title, variant, ok: false };
  const server = await protocol.serve(calculatorContract, calculator, { port: 0, variant });
  try {
    const client = await protocol.connect(calculatorContract, {
      port: server.port,
      variant,
      timeoutMs: TIMEOUT_MS,
    });
    try {
      try {
        row.add = await client.add(2, 5);
      } catch (err) {
        row.addError = jsonError(err);
      }
      row.divide = await client.divide(1, 4);
      try {
        const q = await client.divide(1, 0);
        row.divideByZero = { code: 'NONE', type: '', message: `no error (got ${q})` };
      } catch (err) {
        row.divideByZero = jsonError(err);
      }
      const payload = new Uint8Array(randomBytes(1024));
      const back = await client.echo(payload);
      row.echoOk = Buffer.from(back).equals(Buffer.from(payload));
      row.medianRoundTripUs = await measureRoundTrip(client, calls);
    } finally {
      await client.close();
    }
    // Bytes on the wire: a second client through a counting relay, after its warm-up call
    // (so connection set-up and handshakes are not counted), averaged over a few add calls.
    const relay = await startCountingRelay({ host: server.host, port: server.port });
    try {
      const counted = await protocol.connect(calculatorContract, {
        port: relay.port,
        variant,
        timeoutMs: TIMEOUT_MS,
      });
      try {
        await counted.add(2, 5);
        await new Promise((r) => setTimeout(r, 20));
        relay.reset();
        const n = 10;
        for (let i = 0; i < n; i++) await counted.add(2, 5);
        await new Promise((r) => setTimeout(r, 20));
        const counts = relay.counts();
        row.requestBytes = Math.round(counts.toServer / n);
        row.responseBytes = Math.round(counts.toClient / n);
      } finally {
        await counted.close();
      }
    } finally {
      await relay.close();
    }
    row.ok =
      row.add === 7 &&
      row.divide === 0.25 &&
      row.divideByZero?.code === 'DIVIDE_BY_ZERO' &&
      row.echoOk === true;
  } catch (err) {
    row.failure = formatError(err);
  } finally {
    await server.close();
  }
  return row;
}

function errorCell(e: TourRow['divideByZero']): string {
  if (!e) return '-';
  return e.code === 'NONE' ? e.message : `${e.type} [${e.code}]`;
}

export const tourCommand: Command = {
  name: 'tour',
  summary: 'serve and call every protocol, print a table of results',
  usage: `usage: rpclab tour [options]

Serves the Calculator over every registered protocol in this process (free loopback ports),
calls add(2, 5), divide(1, 4), divide(1, 0) and a 1 KiB echo through each protocol's own
client, and prints one row per protocol: results, the error divide-by-zero arrived as, the
median round trip of sequential add calls, and the bytes one add call puts on the wire
(request / response, measured through a counting TCP relay).

options:
  --protocols a,b     only these protocols (default: all, in survey order)
  --all-variants      one row per variant (wire encodings, transports, socket patterns)
  --calls N           sequential add calls for the round-trip median (default 200)
  --json              print the rows as JSON

exit code: 0 when every row is correct, 1 otherwise.`,
  async run(argv) {
    const { values } = parseArgs({
      args: [...argv],
      options: {
        protocols: { type: 'string' },
        'all-variants': { type: 'boolean', default: false },
        calls: { type: 'string' },
        json: { type: 'boolean', default: false },
      },
    });
    const chosen = values.protocols
      ? values.protocols.split(',').map((n) => protocolNamed(n.trim()))
      : protocols;
    const calls = intOption(values.calls, '--calls', 1, 1_000_000) ?? 200;
    const rows: TourRow[] = [];
    for (const protocol of chosen) {
      const variants = values['all-variants'] ? protocol.variants : protocol.variants.slice(0, 1);
      for (const variant of variants) {
        if (!values.json) process.stderr.write(`rpclab tour: ${protocol.name} [${variant}]…\n`);
        rows.push(await tourProtocol(protocol, variant, calls));
      }
    }
    if (values.json) {
      console.log(JSON.stringify(rows, null, 2));
    } else {
      const header = [
        'protocol',
        'variant',
        'add(2,5)',
        'divide(1,0) raised',
        'echo 1 KiB',
        'median RTT',
        'bytes/call (req/resp)',
        'status',
      ];
      const table = rows.map((r) => [
        r.protocol,
        r.variant,
        r.add !== undefined ? String(r.add) : r.addError ? `${r.addError.type}` : '-',
        errorCell(r.divideByZero),
        r.echoOk === undefined ? '-' : r.echoOk ? 'ok' : 'MISMATCH',
        r.medianRoundTripUs !== undefined ? `${r.medianRoundTripUs.toFixed(0)} µs` : '-',
        r.requestBytes !== undefined ? `${r.requestBytes} / ${r.responseBytes}` : '-',
        r.ok ? 'ok' : `FAILED${r.failure ? `: ${r.failure}` : ''}`,
      ]);
      console.log(renderTable(header, table));
      if (rows.length === 0) console.log('(no protocols registered)');
    }
    return rows.length > 0 && rows.every((r) => r.ok) ? 0 : 1;
  },
};
