/**
 * SOAP interop with peers nobody here wrote, both directions, SOAP 1.1 and 1.2, mandatory under
 * CI=true:
 *
 * - zeep 4.3.3 (Python) reads our ?wsdl, binds the 1.1 or the 1.2 port and calls our server:
 *   add = 7, divide by zero raises zeep.exceptions.Fault with our detail element, 1 MiB echo.
 * - Our client reads Spyne 2.14's WSDL (its ?wsdl URL) and calls its Soap11 and Soap12
 *   services: add = 7, its Fault maps to DivideByZeroError, echo intact; its own validation
 *   Faults become INVALID_ARGUMENT. The survey's service and client work as written.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import {
  calculator,
  calculatorContract,
  DivideByZeroError,
  defineContract,
  RpcError,
} from '../../src/contract/index.js';
import { freePort } from '../../src/net/free-port.js';
import { soap } from '../../src/protocols/soap/index.js';
import type { RunningServer } from '../../src/protocols/types.js';
import {
  type PythonPeer,
  peerScript,
  requirePeerScript,
  runPythonScript,
  startPythonPeer,
} from '../support/peers.js';

const script = (name: string) => peerScript('soap', name);

function hasCode(code: string) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof RpcError, `expected an RpcError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return true;
  };
}

const probeContract = defineContract({
  ...calculatorContract,
  methods: {
    ...calculatorContract.methods,
    multiply: {
      params: [
        { name: 'a', type: 'i32' },
        { name: 'b', type: 'i32' },
      ],
      result: 'i32',
    },
  },
});

describe('soap interop: zeep -> our server', () => {
  let server: RunningServer;
  before(async () => {
    server = await soap.serve(calculatorContract, calculator, { port: 0 });
  });
  after(async () => {
    await server?.close();
  });

  for (const version of ['11', '12']) {
    it(`zeep over SOAP ${version === '11' ? '1.1' : '1.2'}: add, divide, divide-by-zero Fault, 1 MiB echo`, async (t) => {
      if (!requirePeerScript(t, script('full_client.py'))) return;
      const run = await runPythonScript(script('full_client.py'), [String(server.port), version], {
        timeoutMs: 60_000,
      });
      assert.equal(run.code, 0, run.stderr);
      const report = JSON.parse(run.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
      assert.equal(report.soap_version, version);
      assert.equal(report.add, 7);
      assert.equal(report.divide, 0.25);
      assert.match(String(report.divide_by_zero), /^zeep\.exceptions\.Fault: division by zero/);
      assert.deepEqual(report.fault_detail, ['{calc.soap}DivideByZero']);
      assert.match(String(report.fault_code), version === '11' ? /Client/ : /Sender/);
      assert.equal(report.echo_ok, true);
    });
  }

  it("the survey's zeep client prints 7", async (t) => {
    if (!requirePeerScript(t, script('client.py'))) return;
    const run = await runPythonScript(script('client.py'), [String(server.port)], { timeoutMs: 60_000 });
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout.trim(), '7');
  });
});

describe('soap interop: our client -> Spyne', () => {
  const peers = new Map<string, PythonPeer>();
  after(async () => {
    for (const p of peers.values()) await p.stop();
  });
  const spyne = async (file: string, version?: string): Promise<PythonPeer> => {
    const key = `${file}:${version ?? ''}`;
    let peer = peers.get(key);
    if (peer === undefined) {
      peer = await startPythonPeer(script(file), await freePort(), { args: version ? [version] : [] });
      peers.set(key, peer);
    }
    return peer;
  };

  for (const [version, variant] of [
    ['11', 'soap11'],
    ['12', 'soap12'],
  ] as const) {
    it(`Spyne Soap${version}, reading its WSDL: add, divide, its Fault as DivideByZeroError, 1 MiB echo`, async (t) => {
      if (!requirePeerScript(t, script('full_server.py'))) return;
      const peer = await spyne('full_server.py', version);
      const client = await soap.connect(probeContract, {
        port: peer.port,
        variant,
        schemaPath: `http://127.0.0.1:${peer.port}/?wsdl`,
        timeoutMs: 20_000,
      });
      try {
        assert.equal(await client.add(2, 5), 7);
        assert.equal(await client.divide(1, 4), 0.25);
        await assert.rejects(client.divide(1, 0), (err: unknown) => {
          assert.ok(err instanceof DivideByZeroError, String(err));
          assert.match(err.remoteType ?? '', /DivideByZero/);
          return true;
        });
        const data = new Uint8Array(randomBytes(1024 * 1024));
        const back = await client.echo(data);
        assert.ok(back instanceof Uint8Array);
        assert.ok(Buffer.from(back).equals(Buffer.from(data)), '1 MiB echo differs');
        assert.equal(await client.add(-40, 40), 0);
        // Spyne 2.14's Integer32 refuses -2147483648 ("longer than 10 characters"): its own Fault.
        await assert.rejects(client.add(-2147483648, 0), hasCode('INVALID_ARGUMENT'));
        if (version === '11') {
          // Spyne's own validation Faults (its lxml validator) become INVALID_ARGUMENT.
          const add = client.add as unknown as (a: unknown, b: unknown) => Promise<number>;
          await assert.rejects(add('x', 5), hasCode('INVALID_ARGUMENT'));
          await assert.rejects(client.multiply(2, 3), hasCode('INVALID_ARGUMENT'));
        } else {
          // Spyne 2.14 fails while writing a SOAP 1.2 validation Fault and sends a bare 500.
          const add = client.add as unknown as (a: unknown, b: unknown) => Promise<number>;
          await assert.rejects(add('x', 5), hasCode('INTERNAL'));
        }
        assert.equal(await client.add(1, 1), 2, 'still usable after Faults');
      } finally {
        await client.close();
      }
    });
  }

  it("the survey's Spyne service: add = 7 with and without its WSDL", async (t) => {
    if (!requirePeerScript(t, script('server.py'))) return;
    const peer = await spyne('server.py');
    for (const schemaPath of [undefined, `http://127.0.0.1:${peer.port}/?wsdl`]) {
      const client = await soap.connect(calculatorContract, {
        port: peer.port,
        schemaPath,
        timeoutMs: 20_000,
      });
      try {
        assert.equal(await client.add(2, 5), 7, `schemaPath ${schemaPath}`);
      } finally {
        await client.close();
      }
    }
  });

  it("describeAsync() lists Spyne's operations with their XSD types", async (t) => {
    if (!requirePeerScript(t, script('full_server.py'))) return;
    const peer = await spyne('full_server.py', '11');
    const schema = await soap.describeAsync!({ schemaPath: `http://127.0.0.1:${peer.port}/?wsdl` });
    const service = schema.services.get('Calculator');
    assert.ok(service);
    assert.deepEqual([...service.methods.keys()].sort(), ['add', 'divide', 'echo']);
    assert.deepEqual(
      service.methods.get('add')?.params.map((p) => p.type.kind),
      ['i32', 'i32'],
    );
    assert.deepEqual(service.methods.get('echo')?.returns, { kind: 'binary' });
  });
});
