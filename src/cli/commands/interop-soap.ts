/**
 * `rpclab interop`'s extra SOAP checks, beyond the generic SOAP 1.1 ones: zeep over SOAP 1.2
 * against our server, our client against Spyne's Soap12 service (reading its WSDL), and the
 * node-soap and strong-soap clients (npm dev dependencies) against our server.
 */
import { createRequire } from 'node:module';
import { calculator, calculatorContract } from '../../contract/calculator.js';
import { freePort } from '../../net/free-port.js';
import { peerScript, runPythonScript, startPythonPeer } from '../../peers/python.js';
import type { Protocol } from '../../protocols/types.js';
import { formatError } from '../format.js';
import type { InteropCheck } from './interop.js';

const TIMEOUT_MS = 15_000;

type Result = { ok: boolean; detail: string };

async function attempt(run: () => Promise<string>): Promise<Result> {
  try {
    return { ok: true, detail: await run() };
  } catch (err) {
    return { ok: false, detail: formatError(err).split('\n')[0]! };
  }
}

/** A callback-style SOAP client call under a deadline, as node-soap and strong-soap expose them. */
function callback<T>(run: (done: (err: unknown, value?: unknown) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer within ${TIMEOUT_MS} ms`)), TIMEOUT_MS);
    run((err, value) => {
      clearTimeout(timer);
      if (err) reject(err);
      else resolve(value as T);
    });
  });
}

type SoapClient = Record<string, (args: object, cb: (err: unknown, result: unknown) => void) => void>;
interface SoapLibrary {
  createClient(url: string, options: object, cb: (err: unknown, client: SoapClient) => void): void;
}

/** Loads a dev-dependency SOAP client, or says how to get it. */
function library(name: 'soap' | 'strong-soap'): SoapLibrary {
  try {
    const mod = createRequire(import.meta.url)(name) as SoapLibrary & { soap?: SoapLibrary };
    return name === 'strong-soap' ? mod.soap! : mod;
  } catch {
    throw new Error(`${name} is not installed (an npm dev dependency of rpclab: npm ci)`);
  }
}

async function nodeClient(name: 'soap' | 'strong-soap', wsdl: string): Promise<string> {
  const lib = library(name);
  const client = await callback<SoapClient>((done) => lib.createClient(wsdl, {}, done));
  const sum = await callback<{ addResult: unknown }>((done) => client.add!({ a: 2, b: 5 }, done));
  if (Number(sum.addResult) !== 7) throw new Error(`add(2, 5) gave ${JSON.stringify(sum)}`);
  const fault = await callback((done) => client.divide!({ a: 1, b: 0 }, done)).then(
    () => undefined,
    (err: unknown) =>
      (err as { root?: { Envelope?: { Body?: { Fault?: unknown } } } }).root?.Envelope?.Body?.Fault,
  );
  if (fault === undefined) throw new Error('divide(1, 0) did not reject with a SOAP Fault');
  return 'add(2, 5) = 7; divide(1, 0) → their Fault';
}

export async function soapChecks(protocol: Protocol): Promise<InteropCheck[]> {
  const checks: InteropCheck[] = [];
  const push = (direction: InteropCheck['direction'], peer: string, r: Result) =>
    checks.push({ protocol: protocol.name, direction, peer, ...r });

  const server = await protocol.serve(calculatorContract, calculator, { port: 0 });
  try {
    push(
      'python→ts',
      'full_client.py (zeep, SOAP 1.2)',
      await attempt(async () => {
        const run = await runPythonScript(peerScript('soap', 'full_client.py'), [String(server.port), '12'], {
          timeoutMs: 60_000,
        });
        if (run.code !== 0) throw new Error(`exit ${run.code}: ${run.stderr.trim().split('\n').pop() ?? ''}`);
        const report = JSON.parse(run.stdout.trim().split('\n').pop() ?? '{}') as Record<string, unknown>;
        if (report.add !== 7 || report.echo_ok !== true || !String(report.divide_by_zero).includes('Fault'))
          throw new Error(`zeep reported ${JSON.stringify(report)}`);
        return `add ok; divide(1, 0) → ${String(report.divide_by_zero)}; 1 MiB echo ok`;
      }),
    );
    const wsdl = `${server.address}?wsdl`;
    push('node→ts', 'node-soap', await attempt(() => nodeClient('soap', wsdl)));
    push('node→ts', 'strong-soap', await attempt(() => nodeClient('strong-soap', wsdl)));
  } finally {
    await server.close();
  }

  push(
    'ts→python',
    'full_server.py (Spyne Soap12)',
    await attempt(async () => {
      const port = await freePort();
      const peer = await startPythonPeer(peerScript('soap', 'full_server.py'), port, { args: ['12'] });
      try {
        const client = await protocol.connect(calculatorContract, {
          port,
          variant: 'soap12',
          schemaPath: `http://127.0.0.1:${port}/?wsdl`,
          timeoutMs: TIMEOUT_MS,
        });
        try {
          if ((await client.add(2, 5)) !== 7) throw new Error('add(2, 5) != 7');
          const raised = await client.divide(1, 0).then(
            () => 'nothing',
            (err: unknown) => formatError(err),
          );
          if (!raised.includes('DIVIDE_BY_ZERO')) throw new Error(`divide(1, 0) raised ${raised}`);
          return `add ok; divide(1, 0) → ${raised.split(':')[0]}`;
        } finally {
          await client.close();
        }
      } finally {
        await peer.stop();
      }
    }),
  );
  return checks;
}
