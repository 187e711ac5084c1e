/**
 * Hostile and broken input against our server over raw TCP: declared lengths past the limit,
 * deep nesting, invalid bytes, messages of the wrong type or arity, responses to msgids never
 * sent. Each closes (or answers) that connection only; the next client still gets 7.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { encode } from '@msgpack/msgpack';
import { calculator, calculatorContract } from '../../src/contract/index.js';
import {
  connectMsgpackRpc,
  type MsgpackRpcServer,
  serveMsgpackRpc,
} from '../../src/protocols/msgpackrpc/index.js';
import { RawPeer } from './raw-peer.js';

async function nextClientGets7(port: number): Promise<void> {
  const client = await connectMsgpackRpc(calculatorContract, { port, timeoutMs: 10_000 });
  try {
    assert.equal(await client.add(2, 5), 7);
  } finally {
    await client.close();
  }
}

describe('msgpackrpc server: hostile frames', () => {
  let server: MsgpackRpcServer;
  before(async () => {
    server = await serveMsgpackRpc(calculatorContract, calculator, { port: 0 });
  });
  after(async () => {
    await server?.close();
  });

  const closing: [string, number[]][] = [
    [
      'a request whose params declare a 4 GiB array',
      [0x94, 0x00, 0x01, 0xa3, 0x61, 0x64, 0x64, 0xdd, 0xff, 0xff, 0xff, 0xff],
    ],
    ['a message that is a 4 GiB array', [0xdd, 0xff, 0xff, 0xff, 0xff]],
    ['a 2^32-1-byte str as the method', [0x94, 0x00, 0x01, 0xdb, 0xff, 0xff, 0xff, 0xff]],
    ['a 2^32-1-byte bin', [0x94, 0x00, 0x01, 0xa3, 0x61, 0x64, 0x64, 0x91, 0xc6, 0xff, 0xff, 0xff, 0xff]],
    ['a map of 2^32-1 pairs', [0xdf, 0xff, 0xff, 0xff, 0xff]],
    ['the invalid byte 0xc1', [0xc1]],
    ['a message that is not an array', [0xa3, 0x61, 0x64, 0x64]],
    ['an unknown message type', [0x94, 0x07, 0x01, 0xa3, 0x61, 0x64, 0x64, 0x90]],
    ['a request of 3 elements', [0x93, 0x00, 0x01, 0xa3, 0x61, 0x64, 0x64]],
    ['a notification of 4 elements', [0x94, 0x02, 0xa1, 0x6e, 0x90, 0xc0]],
    ['a request with a negative msgid', [0x94, 0x00, 0xff, 0xa3, 0x61, 0x64, 0x64, 0x90]],
    ['a request with a str msgid', [0x94, 0x00, 0xa1, 0x31, 0xa3, 0x61, 0x64, 0x64, 0x90]],
    ['a response to a msgid never sent', [0x94, 0x01, 0x05, 0xc0, 0x07]],
    [
      'a map with an array key (the decoder refuses it)',
      [0x94, 0x00, 0x01, 0xa1, 0x78, 0x91, 0x81, 0x90, 0x01],
    ],
  ];
  for (const [what, bytes] of closing) {
    it(`${what} closes that connection; the next client gets 7`, async () => {
      const peer = await RawPeer.connect(server.port);
      try {
        peer.write(bytes);
        await peer.waitClosed(5_000); // "within a second" in practice; the bound only catches a hang
        assert.equal(peer.messages.length, 0, 'no reply to a message that cannot be attributed');
      } finally {
        peer.destroy();
      }
      await nextClientGets7(server.port);
    });
  }

  it('nesting past 100 levels closes the connection before it is decoded', async () => {
    const peer = await RawPeer.connect(server.port);
    try {
      peer.write(Buffer.concat([Buffer.from([0x94, 0x00, 0x01, 0xa1, 0x78]), Buffer.alloc(1000, 0x91)]));
      await peer.waitClosed(5_000);
    } finally {
      peer.destroy();
    }
    await nextClientGets7(server.port);
  });

  it('a request with a bad method or params but a valid msgid gets a PROTOCOL error reply and the connection stays', async () => {
    const peer = await RawPeer.connect(server.port);
    try {
      peer.write(encode([0, 11, 5, [1]]));
      peer.write(encode([0, 12, 'add', { a: 1 }]));
      peer.write(encode([0, 13, 'add', [2, 5]]));
      const replies = [await peer.message(1), await peer.message(2), await peer.message(3)] as unknown[][];
      assert.deepEqual(
        replies.map((r) => [r[0], r[1], typeof r[2] === 'string' ? r[2].split(':')[0] : r[2], r[3]]),
        [
          [1, 11, 'PROTOCOL', null],
          [1, 12, 'PROTOCOL', null],
          [1, 13, null, 7],
        ],
      );
      assert.equal(peer.closed, false);
    } finally {
      peer.destroy();
    }
  });

  it('a request split into single bytes is answered', async () => {
    const peer = await RawPeer.connect(server.port);
    try {
      for (const b of encode([0, 4294967295, 'add', [40, 2]])) peer.write([b]);
      assert.deepEqual(await peer.message(1), [1, 4294967295, null, 42]);
    } finally {
      peer.destroy();
    }
  });

  it('a partial message left hanging does not stop other connections', async () => {
    const peer = await RawPeer.connect(server.port);
    try {
      peer.write([0x94, 0x00, 0x01, 0xa3, 0x61, 0x64, 0x64, 0x92, 0xc6, 0x00, 0x10, 0x00]); // 1 MiB bin, then nothing
      await nextClientGets7(server.port);
      assert.equal(peer.closed, false);
    } finally {
      peer.destroy();
    }
  });
});
