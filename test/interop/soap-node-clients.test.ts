/**
 * A TypeScript user's existing SOAP clients call our server: node-soap 1.13 (over its SOAP 1.1
 * port, and 1.2 with forceSoap12Headers) and strong-soap 6.0.1, each building its client from
 * our ?wsdl. add gives 7; divide by zero arrives as their Fault, with our detail element.
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { after, before, describe, it } from 'node:test';
import * as nodeSoap from 'soap';
import { calculator, calculatorContract } from '../../src/contract/index.js';
import { soap } from '../../src/protocols/soap/index.js';
import type { RunningServer } from '../../src/protocols/types.js';

interface StrongClient {
  [op: string]: (args: object, cb: (err: unknown, result: unknown) => void, options?: object) => void;
}
interface StrongSoap {
  soap: {
    createClient(url: string, options: object, cb: (err: unknown, client: StrongClient) => void): void;
  };
}
const strong = createRequire(import.meta.url)('strong-soap') as StrongSoap;

type Fault = Record<string, unknown>;

function faultOf(err: unknown): Fault {
  const root = (err as { root?: { Envelope?: { Body?: { Fault?: Fault } } } }).root;
  const fault = root?.Envelope?.Body?.Fault;
  assert.ok(fault, `expected a SOAP Fault, got ${String(err)}`);
  return fault;
}

/** Bounds a callback-style call, so a peer that never calls back fails the test instead of hanging it. */
function within<T>(ms: number, run: (done: (err: unknown, value?: unknown) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    run((err, value) => {
      clearTimeout(timer);
      if (err) reject(err);
      else resolve(value as T);
    });
  });
}

describe('soap interop: node-soap and strong-soap clients -> our server', () => {
  let server: RunningServer;
  let wsdl: string;
  before(async () => {
    server = await soap.serve(calculatorContract, calculator, { port: 0 });
    wsdl = `${server.address}?wsdl`;
  });
  after(async () => {
    await server?.close();
  });

  for (const soap12 of [false, true]) {
    it(`node-soap over SOAP ${soap12 ? '1.2' : '1.1'}: add = 7, divide by zero is a Fault`, async () => {
      const client = await nodeSoap.createClientAsync(wsdl, { forceSoap12Headers: soap12 });
      client.setEndpoint(server.address);
      const [sum] = (await client.addAsync({ a: 2, b: 5 }, { timeout: 10_000 })) as [{ addResult: number }];
      assert.deepEqual(sum, { addResult: 7 });
      const [quotient] = (await client.divideAsync({ a: 1, b: 4 }, { timeout: 10_000 })) as [
        { divideResult: number },
      ];
      assert.equal(Number(quotient.divideResult), 0.25);
      const err = await client.divideAsync({ a: 1, b: 0 }, { timeout: 10_000 }).then(
        () => assert.fail('divide(1, 0) did not fail'),
        (e: unknown) => e,
      );
      const fault = faultOf(err);
      if (soap12) assert.deepEqual((fault.Code as Fault).Value, 'soap:Sender');
      else assert.equal(fault.faultcode, 'soap:Client');
      const detail = (soap12 ? fault.Detail : fault.detail) as Fault;
      assert.deepEqual(detail.DivideByZero, { code: 'DIVIDE_BY_ZERO', message: 'division by zero' });
    });
  }

  it('strong-soap: add = 7, divide by zero is a Fault', async () => {
    const client = await within<StrongClient>(10_000, (done) => strong.soap.createClient(wsdl, {}, done));
    const sum = await within<{ addResult: unknown }>(10_000, (done) => client.add!({ a: 2, b: 5 }, done));
    assert.equal(Number(sum.addResult), 7);
    const err = await within(10_000, (done) => client.divide!({ a: 1, b: 0 }, done)).then(
      () => assert.fail('divide(1, 0) did not fail'),
      (e: unknown) => e,
    );
    const fault = faultOf(err);
    const detail = (fault.Detail ?? fault.detail) as Fault;
    assert.deepEqual(detail.DivideByZero, { code: 'DIVIDE_BY_ZERO', message: 'division by zero' });
  });
});
