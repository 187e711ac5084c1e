/**
 * An embargo race no real peer can be made to hit on demand, played by a scripted peer that
 * writes rpc.capnp messages itself: our calls pipelined on `later`'s promised result reach the
 * peer only after the promise it returned (senderPromise) has been resolved to our own Counter
 * (Resolve, receiverHosted). Those calls come back to us after the Resolve, so the calls we make
 * once it has arrived must wait behind them: the promised answer handed its "calls were sent"
 * to the imported promise it resolved to, which then embargoes (as the C++ implementation
 * does when a promise resolves to another promise of the same peer).
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import * as capnp from 'capnp-es';
import * as rpc from 'capnp-es/capnp/rpc';
import {
  initStructAtPointer,
  type MethodLayout,
  readContent,
  type StructLayout,
  type Values,
  writeStruct,
} from '../../src/protocols/capnp/codec.js';
import { FrameReader, frameMessage, messageFromFrame } from '../../src/protocols/capnp/framing.js';
import { loadCapnpSchema, openCapnp } from '../../src/protocols/capnp/index.js';
import { range, reflectorSchemaPath } from '../support/capnp-reflector.js';

const registry = loadCapnpSchema(reflectorSchemaPath).registry;
const method = (iface: string, name: string): MethodLayout =>
  registry.interfaces.get(iface)!.methods.get(name)!;
const LATER = method('Reflector', 'later');
const RELEASE = method('Reflector', 'release');
const NEXT = method('Counter', 'next');
const is = (c: rpc.Call, m: MethodLayout) => c.interfaceId === m.interfaceId && c.methodId === m.methodId;

/** Our export IDs on the scripted side: the bootstrap Reflector and the promise `later` returns. */
const REFLECTOR = 0;
const PROMISE = 1;

function frame(build: (root: rpc.Message) => void): Uint8Array {
  const message = new capnp.Message();
  build(message.initRoot(rpc.Message));
  return frameMessage(message);
}

/** Writes `values` as a payload whose cap table holds `caps` (each a descriptor writer). */
function payload(
  p: rpc.Payload,
  layout: StructLayout,
  values: Values,
  caps: ((d: rpc.CapDescriptor) => void)[] = [],
): void {
  writeStruct(initStructAtPointer(p.content, layout), layout, values, () => 0);
  const table = p._initCapTable(caps.length);
  caps.forEach((write, i) => {
    write(table.get(i));
  });
}

const returnOf = (
  answerId: number,
  layout: StructLayout,
  values: Values,
  caps?: ((d: rpc.CapDescriptor) => void)[],
) =>
  frame((root) => {
    const r = root._initReturn();
    r.answerId = answerId;
    r.releaseParamCaps = false;
    payload(r._initResults(), layout, values, caps);
  });

/**
 * The peer: `later` returns a promise and resolves it to the caller's Counter at once; calls
 * pipelined on the result are kept, and reflected to the Counter when `release` is called the
 * second time, followed by the answer to the caller's Disembargo.
 */
function scriptedPeer(socket: net.Socket): void {
  const reader = new FrameReader({ maxMessageBytes: 1 << 20 });
  let counter = -1;
  const pipelined: { questionId: number; seq: number }[] = [];
  let embargo: number | undefined;
  let releases = 0;
  const handle = (root: rpc.Message): void => {
    switch (root.which()) {
      case rpc.Message.BOOTSTRAP: {
        const questionId = root.bootstrap.questionId;
        socket.write(
          frame((m) => {
            const r = m._initReturn();
            r.answerId = questionId;
            const p = r._initResults();
            capnp.utils.setInterfacePointer(0, p.content);
            p._initCapTable(1).get(0).senderHosted = REFLECTOR;
          }),
        );
        return;
      }
      case rpc.Message.CALL: {
        const c = root.call;
        if (is(c, LATER)) {
          counter = c.params.capTable.get(0).senderHosted;
          // The Return names a promise; the Resolve right behind it says it is the caller's Counter.
          socket.write(
            Buffer.concat([
              returnOf(c.questionId, LATER.results, { cap: 0 }, [
                (d) => {
                  d.senderPromise = PROMISE;
                },
              ]),
              frame((m) => {
                const r = m._initResolve();
                r.promiseId = PROMISE;
                r._initCap().receiverHosted = counter;
              }),
            ]),
          );
        } else if (is(c, NEXT)) {
          pipelined.push({
            questionId: c.questionId,
            seq: readContent(c.params.content, NEXT.params, () => null).seq as number,
          });
        } else if (is(c, RELEASE)) {
          releases++;
          const out: Uint8Array[] = [];
          if (releases === 2) {
            // The pipelined calls reach the Counter only now, after the Resolve.
            pipelined.forEach(({ seq }, i) => {
              out.push(
                frame((m) => {
                  const call = m._initCall();
                  call.questionId = i;
                  call.interfaceId = NEXT.interfaceId;
                  call.methodId = NEXT.methodId;
                  call._initTarget().importedCap = counter;
                  payload(call._initParams(), NEXT.params, { seq });
                }),
              );
            });
            for (const { questionId, seq } of pipelined)
              out.push(returnOf(questionId, NEXT.results, { seq }));
          }
          out.push(returnOf(c.questionId, RELEASE.results, { held: 0 }));
          if (releases === 2 && embargo !== undefined) {
            const id = embargo;
            out.push(
              frame((m) => {
                const d = m._initDisembargo();
                d._initTarget().importedCap = counter;
                d._initContext().receiverLoopback = id;
              }),
            );
          }
          socket.write(Buffer.concat(out));
        }
        return;
      }
      case rpc.Message.DISEMBARGO: {
        const d = root.disembargo;
        if (d.context.which() === rpc.Disembargo_Context.SENDER_LOOPBACK) embargo = d.context.senderLoopback;
        return;
      }
      default:
        // Finish, Release and the Returns of the reflected calls: nothing to do.
        return;
    }
  };
  socket.on('data', (chunk: Buffer) => {
    for (const f of reader.push(chunk)) handle(messageFromFrame(f, 1 << 20).getRoot(rpc.Message));
  });
  socket.on('error', () => socket.destroy());
}

describe('capnp embargo: calls reflected after the promise resolved (scripted peer)', () => {
  let server: net.Server;
  let port: number;
  before(async () => {
    server = net.createServer(scriptedPeer);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    port = (server.address() as net.AddressInfo).port;
  });
  after(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('calls made once the Resolve is in wait behind the pipelined ones it reflects after it', async () => {
    const session = await openCapnp({
      port,
      schemaPath: reflectorSchemaPath,
      service: 'Reflector',
      timeoutMs: 15_000,
    });
    const seen: number[] = [];
    const counter = session.serve('Counter', {
      next: ({ seq }) => {
        seen.push(seq as number);
        return { seq };
      },
    });
    const reflector = session.bootstrap();
    try {
      const pending = reflector.call('later', { cap: counter });
      const promised = pending.cap('cap');
      const early = range(0, 5).map((seq) => promised.call('next', { seq }).result);
      const result = await pending.result;
      // Answered behind the Resolve: the promise is our Counter now, the pipelined calls not back.
      await reflector.call('release').result;
      assert.equal(session.connection.tableSizes().embargoes, 1, 'the resolved promise is embargoed');
      const late = range(5, 10).map((seq) => promised.call('next', { seq }).result);
      assert.deepEqual(seen, [], 'nothing reached the Counter yet');
      // The peer now reflects the pipelined calls, then answers the Disembargo.
      await reflector.call('release').result;
      const replies = await Promise.all([...early, ...late]);
      assert.deepEqual(seen, range(0, 10), 'the Counter saw every seq once, in order');
      assert.deepEqual(
        replies.map((r) => r.seq),
        range(0, 10),
      );
      assert.equal(session.connection.tableSizes().embargoes, 0);
      (result.cap as { release(): void }).release();
      promised.release();
    } finally {
      counter.release();
      reflector.release();
      await session.close();
    }
  });
});
