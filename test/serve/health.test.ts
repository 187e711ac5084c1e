/**
 * Health probes. HTTP protocols answer GET/HEAD /healthz with 200 while serving; a drain closes
 * the listener at once (so a balancer's next check is refused) and every open connection after
 * its reply in progress (a probe that still reaches a draining server gets 503). TCP protocols
 * are probed by a TCP connect, refused as soon as a drain begins.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import { type Calculator, calculator, calculatorContract } from '../../src/contract/index.js';
import { protocols } from '../../src/protocols/index.js';
import { jsonrpc } from '../../src/protocols/jsonrpc/index.js';

/** An add that waits until released, so a drain stays in progress as long as the test needs. */
function heldCalculator(): { impl: Calculator; release: () => void } {
  let release: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  return { impl: { ...calculator, add: (a, b) => gate.then(() => a + b) }, release };
}

/** Sends raw HTTP requests over one socket and reads one response per request. */
function rawHttp(port: number) {
  const socket = net.connect(port, '127.0.0.1');
  let buffered = '';
  let waiter: (() => void) | undefined;
  socket.on('data', (c: Buffer) => {
    buffered += c.toString('latin1');
    waiter?.();
  });
  return {
    async request(text: string): Promise<string> {
      socket.write(text);
      const deadline = Date.now() + 5_000;
      const complete = () => {
        const end = buffered.indexOf('\r\n\r\n');
        if (end < 0) return false;
        if (text.startsWith('HEAD')) return true;
        const length = Number(/content-length: (\d+)/i.exec(buffered.slice(0, end))?.[1] ?? 0);
        return buffered.length >= end + 4 + length;
      };
      while (!complete()) {
        if (Date.now() > deadline) throw new Error(`no response: ${JSON.stringify(buffered)}`);
        await new Promise<void>((resolve) => {
          waiter = resolve;
          setTimeout(resolve, 50);
        });
      }
      const out = buffered;
      buffered = '';
      return out;
    },
    send: (text: string) => socket.write(text),
    /** Waits until what arrived matches `pattern`, and takes it. */
    async readUntil(pattern: RegExp): Promise<string> {
      const deadline = Date.now() + 5_000;
      while (!pattern.test(buffered)) {
        if (Date.now() > deadline) throw new Error(`no response: ${JSON.stringify(buffered)}`);
        await new Promise<void>((resolve) => {
          waiter = resolve;
          setTimeout(resolve, 50);
        });
      }
      const out = buffered;
      buffered = '';
      return out;
    },
    /** Everything that arrives until the server closes the connection. */
    readUntilClosed(): Promise<string> {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`not closed: ${JSON.stringify(buffered)}`)), 5_000);
        socket.once('close', () => {
          clearTimeout(timer);
          resolve(buffered);
        });
      });
    },
    close: () => socket.destroy(),
  };
}

function connects(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

const get = 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n';

describe('health probes', () => {
  it('jsonrpc: GET/HEAD /healthz is 200 while serving; a drain refuses new connections and ends open ones after their reply', async () => {
    const held = heldCalculator();
    const server = await jsonrpc.serve(calculatorContract, held.impl, { port: 0 });
    const client = await jsonrpc.connect(calculatorContract, { port: server.port, timeoutMs: 10_000 });
    const probe = rawHttp(server.port);
    try {
      const ok = await probe.request(get);
      assert.match(ok, /^HTTP\/1\.1 200 /);
      assert.match(ok, /\r\n\r\nok\n$/);
      const head = await probe.request('HEAD /healthz?from=haproxy HTTP/1.1\r\nHost: x\r\n\r\n');
      assert.match(head, /^HTTP\/1\.1 200 /);
      // A call in progress keeps its connection open through the drain (idle ones, and the
      // listener, close at once); its reply says Connection: close, and a probe pipelined
      // behind it gets no 200: the connection ends after the reply (or it is answered 503).
      const body = '{"jsonrpc":"2.0","id":1,"method":"add","params":[2,5]}';
      probe.send(
        `POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
      );
      const other = client.add(3, 4);
      await new Promise((r) => setTimeout(r, 50));
      const drained = server.drain!(10_000);
      assert.equal(await connects(server.port), false, 'new connections are refused while draining');
      probe.send(get);
      held.release();
      const rest = await probe.readUntilClosed();
      assert.match(rest, /^HTTP\/1\.1 200 [^\n]*\r\n[\s\S]*connection: close[\s\S]*"result":7\}/i);
      assert.doesNotMatch(rest.slice(rest.indexOf('"result":7')), /HTTP\/1\.1 200/);
      assert.equal(await other, 7, 'the call in progress is answered');
      await drained;
    } finally {
      held.release();
      probe.close();
      await client.close();
      await server.close();
    }
  });

  for (const protocol of protocols.filter((p) => p.name !== 'jsonrpc')) {
    it(`${protocol.name}: a TCP connect (and GET /healthz over HTTP) succeeds while serving, is refused once draining`, async () => {
      const held = heldCalculator();
      const variant = protocol.traits.pipelinedVariant ?? protocol.variants[0]!;
      const server = await protocol.serve(calculatorContract, held.impl, { port: 0, variant });
      const client = await protocol.connect(calculatorContract, {
        port: server.port,
        variant,
        timeoutMs: 10_000,
      });
      try {
        assert.equal(await connects(server.port), true);
        if (protocol.traits.transport.startsWith('HTTP')) {
          const probe = rawHttp(server.port);
          try {
            assert.match(await probe.request(get), /^HTTP\/1\.1 200 [\s\S]*\r\n\r\nok\n$/);
          } finally {
            probe.close();
          }
        }
        const call = client.add(2, 5);
        await new Promise((r) => setTimeout(r, 50));
        const drained = server.drain!(10_000);
        // ZeroMQ's listener closes once calls in progress are answered, not at once.
        if (protocol.name !== 'zeromq') assert.equal(await connects(server.port), false);
        held.release();
        assert.equal(await call, 7, 'the call in progress is answered');
        await drained;
        assert.equal(await connects(server.port), false);
      } finally {
        held.release();
        await client.close();
        await server.close();
      }
    });
  }
});
