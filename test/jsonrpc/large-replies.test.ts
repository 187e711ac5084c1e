/**
 * Large binary results leave the server apart from the rest of their reply (its base64 is not
 * copied into the reply's JSON text): the bytes on the wire must be exactly the JSON a plain
 * JSON.stringify of the reply would give, with a Content-Length to match, for every id form.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { calculator, calculatorContract } from '../../src/contract/index.js';
import { jsonrpc } from '../../src/protocols/jsonrpc/index.js';
import type { RunningServer } from '../../src/protocols/types.js';
import { rawRequest } from './raw-http.js';

function bytesOf(n: number): Buffer {
  const out = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) out[i] = (i * 7919 + (i >> 8)) & 0xff;
  return out;
}

describe('jsonrpc server: large binary results', () => {
  let server: RunningServer;
  before(async () => {
    server = await jsonrpc.serve(calculatorContract, calculator, { port: 0 });
  });
  after(async () => {
    await server.close();
  });

  // Sizes on both sides of the large-result threshold, and not multiples of 3 (base64 padding).
  for (const size of [48 * 1024 - 1, 48 * 1024, 100_001, 1024 * 1024 + 2]) {
    // [what, the id as sent, the reply's members before its result]
    for (const [what, idText, head] of [
      ['a number', '7', '"jsonrpc":"2.0","id":7'],
      ['a string', '"ab\\u00e9\\"c"', '"jsonrpc":"2.0","id":"ab\u00e9\\"c"'],
      ['null', 'null', '"jsonrpc":"2.0","id":null'],
      // Echoed as sent (not as a double would round it), ahead of the other members.
      ['a number beyond 2^53', '12345678901234567890', '"id":12345678901234567890,"jsonrpc":"2.0"'],
    ] as const) {
      it(`echo of ${size} bytes with ${what} as id is the reply's exact JSON`, async () => {
        const data = bytesOf(size);
        const body = `{"jsonrpc":"2.0","id":${idText},"method":"echo","params":["${data.toString('base64')}"]}`;
        const reply = await rawRequest(server.port, { body });
        assert.equal(reply.status, 200);
        const expected = `{${head},"result":"${data.toString('base64')}"}`;
        // Compared as a whole, reported by its ends (a diff of megabytes helps no one).
        assert.ok(reply.text === expected, `got ${reply.text.slice(0, 60)}…${reply.text.slice(-20)}`);
        assert.equal(Number(reply.headers['content-length']), Buffer.byteLength(expected));
      });
    }
  }

  it('in a batch, a large result is written inside the batch array', async () => {
    const data = bytesOf(200_000);
    const b64 = data.toString('base64');
    const body = `[{"jsonrpc":"2.0","id":1,"method":"echo","params":["${b64}"]},{"jsonrpc":"2.0","id":2,"method":"add","params":[2,5]}]`;
    const reply = await rawRequest(server.port, { body });
    assert.equal(reply.status, 200);
    const expected = `[{"jsonrpc":"2.0","id":1,"result":"${b64}"},{"jsonrpc":"2.0","id":2,"result":7}]`;
    assert.ok(reply.text === expected, `got ${reply.text.slice(0, 60)}…${reply.text.slice(-40)}`);
  });
});
