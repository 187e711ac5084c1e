/**
 * Hostile XML and HTTP against the SOAP server: any DOCTYPE (billion laughs, external
 * entities) is a Client Fault with nothing expanded or fetched, memory stays flat, deep nesting
 * is cut, oversized bodies get 413 before they are buffered (declared or chunked), and after
 * each the next valid call still gets 7. Every exchange has a client-side deadline.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { calculator, calculatorContract } from '../../src/contract/index.js';
import { soap } from '../../src/protocols/soap/index.js';
import type { RunningServer } from '../../src/protocols/types.js';
import { countingCalculator } from '../support/counting-calculator.js';
import { DEADLINE_MS, post, request, streamUntilAnswered } from './raw-http.js';

const ENV11 = 'http://schemas.xmlsoap.org/soap/envelope/';
const ENV12 = 'http://www.w3.org/2003/05/soap-envelope';

function addEnvelope(a: string, b: string, env = ENV11): string {
  return `<?xml version="1.0"?><s:Envelope xmlns:s="${env}"><s:Body><t:add xmlns:t="calc.soap"><t:a>${a}</t:a><t:b>${b}</t:b></t:add></s:Body></s:Envelope>`;
}

const BILLION_LAUGHS = `<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<s:Envelope xmlns:s="${ENV11}"><s:Body><t:echo xmlns:t="calc.soap"><t:data>&lol9;</t:data></t:echo></s:Body></s:Envelope>`;

const XXE = `<?xml version="1.0"?>
<!DOCTYPE e [ <!ENTITY xxe SYSTEM "file:///etc/passwd"> <!ENTITY net SYSTEM "http://127.0.0.1:9/x"> ]>
<s:Envelope xmlns:s="${ENV11}"><s:Body><t:add xmlns:t="calc.soap"><t:a>&xxe;</t:a><t:b>&net;</t:b></t:add></s:Body></s:Envelope>`;

describe('soap server: hostile XML and HTTP', () => {
  let server: RunningServer;
  before(async () => {
    server = await soap.serve(calculatorContract, calculator, { port: 0 });
  });
  after(async () => {
    await server?.close();
  });

  const stillAdds = async () => {
    const reply = await post(server.port, '1.1', addEnvelope('2', '5'));
    assert.equal(reply.status, 200, reply.body);
    assert.match(reply.body, /<tns:addResult>7<\/tns:addResult>/);
  };

  it('a billion-laughs document gets a Client Fault, memory stays flat, the next call gets 7', async () => {
    const before = process.memoryUsage().rss;
    for (let i = 0; i < 20; i++) {
      const reply = await post(server.port, '1.1', BILLION_LAUGHS);
      assert.equal(reply.status, 500);
      assert.match(reply.body, /<faultcode>soap:Client<\/faultcode>/);
      assert.match(reply.body, /DOCTYPE is not allowed/);
      assert.doesNotMatch(reply.body, /lollol/);
    }
    const grown = process.memoryUsage().rss - before;
    assert.ok(grown < 64 * 1024 * 1024, `RSS grew by ${grown} bytes`);
    await stillAdds();
  });

  it('an external-entity document gets a Fault; nothing is read or fetched', async () => {
    for (const version of ['1.1', '1.2'] as const) {
      const body = version === '1.1' ? XXE : XXE.replaceAll(ENV11, ENV12);
      const reply = await post(server.port, version, body);
      assert.equal(reply.status, 500);
      assert.match(reply.body, /DOCTYPE is not allowed/);
      assert.doesNotMatch(reply.body, /root:/);
      if (version === '1.2') {
        assert.match(reply.body, new RegExp(`xmlns:soap="${ENV12}"`));
        assert.match(reply.body, /<soap:Value>soap:Sender<\/soap:Value>/);
        assert.match(String(reply.headers['content-type']), /^application\/soap\+xml/);
      }
    }
    await stillAdds();
  });

  it('deep nesting is cut at the limit with a Client Fault', async () => {
    const depth = 100_000;
    const body = `<s:Envelope xmlns:s="${ENV11}"><s:Body>${'<x>'.repeat(depth)}${'</x>'.repeat(depth)}</s:Body></s:Envelope>`;
    const reply = await post(server.port, '1.1', body);
    assert.equal(reply.status, 500);
    assert.match(reply.body, /nested deeper than 64/);
    await stillAdds();
  });

  it('a declared body over 16 MiB gets 413 before any of it is sent', async () => {
    const reply = await request(server.port, {
      headers: { 'Content-Type': 'text/xml', 'Content-Length': String(17 * 1024 * 1024) },
    });
    assert.equal(reply.status, 413);
    assert.match(reply.body, /exceeds the limit/);
    await stillAdds();
  });

  it('Expect: 100-continue with an oversized length gets 413 instead of 100', async () => {
    const reply = await request(server.port, {
      headers: {
        'Content-Type': 'application/soap+xml',
        'Content-Length': String(17 * 1024 * 1024),
        Expect: '100-continue',
      },
    });
    assert.equal(reply.status, 413);
    await stillAdds();
  });

  it('a chunked body over 16 MiB gets 413 while it streams, and the connection ends', async () => {
    const head = 'POST / HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\nTransfer-Encoding: chunked\r\n\r\n';
    const { statusLine, written, closed } = await streamUntilAnswered(
      server.port,
      head,
      64 * 1024,
      64 * 1024 * 1024,
    );
    assert.match(statusLine, /^HTTP\/1\.1 413/);
    assert.ok(closed);
    assert.ok(written < 64 * 1024 * 1024, 'the server answered before the whole body was sent');
    await stillAdds();
  });

  it('requests pipelined after a 413 that closed the connection are read, never run', async () => {
    const { impl: counting, adds: addCount } = countingCalculator();
    const small = await soap.serve(calculatorContract, counting, { port: 0, maxMessageBytes: 1024 });
    const socket = net.connect({ port: small.port, host: '127.0.0.1', allowHalfOpen: true });
    try {
      const add = addEnvelope('2', '5');
      const addRequest = `POST / HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\nContent-Length: ${Buffer.byteLength(add)}\r\n\r\n${add}`;
      let received = '';
      const closed = new Promise<boolean>((resolve) => socket.on('close', resolve));
      socket.on('error', () => {});
      socket.on('data', (d: Buffer) => {
        const first = received === '';
        received += d.toString('latin1');
        // After the 413: the body's end, then two whole calls, then the client's FIN.
        if (first) socket.end(`0\r\n\r\n${addRequest}${addRequest}`);
      });
      socket.write(
        'POST / HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\nTransfer-Encoding: chunked\r\n\r\n',
      );
      socket.write(`800\r\n${'x'.repeat(0x800)}\r\n`);
      const deadline = setTimeout(() => socket.destroy(), DEADLINE_MS);
      const hadError = await closed;
      clearTimeout(deadline);
      assert.equal(hadError, false);
      assert.match(received, /^HTTP\/1\.1 413 /);
      assert.equal(received.match(/HTTP\/1\.1 /g)?.length, 1, received);
      assert.equal(addCount(), 0);
      // The server goes on serving: a new connection's call runs.
      const reply = await post(small.port, '1.1', addEnvelope('2', '5'));
      assert.match(reply.body, /<tns:addResult>7<\/tns:addResult>/);
      assert.equal(addCount(), 1);
    } finally {
      socket.destroy();
      await small.close();
    }
  });

  it('pipelined requests before malformed bytes are answered first; nothing behind a closing answer runs', async () => {
    const { impl: counting, adds: addCount } = countingCalculator();
    const own = await soap.serve(calculatorContract, counting, { port: 0 });
    const exchange = (bytes: string) =>
      new Promise<string[]>((resolve) => {
        const socket = net.connect(own.port, '127.0.0.1', () => socket.write(bytes, 'latin1'));
        let text = '';
        socket.on('data', (d: Buffer) => {
          text += d.toString('latin1');
        });
        socket.on('error', () => {});
        const deadline = setTimeout(() => socket.destroy(), DEADLINE_MS);
        socket.on('close', () => {
          clearTimeout(deadline);
          resolve(text.match(/HTTP\/1\.1 \d+|<tns:addResult>\d+/g) ?? []);
        });
      });
    const body = addEnvelope('2', '5');
    const add = (extra = '') =>
      `POST / HTTP/1.1\r\nHost: x\r\n${extra}Content-Type: text/xml\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
    try {
      // The 400 for the garbage used to be written at once: both answers were lost.
      assert.deepEqual(await exchange(`${add()}${add()}GARBAGE\r\n\r\n`), [
        'HTTP/1.1 200',
        '<tns:addResult>7',
        'HTTP/1.1 200',
        '<tns:addResult>7',
        'HTTP/1.1 400',
      ]);
      assert.equal(addCount(), 2);
      // Bytes after a request that asked to close: its answer, nothing else (it was a bare 400).
      assert.deepEqual(await exchange(`${add('Connection: close\r\n')}${add()}`), [
        'HTTP/1.1 200',
        '<tns:addResult>7',
      ]);
      assert.equal(addCount(), 3);
      // A request without Host gets a 400 that closes; the add behind it used to run.
      const noHost = add().replace('Host: x\r\n', '');
      assert.deepEqual(await exchange(`${noHost}${add()}`), ['HTTP/1.1 400']);
      assert.equal(addCount(), 3);
    } finally {
      await own.close();
    }
  });

  it('malformed XML, a non-envelope and an empty body are Client Faults', async () => {
    for (const body of ['<s:Envelope', '<a/>', '', `<s:Envelope xmlns:s="${ENV11}"><s:Body/></s:Envelope>`]) {
      const reply = await post(server.port, '1.1', body);
      assert.equal(reply.status, 500, body);
      assert.match(reply.body, /soap:Client/, body);
    }
    await stillAdds();
  });
});

describe('soap server: argument checks, versions, faults', () => {
  let server: RunningServer;
  before(async () => {
    server = await soap.serve(calculatorContract, calculator, { port: 0 });
  });
  after(async () => {
    await server?.close();
  });

  it('a wrong type or a missing element is a Client Fault naming InvalidArgument, never NaN', async () => {
    for (const body of [
      addEnvelope('abc', '5'),
      addEnvelope('1.5', '5'),
      addEnvelope('2147483648', '0'),
      `<s:Envelope xmlns:s="${ENV11}"><s:Body><t:add xmlns:t="calc.soap"><t:a>2</t:a></t:add></s:Body></s:Envelope>`,
      `<s:Envelope xmlns:s="${ENV11}"><s:Body><t:add xmlns:t="calc.soap"><t:a>2</t:a><t:b>5</t:b><t:c>1</t:c></t:add></s:Body></s:Envelope>`,
    ]) {
      const reply = await post(server.port, '1.1', body);
      assert.equal(reply.status, 500, body);
      assert.match(reply.body, /<faultcode>soap:Client<\/faultcode>/);
      assert.match(reply.body, /<tns:InvalidArgument/);
      assert.doesNotMatch(reply.body, /NaN/);
    }
  });

  it('divide by zero is soap:Client / env:Sender with a DivideByZero detail', async () => {
    const div = (env: string) =>
      `<s:Envelope xmlns:s="${env}"><s:Body><t:divide xmlns:t="calc.soap"><t:a>1</t:a><t:b>0</t:b></t:divide></s:Body></s:Envelope>`;
    const r11 = await post(server.port, '1.1', div(ENV11));
    assert.equal(r11.status, 500);
    assert.match(
      r11.body,
      /<faultcode>soap:Client<\/faultcode><faultstring>division by zero<\/faultstring><detail><tns:DivideByZero/,
    );
    const r12 = await post(server.port, '1.2', div(ENV12));
    assert.equal(r12.status, 500);
    assert.match(r12.body, /<soap:Value>soap:Sender<\/soap:Value>.*<soap:Detail><tns:DivideByZero/);
  });

  it('an unknown operation is a Client Fault', async () => {
    const body = `<s:Envelope xmlns:s="${ENV11}"><s:Body><t:nope xmlns:t="calc.soap"/></s:Body></s:Envelope>`;
    const reply = await post(server.port, '1.1', body);
    assert.equal(reply.status, 500);
    assert.match(reply.body, /no such method: nope/);
    assert.match(reply.body, /<tns:NoSuchMethod/);
  });

  it('each version is answered in its own envelope; a mismatch is a VersionMismatch Fault', async () => {
    const r12 = await post(server.port, '1.2', addEnvelope('2', '5', ENV12));
    assert.equal(r12.status, 200);
    assert.match(r12.body, new RegExp(`xmlns:soap="${ENV12}"`));
    assert.match(String(r12.headers['content-type']), /^application\/soap\+xml/);
    const mismatch = await post(server.port, '1.2', addEnvelope('2', '5', ENV11));
    assert.equal(mismatch.status, 500);
    assert.match(mismatch.body, /soap:VersionMismatch/);
    const other = await request(server.port, { headers: { 'Content-Type': 'application/json' }, body: '{}' });
    assert.equal(other.status, 415);
  });

  it('GET ?wsdl serves the WSDL with the address the server listens on', async () => {
    const reply = await request(server.port, { method: 'GET', path: '/?wsdl' });
    assert.equal(reply.status, 200);
    assert.match(reply.body, new RegExp(`<soap:address location="http://127.0.0.1:${server.port}/"/>`));
    assert.match(reply.body, new RegExp(`<soap12:address location="http://127.0.0.1:${server.port}/"/>`));
    assert.match(reply.body, /<xs:element name="a" type="xs:int"\/>/);
    assert.match(reply.body, /<xs:element name="data" type="xs:base64Binary"\/>/);
  });
});

describe('soap server on every interface', () => {
  it('the WSDL names the host the client asked for, not 0.0.0.0; a strange Host gets the listening address', async () => {
    const server = await soap.serve(calculatorContract, calculator, { host: '0.0.0.0', port: 0 });
    try {
      const asked = await request(server.port, {
        method: 'GET',
        path: '/?wsdl',
        headers: { Host: `localhost:${server.port}` },
      });
      assert.match(asked.body, new RegExp(`<soap:address location="http://localhost:${server.port}/"/>`));
      const odd = await request(server.port, { method: 'GET', path: '/?wsdl', headers: { Host: 'a"b<c' } });
      assert.match(odd.body, new RegExp(`<soap:address location="http://0.0.0.0:${server.port}/"/>`));
    } finally {
      await server.close();
    }
  });
});
