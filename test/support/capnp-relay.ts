/**
 * A counting relay for Cap'n Proto RPC tests: a TCP proxy on 127.0.0.1 that passes bytes through
 * unchanged in both directions and decodes every frame it passes (rpc.capnp Message), so a test
 * can assert which messages went which way, and in what order, whatever implements each end
 * (our RpcConnection or pycapnp). The log is in the order the relay forwarded the frames: within
 * one direction that is the sender's order; across directions it respects causality (a reply
 * is logged after what it answers).
 */
import net from 'node:net';
import * as rpc from 'capnp-es/capnp/rpc';
import { FrameReader, messageFromFrame } from '../../src/protocols/capnp/framing.js';

export type Direction = 'client->server' | 'server->client';

export interface RelayedMessage {
  readonly dir: Direction;
  /** The Message union's member: call, return, finish, resolve, release, disembargo, ... */
  readonly kind: string;
  /**
   * call: its target (importedCap | promisedAnswer) and method (`0x<interface id>@<ordinal>`);
   * return: its union member; disembargo: its context (senderLoopback | receiverLoopback) and target.
   */
  readonly detail: string;
}

export interface CapnpRelay {
  readonly port: number;
  readonly log: readonly RelayedMessage[];
  /** Messages of `kind` (and, if given, whose detail contains every word of `detail`) sent in `dir`. */
  count(dir: Direction, kind: string, detail?: string): number;
  close(): Promise<void>;
}

const MAX_FRAME = 64 * 1024 * 1024;

function names(which: Record<string, number>): Map<number, string> {
  const out = new Map<number, string>();
  for (const [name, value] of Object.entries(which)) {
    // SENDER_LOOPBACK -> senderLoopback, as rpc.capnp spells the members.
    out.set(
      value,
      name.toLowerCase().replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()),
    );
  }
  return out;
}

const MESSAGE = names(rpc.Message_Which);
const RETURN = names(rpc.Return_Which);
const CONTEXT = names(rpc.Disembargo_Context_Which);
const TARGET = names(rpc.MessageTarget_Which);

function targetOf(t: rpc.MessageTarget): string {
  return TARGET.get(t.which()) ?? String(t.which());
}

function describe(frame: ArrayBuffer): { kind: string; detail: string } {
  const root = messageFromFrame(frame, MAX_FRAME).getRoot(rpc.Message);
  const kind = MESSAGE.get(root.which()) ?? String(root.which());
  switch (root.which()) {
    case rpc.Message.CALL: {
      const c = root.call;
      return { kind, detail: `${targetOf(c.target)} 0x${c.interfaceId.toString(16)}@${c.methodId}` };
    }
    case rpc.Message.RETURN: {
      const r = root.return;
      return { kind, detail: `${RETURN.get(r.which()) ?? r.which()} a${r.answerId}` };
    }
    case rpc.Message.DISEMBARGO: {
      const d = root.disembargo;
      return { kind, detail: `${CONTEXT.get(d.context.which()) ?? d.context.which()} ${targetOf(d.target)}` };
    }
    default:
      return { kind, detail: '' };
  }
}

/** `m`'s detail has every space-separated word of `detail` (undefined: any). */
export function matches(m: RelayedMessage, detail: string | undefined): boolean {
  if (detail === undefined) return true;
  const words = m.detail.split(' ');
  return detail.split(' ').every((w) => words.includes(w));
}

export interface CapnpRelayOptions {
  /**
   * Cuts the connection (both sockets destroyed) instead of forwarding the chunk holding the
   * first message this returns true for: a connection lost at a chosen point of the protocol.
   */
  readonly cutOn?: (m: RelayedMessage) => boolean;
  /**
   * Swallows every message this returns true for (logged, not forwarded; the frames around it
   * pass): a peer that never sends that message, on a connection that stays up.
   */
  readonly dropOn?: (m: RelayedMessage) => boolean;
}

/** Starts a relay to 127.0.0.1:`targetPort`; every accepted connection is relayed and logged. */
export async function startCapnpRelay(
  targetPort: number,
  options: CapnpRelayOptions = {},
): Promise<CapnpRelay> {
  const log: RelayedMessage[] = [];
  const sockets = new Set<net.Socket>();
  const pipe = (from: net.Socket, to: net.Socket, dir: Direction): void => {
    const reader = new FrameReader({ maxMessageBytes: MAX_FRAME });
    from.on('data', (chunk: Buffer) => {
      // Decoded before forwarding, so the log holds a frame before its answer can come back.
      let cut = false;
      const kept: Uint8Array[] = [];
      for (const frame of reader.push(chunk)) {
        const m: RelayedMessage = { dir, ...describe(frame) };
        log.push(m);
        if (options.cutOn?.(m) === true) cut = true;
        if (options.dropOn?.(m) !== true) kept.push(new Uint8Array(frame));
      }
      if (cut) {
        from.destroy();
        to.destroy();
        return;
      }
      if (options.dropOn === undefined) to.write(chunk);
      // Whole frames only: a frame split across chunks is forwarded once complete.
      else for (const f of kept) to.write(f);
    });
    from.on('end', () => to.end());
    from.on('error', () => to.destroy());
    from.on('close', () => to.destroy());
  };
  const server = net.createServer((client) => {
    client.pause();
    const upstream = net.connect(targetPort, '127.0.0.1', () => client.resume());
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    }
    pipe(client, upstream, 'client->server');
    pipe(upstream, client, 'server->client');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return {
    port: (server.address() as net.AddressInfo).port,
    log,
    count: (dir, kind, detail) =>
      log.filter((m) => m.dir === dir && m.kind === kind && matches(m, detail)).length,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** What a run of the embargo scenario put on the wire, for one deepEqual against the spec's. */
export interface EmbargoSummary {
  /** Calls of `next` the client sent, and how many of them on a promised answer. */
  readonly callsOut: number;
  readonly pipelinedOut: number;
  /** Calls of `next` the server sent back to the client's object. */
  readonly reflected: number;
  /** Resolve messages from the server. */
  readonly resolves: number;
  /** The details of each Disembargo, either way. */
  readonly disembargoesOut: readonly string[];
  readonly disembargoesBack: readonly string[];
  /** The server's Disembargo came after every call it sent. */
  readonly backAfterReflected: boolean;
}

/** `next`: the method as a Call's detail has it (`0x<interface id>@<ordinal>`). */
export function embargoSummary(log: readonly RelayedMessage[], next: string): EmbargoSummary {
  const of = (dir: Direction, kind: string, detail?: string) =>
    log.filter((m) => m.dir === dir && m.kind === kind && matches(m, detail));
  const back = log.findIndex((m) => m.dir === 'server->client' && m.kind === 'disembargo');
  const lastReflected = log.findLastIndex((m) => m.dir === 'server->client' && m.kind === 'call');
  return {
    callsOut: of('client->server', 'call', next).length,
    pipelinedOut: of('client->server', 'call', `promisedAnswer ${next}`).length,
    reflected: of('server->client', 'call', `importedCap ${next}`).length,
    resolves: of('server->client', 'resolve').length,
    disembargoesOut: of('client->server', 'disembargo').map((m) => m.detail),
    disembargoesBack: of('server->client', 'disembargo').map((m) => m.detail),
    backAfterReflected: back > lastReflected,
  };
}
