/**
 * A ROUTER peer for reliability tests: it answers add requests, but a script decides, per
 * request number (1-based), whether to answer, drop the request (a lost reply), or hold the
 * reply and send it late, just before the next answered one (so it lands while another call
 * is waiting). `echoIds: false` behaves like the survey's REP server, which ignores "id".
 * `wideIds` echoes ids as 64-bit msgpack ints (0xcf), as encoders that write an integer's
 * declared width do (Go, Rust, C++ with uint64 fields) instead of the smallest form.
 */
import { Router } from 'zeromq';
import { splitEnvelope } from '../../src/protocols/zeromq/envelope.js';
import { decodeValue, encodeValue } from '../../src/protocols/zeromq/msgpack.js';

export type Fate = 'answer' | 'drop' | 'hold';

export interface ScriptedRouter {
  readonly port: number;
  readonly address: string;
  /** Requests received so far, decoded. */
  readonly seen: Record<string, unknown>[];
  close(): Promise<void>;
}

export async function startScriptedRouter(options: {
  echoIds: boolean;
  wideIds?: boolean;
  fate?: (n: number) => Fate;
}): Promise<ScriptedRouter> {
  const router = new Router({ linger: 0 });
  await router.bind('tcp://127.0.0.1:0');
  const address = router.lastEndpoint!;
  const seen: Record<string, unknown>[] = [];
  const held: Buffer[][] = [];
  let sending = Promise.resolve();
  const send = (frames: Buffer[]) => {
    sending = sending.then(() => (router.closed ? undefined : router.send(frames))).catch(() => undefined);
  };
  void (async () => {
    for (;;) {
      let frames: Buffer[];
      try {
        frames = await router.receive();
      } catch {
        return;
      }
      const { envelope, body } = splitEnvelope(frames);
      const request = decodeValue(body[0]!) as Record<string, unknown>;
      seen.push(request);
      const [a, b] = request.params as number[];
      const reply: Record<string, unknown> = { result: a! + b! };
      if (options.echoIds && 'id' in request) {
        reply.id = options.wideIds ? BigInt(request.id as number) : request.id;
      }
      const out = [...envelope, Buffer.from(encodeValue(reply))];
      const fate = options.fate?.(seen.length) ?? 'answer';
      if (fate === 'hold') held.push(out);
      else if (fate === 'answer') {
        for (const late of held.splice(0)) send(late);
        send(out);
      }
    }
  })();
  return {
    port: Number(/:(\d+)$/.exec(address)![1]),
    address,
    seen,
    close: async () => {
      router.close();
    },
  };
}

/**
 * A ROUTER that answers every add(a, b) with the body frames `reply` returns, given a and the
 * correct reply (ids echoed): tests of clients facing malformed or multi-frame replies.
 */
export async function startAddRouter(
  reply: (a: number, good: Buffer) => readonly Buffer[],
): Promise<{ port: number; close(): void }> {
  const router = new Router({ linger: 0 });
  await router.bind('tcp://127.0.0.1:0');
  void (async () => {
    for (;;) {
      let frames: Buffer[];
      try {
        frames = await router.receive();
      } catch {
        return;
      }
      const { envelope, body } = splitEnvelope(frames);
      const request = decodeValue(body[0]!) as { params: [number, number]; id?: number };
      const [a, b] = request.params;
      const good = Buffer.from(
        encodeValue(request.id === undefined ? { result: a + b } : { result: a + b, id: request.id }),
      );
      await router.send([...envelope, ...reply(a, good)]).catch(() => undefined);
    }
  })();
  return { port: Number(/:(\d+)$/.exec(router.lastEndpoint!)![1]), close: () => router.close() };
}
