/**
 * The SOAP row's pieces without a network: XSD lexical checks, the XML tree's refusals,
 * envelopes and Faults of both versions, Fault mapping (ours and Spyne's), WSDL reading (ours
 * and Spyne's) and writing, and regressions the conformance run and the fuzz harness found.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { calculatorContract, DivideByZeroError, InvalidArgumentError } from '../../src/contract/index.js';
import { repoRoot } from '../../src/peers/python.js';
import { faultEnvelope, messageEnvelope, readBody } from '../../src/protocols/soap/envelope.js';
import { errorFromFault } from '../../src/protocols/soap/faults.js';
import { soap } from '../../src/protocols/soap/index.js';
import { modelFromContract } from '../../src/protocols/soap/model.js';
import { parseWsdl } from '../../src/protocols/soap/wsdl-read.js';
import { writeWsdl } from '../../src/protocols/soap/wsdl-write.js';
import { parseXml, XmlRefused } from '../../src/protocols/soap/xml.js';
import { formatXsd, parseXsd } from '../../src/protocols/soap/xsd.js';

const spyneWsdl = readFileSync(
  path.join(repoRoot, 'scripts', 'fuzz', 'corpus', 'spyne-calculator.wsdl'),
  'utf8',
);

describe('soap: XSD values', () => {
  it('xs:int takes only integers in range; surrounding blanks are allowed', () => {
    assert.equal(parseXsd('int', ' -2147483648\n', 'a'), -2147483648);
    assert.equal(parseXsd('int', '+7', 'a'), 7);
    for (const bad of ['', 'abc', '1.5', '2147483648', '1e3', '0x10', '1 2', 'NaN'])
      assert.throws(() => parseXsd('int', bad, 'a'), InvalidArgumentError, bad);
  });

  it('xs:double keeps INF, -INF, NaN and -0; xs:long beyond 2^53 is a bigint', () => {
    assert.equal(parseXsd('double', 'INF', 'a'), Number.POSITIVE_INFINITY);
    assert.equal(parseXsd('double', '-INF', 'a'), Number.NEGATIVE_INFINITY);
    assert.ok(Number.isNaN(parseXsd('double', 'NaN', 'a')));
    assert.ok(Object.is(parseXsd('double', '-0', 'a'), -0));
    assert.equal(parseXsd('double', '1e308', 'a'), 1e308);
    assert.throws(() => parseXsd('double', 'inf', 'a'), InvalidArgumentError);
    assert.equal(parseXsd('long', '9007199254740993', 'a'), 9007199254740993n);
    assert.equal(parseXsd('long', '5', 'a', true), 5n);
    for (const v of [Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -0, 0.1, 1e-300])
      assert.ok(Object.is(parseXsd('double', formatXsd('double', v), 'a'), v), String(v));
  });

  it('xs:base64Binary is strict, allows line breaks, and a 12 MB value does not overflow the regex stack', () => {
    assert.deepEqual([...(parseXsd('base64Binary', 'AAEC\n/w==', 'a') as Uint8Array)], [0, 1, 2, 255]);
    for (const bad of ['AQ=A', 'A', 'AQ==AQ==', '****'])
      assert.throws(() => parseXsd('base64Binary', bad, 'a'), InvalidArgumentError, bad);
    // Regression: a repeated regex group over 8 MiB of base64 threw "Maximum call stack size exceeded".
    const big = Buffer.alloc(9 * 1024 * 1024, 0x5a);
    const back = parseXsd('base64Binary', big.toString('base64'), 'a') as Uint8Array;
    assert.equal(back.byteLength, big.length);
  });
});

describe('soap: XML tree', () => {
  it('refuses any DOCTYPE, deep nesting and too many elements, by reason', () => {
    const reason = (text: string, limits?: { maxDepth?: number; maxElements?: number }) => {
      try {
        parseXml(text, limits);
      } catch (err) {
        assert.ok(err instanceof XmlRefused);
        return err.reason;
      }
      return 'accepted';
    };
    assert.equal(reason('<!DOCTYPE a><a/>'), 'doctype');
    assert.equal(reason('<!DOCTYPE a SYSTEM "file:///etc/passwd"><a>&x;</a>'), 'doctype');
    assert.equal(reason(`${'<a>'.repeat(70)}${'</a>'.repeat(70)}`), 'limit');
    assert.equal(reason(`<a>${'<b/>'.repeat(20)}</a>`, { maxElements: 10 }), 'limit');
    assert.equal(reason('<a>&undefined;</a>'), 'malformed');
    assert.equal(reason('<a><b></a>'), 'malformed');
    assert.equal(reason('<a>&lt;&#65;<![CDATA[x]]></a>'), 'accepted');
  });

  it('resolves namespaces of elements and keeps prefixes in scope for QName values', () => {
    const root = parseXml('<p:a xmlns:p="urn:p" xmlns:q="urn:q"><q:b t="q:c">x</q:b></p:a>');
    assert.equal(root.ns, 'urn:p');
    assert.equal(root.children[0]!.ns, 'urn:q');
    assert.equal(root.children[0]!.scope.get('q'), 'urn:q');
  });
});

describe('soap: envelopes and Faults', () => {
  const model = modelFromContract(calculatorContract);
  const divZero = {
    side: 'client' as const,
    message: 'division by zero',
    detail: { ns: 'calc.soap', element: 'DivideByZero', code: 'DIVIDE_BY_ZERO' },
  };

  for (const version of ['1.1', '1.2'] as const) {
    it(`SOAP ${version}: our Fault round-trips to DivideByZeroError; requests read back`, () => {
      const body = readBody(parseXml(faultEnvelope(version, divZero)), version);
      assert.equal(body.kind, 'fault');
      if (body.kind !== 'fault') return;
      assert.equal(body.fault.codes[0]?.local, version === '1.1' ? 'Client' : 'Sender');
      const err = errorFromFault(body.fault, 'x');
      assert.ok(err instanceof DivideByZeroError);
      const req = readBody(
        parseXml(messageEnvelope(version, model.operations.get('add')!.input, [2, 5])),
        version,
      );
      assert.equal(req.kind === 'element' && req.element.local, 'add');
    });
  }

  it("Spyne's Faults map by their dotted codes; a bare Server Fault is INTERNAL", () => {
    const fault = (code: string) => ({ codes: [{ ns: '', local: code }], message: 'm', detail: [] });
    assert.equal(errorFromFault(fault('Client.DivideByZero'), 'x').code, 'DIVIDE_BY_ZERO');
    assert.equal(errorFromFault(fault('Client.SchemaValidationError'), 'x').code, 'INVALID_ARGUMENT');
    assert.equal(errorFromFault(fault('Client.ResourceNotFound'), 'x').code, 'NO_SUCH_METHOD');
    assert.equal(errorFromFault(fault('Server'), 'x').code, 'INTERNAL');
    assert.equal(errorFromFault(fault('VersionMismatch'), 'x').code, 'PROTOCOL');
  });

  it('a Fault message with characters XML cannot carry is still well-formed', () => {
    const xml = faultEnvelope('1.1', { side: 'server', message: 'bad \u0000 \u0007 <&>' });
    assert.match(readBody(parseXml(xml), '1.1').kind, /fault/);
  });
});

describe('soap: WSDL', () => {
  it('our WSDL reads back to the same operations, both ports at the address', () => {
    const model = modelFromContract(calculatorContract);
    const back = parseWsdl(writeWsdl(model, 'http://127.0.0.1:9/'), 'ours');
    assert.deepEqual([...back.operations.keys()], ['add', 'divide', 'echo']);
    assert.deepEqual(back.operations.get('divide')?.faults, ['DivideByZero']);
    assert.deepEqual(back.operations.get('add')?.input.parts, model.operations.get('add')?.input.parts);
    assert.deepEqual(
      back.endpoints.map((e) => [e.version, e.address]),
      [
        ['1.1', 'http://127.0.0.1:9/'],
        ['1.2', 'http://127.0.0.1:9/'],
      ],
    );
  });

  it("Spyne's WSDL (named complex types, minOccurs=0, service before portType) reads", () => {
    const model = parseWsdl(spyneWsdl, 'spyne');
    assert.equal(model.name, 'Calculator');
    assert.equal(model.targetNamespace, 'calc.soap');
    const add = model.operations.get('add')!;
    assert.deepEqual(add.input.parts, [
      { name: 'a', type: 'int', required: false },
      { name: 'b', type: 'int', required: false },
    ]);
    assert.equal(add.output?.element, 'addResponse');
    assert.equal(model.operations.get('echo')?.output?.parts[0]?.type, 'base64Binary');
  });

  it('a WSDL with a DOCTYPE, rpc style or no service is refused as INVALID_ARGUMENT', () => {
    assert.throws(() => parseWsdl(`<!DOCTYPE x>${spyneWsdl}`, 'x'), /DOCTYPE/);
    assert.throws(() => parseWsdl(spyneWsdl.replaceAll('style="document"', 'style="rpc"'), 'x'), /rpc style/);
    assert.throws(
      () => parseWsdl(spyneWsdl.replace(/<wsdl:service[\s\S]*<\/wsdl:service>/, ''), 'x'),
      /no service/,
    );
    assert.throws(() => soap.describe!({ schemaPath: '/nonexistent.wsdl' }), InvalidArgumentError);
  });

  it('describe() without a schema is the built-in Calculator, typed by XSD', () => {
    const schema = soap.describe!();
    const add = schema.services.get('Calculator')?.methods.get('add');
    assert.deepEqual(
      add?.params.map((p) => p.type.kind),
      ['i32', 'i32'],
    );
  });
});
