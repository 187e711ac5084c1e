/**
 * Replies the server answers synchronously while reading one chunk are written in batches
 * (at most 16 replies or 16 KiB each), not one write per reply; checked by counting the
 * server socket's writes, never by timing.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import { calculator, calculatorContract } from '../../src/contract/index.js';
import { bindContract } from '../../src/protocols/thrift/binding.js';
import { MessageReader, parseVariant } from '../../src/protocols/thrift/framing.js';
import { messageReader } from '../../src/protocols/thrift/library.js';
import { decodeReply, encodeCall, readHeader } from '../../src/protocols/thrift/messages.js';
import { serveThrift } from '../../src/protocols/thrift/server.js';

type WriteFn = (this: net.Socket, ...args: unknown[]) => unknown;

describe('thrift server: replies of one chunk leave in batches', () => {
  for (const name of ['binary-buffered', 'compact-framed'] as const) {
    it(`[${name}] 64 pipelined calls in one chunk: every reply, in at most a handful of writes`, async () => {
      const variant = parseVariant(name);
      const binding = bindContract(calculatorContract);
      const plan = binding.plans.get('add')!;
      const server = await serveThrift(calculatorContract, calculator, { port: 0, variant });
      const proto = net.Socket.prototype as unknown as Record<'_write' | '_writev', WriteFn>;
      const write = proto._write;
      const writev = proto._writev;
      let writes = 0;
      proto._write = function (this: net.Socket, ...args: unknown[]) {
        if (this.localPort === server.port) writes++;
        return write.apply(this, args);
      };
      proto._writev = function (this: net.Socket, ...args: unknown[]) {
        if (this.localPort === server.port) writes++;
        return writev.apply(this, args);
      };
      const socket = net.connect({ host: '127.0.0.1', port: server.port });
      try {
        await new Promise<void>((resolve, reject) => {
          socket.once('connect', resolve);
          socket.once('error', reject);
        });
        const n = 64;
        const calls = Array.from({ length: n }, (_, i) =>
          encodeCall(variant, plan, i + 1, [i, i], binding.structs),
        );
        const reader = new MessageReader(variant, 1 << 20);
        const sums = new Map<number, unknown>();
        const done = new Promise<void>((resolve) => {
          socket.on('data', (chunk: Buffer) => {
            for (const message of reader.push(chunk)) {
              const p = messageReader(variant.encoding, message);
              const header = readHeader(p);
              const reply = decodeReply(p, header, plan, binding.structs);
              assert.ok(reply.ok);
              sums.set(header.seqid, reply.value);
            }
            if (sums.size === n) resolve();
          });
        });
        socket.write(Buffer.concat(calls));
        await done;
        for (let i = 0; i < n; i++) assert.equal(sums.get(i + 1), 2 * i);
        // 64 replies in batches of 16: 4 writes, a few more if loopback split the chunk.
        assert.ok(writes <= 8, `${writes} writes for ${n} replies`);
      } finally {
        proto._write = write;
        proto._writev = writev;
        socket.destroy();
        await server.close();
      }
    });
  }

  for (const name of ['binary-buffered', 'binary-framed'] as const) {
    it(`[${name}] a bulk reply among small ones: in order, and its payload is not copied`, async () => {
      const variant = parseVariant(name);
      const binding = bindContract(calculatorContract);
      const add = binding.plans.get('add')!;
      const echo = binding.plans.get('echo')!;
      // The implementation's own result object: the reply must carry exactly these bytes.
      const bulk = Buffer.alloc(256 * 1024, 0x5a);
      let sentFromBulk = 0;
      const impl = { ...calculator, echo: () => bulk };
      const server = await serveThrift(calculatorContract, impl, { port: 0, variant });
      const proto = net.Socket.prototype as unknown as Record<'_writev', WriteFn>;
      const writev = proto._writev;
      proto._writev = function (this: net.Socket, ...args: unknown[]) {
        const chunks = args[0] as { chunk: Buffer }[];
        if (this.localPort === server.port)
          sentFromBulk += chunks.filter((c) => c.chunk.buffer === bulk.buffer).length;
        return writev.apply(this, args);
      };
      const socket = net.connect({ host: '127.0.0.1', port: server.port });
      try {
        await new Promise<void>((resolve, reject) => {
          socket.once('connect', resolve);
          socket.once('error', reject);
        });
        const calls = [
          encodeCall(variant, add, 1, [1, 1], binding.structs),
          encodeCall(variant, echo, 2, [Buffer.of(1)], binding.structs),
          encodeCall(variant, add, 3, [2, 2], binding.structs),
        ];
        const reader = new MessageReader(variant, 1 << 20);
        const order: number[] = [];
        let echoed: Buffer | undefined;
        const done = new Promise<void>((resolve) => {
          socket.on('data', (chunk: Buffer) => {
            for (const message of reader.push(chunk)) {
              const p = messageReader(variant.encoding, message);
              const header = readHeader(p);
              const reply = decodeReply(p, header, header.seqid === 2 ? echo : add, binding.structs);
              assert.ok(reply.ok);
              order.push(header.seqid);
              if (header.seqid === 2) echoed = Buffer.from(reply.value as Uint8Array);
            }
            if (order.length === 3) resolve();
          });
        });
        socket.write(Buffer.concat(calls));
        await done;
        assert.deepEqual(order, [1, 2, 3]);
        assert.ok(echoed?.equals(bulk));
        assert.equal(sentFromBulk, 1, 'the bulk payload was written from its own memory once');
      } finally {
        proto._writev = writev;
        socket.destroy();
        await server.close();
      }
    });
  }
});
