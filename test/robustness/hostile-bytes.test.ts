/**
 * Hostile input against every registered server, protocol-agnostic: garbage, huge declared
 * lengths, truncated writes and abrupt disconnects over raw TCP. Whatever a server does with
 * the bad connection (an error reply, or closing it), it must keep serving everyone else.
 * Per-protocol robustness tests (test/<protocol>/) cover each wire format's own frames.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { calculator, calculatorContract } from '../../src/contract/index.js';
import { protocols } from '../../src/protocols/index.js';
import type { RunningServer } from '../../src/protocols/types.js';

function pseudoRandom(n: number, seed: number): Buffer {
  const out = Buffer.alloc(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

const attacks: readonly { name: string; bytes: Buffer; hangUp: boolean }[] = [
  { name: 'random garbage (64 KiB)', bytes: pseudoRandom(64 * 1024, 1), hangUp: false },
  { name: 'all 0xFF (huge declared lengths)', bytes: Buffer.alloc(4096, 0xff), hangUp: false },
  {
    name: 'length prefix 0x7FFFFFFF then silence',
    bytes: Buffer.from([0x7f, 0xff, 0xff, 0xff, 0x00]),
    hangUp: false,
  },
  {
    name: 'HTTP-looking junk',
    bytes: Buffer.from('POST / HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n{'),
    hangUp: true,
  },
  { name: 'one byte then hang up', bytes: Buffer.from([0x80]), hangUp: true },
  { name: 'zero bytes then hang up', bytes: Buffer.alloc(0), hangUp: true },
];

/** Sends the bytes, then waits until the server closes the connection or 500 ms pass. */
function attack(port: number, bytes: Buffer, hangUp: boolean): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve();
    };
    const timer = setTimeout(done, 500);
    socket.on('error', done);
    socket.on('close', done);
    socket.on('data', () => undefined);
    socket.on('connect', () => {
      if (bytes.length > 0) socket.write(bytes);
      if (hangUp) socket.destroy();
    });
  });
}

for (const protocol of protocols) {
  describe(`${protocol.name}: hostile bytes`, () => {
    let server: RunningServer;
    before(async () => {
      server = await protocol.serve(calculatorContract, calculator, { port: 0 });
    });
    after(async () => {
      await server?.close();
    });

    for (const { name, bytes, hangUp } of attacks) {
      it(`survives ${name}`, async () => {
        // Several at once, so a server that serialises connections would also show it.
        await Promise.all([0, 1, 2].map(() => attack(server.port, bytes, hangUp)));
        const client = await protocol.connect(calculatorContract, { port: server.port, timeoutMs: 10_000 });
        try {
          assert.equal(await client.add(2, 5), 7);
        } finally {
          await client.close();
        }
      });
    }

    it('serves a client while a hostile connection stays open', async () => {
      const hostile = net.connect({ port: server.port, host: '127.0.0.1' });
      hostile.on('error', () => undefined);
      await new Promise<void>((r) => hostile.once('connect', () => r()));
      hostile.write(Buffer.from([0x00, 0x00, 0x10])); // a partial frame header, never finished
      try {
        const client = await protocol.connect(calculatorContract, { port: server.port, timeoutMs: 10_000 });
        try {
          assert.equal(await client.add(20, 22), 42);
        } finally {
          await client.close();
        }
      } finally {
        hostile.destroy();
      }
    });
  });
}
