/**
 * Reads an HTTP request body up to a byte limit without ever buffering more than the limit.
 * An oversized body is detected from Content-Length before reading, or by counting the bytes
 * of a chunked body as they stream in. Past the limit the rest is read and thrown away (so a
 * client still writing its body can read the 413 instead of getting a reset) until twice the
 * limit has arrived in all; a client that keeps sending after that has its connection cut.
 */
import type { IncomingMessage } from 'node:http';

export type BodyResult =
  | { readonly kind: 'ok'; readonly body: Buffer }
  | { readonly kind: 'too-large'; readonly size: number }
  | { readonly kind: 'aborted' };

export function readBoundedBody(req: IncomingMessage, limit: number): Promise<BodyResult> {
  return new Promise((resolve) => {
    const declared = Number(req.headers['content-length']);
    let received = 0;
    let tooLarge = false;
    const chunks: Buffer[] = [];

    const discardBeyondLimit = (size: number) => {
      tooLarge = true;
      chunks.length = 0;
      resolve({ kind: 'too-large', size });
    };

    if (Number.isFinite(declared) && declared > limit) discardBeyondLimit(declared);

    req.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (tooLarge) {
        if (received > 2 * limit) req.socket.destroy();
        return;
      }
      if (received > limit) {
        discardBeyondLimit(received);
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!tooLarge) resolve({ kind: 'ok', body: Buffer.concat(chunks, received) });
    });
    // The client went away mid-body: nothing to answer.
    req.on('error', () => resolve({ kind: 'aborted' }));
    req.on('close', () => {
      if (!req.complete && !tooLarge) resolve({ kind: 'aborted' });
    });
  });
}
