/** src/serve/lingering-close.ts: an early `Connection: close` answer reaches a client still sending its body. */
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { describe, it } from 'node:test';
import { lingerOnClose } from '../../src/serve/lingering-close.js';

/** A server that answers 413 with `Connection: close` at the first chunk of any body. */
async function earlyAnswerServer(
  lingerMs: number,
): Promise<{ server: http.Server; port: number; closed: Promise<void> }> {
  let markClosed: () => void = () => {};
  const closed = new Promise<void>((resolve) => {
    markClosed = resolve;
  });
  const server = http.createServer((req, res) => {
    req.once('data', () => {
      req.socket.once('close', () => markClosed());
      lingerOnClose(req, lingerMs);
      res.writeHead(413, { Connection: 'close', 'Content-Length': 3 });
      res.end('big');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  assert.ok(address && typeof address === 'object');
  return { server, port: address.port, closed };
}

function openChunked(port: number, allowHalfOpen = false): net.Socket {
  const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen });
  socket.write('POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n');
  return socket;
}

describe('lingering close', () => {
  it('a client still sending its body after the 413 is not reset: what it sends is read and dropped', async () => {
    const { server, port } = await earlyAnswerServer(2_000);
    try {
      for (let round = 0; round < 3; round++) {
        // Half-open, as a client that writes its whole body before it reads the answer.
        const socket = openChunked(port, true);
        const chunk = Buffer.alloc(64 * 1024, 0x61);
        const frame = Buffer.concat([
          Buffer.from(`${chunk.length.toString(16)}\r\n`),
          chunk,
          Buffer.from('\r\n'),
        ]);
        let received = '';
        let sent = 0;
        let pumping = false;
        const outcome = await new Promise<string>((resolve) => {
          const pump = (): void => {
            // Bounded: 4 MiB after the answer, then the client closes its side.
            while (sent < 4 * 1024 * 1024 && !socket.destroyed) {
              sent += chunk.length;
              if (!socket.write(frame)) {
                socket.once('drain', pump);
                return;
              }
            }
            if (!socket.destroyed) socket.end('0\r\n\r\n');
          };
          socket.on('data', (d: Buffer) => {
            received += d.toString('latin1');
            if (!pumping && received.includes('\r\n\r\nbig')) {
              pumping = true;
              pump();
            }
          });
          socket.on('error', (err) => resolve(`error ${err.message}`));
          socket.on('close', (hadError) => resolve(hadError ? 'closed with error' : 'closed'));
          socket.write(frame);
        });
        socket.destroy();
        assert.match(received, /^HTTP\/1\.1 413 /, `round ${round}`);
        assert.equal(outcome, 'closed', `round ${round}`);
        assert.equal(sent, 4 * 1024 * 1024, `round ${round}`);
      }
    } finally {
      server.close();
    }
  });

  it('a client that stops sending and never closes is cut after the linger time', async () => {
    const { server, port, closed } = await earlyAnswerServer(200);
    // Half-open: the client keeps its side open after the server's FIN.
    const socket = openChunked(port, true);
    try {
      socket.write('4\r\nabcd\r\n');
      let received = '';
      socket.on('data', (d: Buffer) => {
        received += d.toString('latin1');
      });
      // The server sends its FIN right after the answer; the client keeps its own side open.
      await new Promise<void>((resolve) => socket.once('end', resolve));
      assert.match(received, /^HTTP\/1\.1 413 /);
      const cut = await Promise.race([closed.then(() => 'closed'), wait(10_000).then(() => 'still open')]);
      assert.equal(cut, 'closed');
    } finally {
      socket.destroy();
      server.close();
    }
  });

  it('a complete request is left to node:http (no linger)', async () => {
    let lingered = true;
    const server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        const before = req.socket.destroySoon;
        lingerOnClose(req);
        lingered = req.socket.destroySoon !== before;
        res.writeHead(200, { Connection: 'close', 'Content-Length': 2 });
        res.end('ok');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    assert.ok(address && typeof address === 'object');
    try {
      const res = await fetch(`http://127.0.0.1:${address.port}/`, { method: 'POST', body: 'hi' });
      assert.equal(await res.text(), 'ok');
      assert.equal(lingered, false);
    } finally {
      server.close();
    }
  });
});

function wait(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
