/**
 * A Thrift server over node:net, for any contract paired with its IDL. Each connection reads
 * complete, validated messages (framing.ts), decodes them with the library's protocol, runs
 * the shared dispatcher and writes the reply. Calls on one connection run concurrently and
 * are answered as they finish; the sequence id lets the client match them. Bad input closes
 * only the connection it arrived on.
 */
import net from 'node:net';
import { createSyncDispatcher } from '../../contract/dispatch.js';
import {
  InvalidArgumentError,
  NoSuchMethodError,
  ProtocolError,
  type RpcError,
  toRpcError,
} from '../../contract/errors.js';
import type { Contract, Implementation } from '../../contract/spec.js';
import { timerDelay } from '../../net/deadline.js';
import { CountedConnections } from '../../serve/counted.js';
import { DEFAULT_HOST, DEFAULT_MAX_MESSAGE_BYTES, type RunningServer } from '../types.js';
import { writeBatched } from './batch.js';
import { bindContract } from './binding.js';
import { MessageReader, type Variant } from './framing.js';
import { AppExceptionType, MessageType, messageReader } from './library.js';
import {
  decodeArgs,
  encodeAppException,
  encodeError,
  encodeReplyParts,
  type MessageHeader,
  readHeader,
} from './messages.js';

/**
 * Replies answered synchronously while a chunk is read are copied into one buffer and written
 * together, up to this many bytes or REPLIES_PER_WRITE replies: a write per reply costs a
 * syscall each, while one write for a chunk of 64 pipelined calls leaves the client idle
 * until the last is answered, where smaller batches let it start on the first ones meanwhile.
 */
const SMALL_WRITE_BYTES = 16 * 1024;
const REPLIES_PER_WRITE = 16;

/** Calls of one connection running at once before the server stops reading more from it. */
export const MAX_IN_FLIGHT_PER_CONNECTION = 1024;

/**
 * How long one message may take to arrive once its first byte is in (or since the previous
 * message of the stream completed). A peer that stalls mid-message (slow-loris) is dropped
 * then; an idle connection with nothing half-sent is kept, as thriftpy2 and Apache Thrift
 * clients hold connections open between calls.
 */
export const DEFAULT_MESSAGE_TIMEOUT_MS = 60_000;

/**
 * An encoded reply: one buffer, or parts to write in turn when a bulk binary result is sent
 * from the implementation's own memory (messages.ts encodeReplyParts).
 */
type Reply = Buffer | Buffer[];

export interface ThriftServeOptions {
  host?: string;
  port: number;
  variant: Variant;
  maxMessageBytes?: number;
  schemaPath?: string;
  messageTimeoutMs?: number;
  /**
   * Told why the server dropped a connection (bad input, a message over the limit, a stalled
   * message), with the peer's address; the server goes on serving the others. Defaults to
   * one `console.warn` line per dropped connection. A peer closing on its own is not reported.
   */
  onConnectionError?: (error: RpcError, peer: string) => void;
}

function warnDropped(error: RpcError, peer: string): void {
  console.warn(`thrift server: dropped the connection from ${peer}: [${error.code}] ${error.message}`);
}

export interface ThriftRunningServer extends RunningServer {
  /** Connections currently open (for leak checks). */
  readonly connectionCount: number;
}

export async function serveThrift<C extends Contract>(
  contract: C,
  impl: Implementation<C>,
  options: ThriftServeOptions,
): Promise<ThriftRunningServer> {
  const binding = bindContract(contract, options.schemaPath);
  const dispatch = createSyncDispatcher(contract, impl);
  const { variant } = options;
  const maxBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  const host = options.host ?? DEFAULT_HOST;
  const messageTimeoutMs = options.messageTimeoutMs ?? DEFAULT_MESSAGE_TIMEOUT_MS;
  const sockets = new Set<net.Socket>();
  const counted = new CountedConnections();
  const report = options.onConnectionError ?? warnDropped;

  /**
   * TMultiplexedProtocol clients name calls "Service:method". The served service answers to its
   * own name (as if registered under it in a TMultiplexedProcessor) and the reply carries the
   * bare method name, as Apache's multiplexed processors reply (the npm package's client
   * dispatches replies by that name, so a prefixed one would never reach its caller).
   */
  function unmultiplex(header: MessageHeader): { header: MessageHeader; unknownService?: string } {
    const colon = header.name.indexOf(':');
    if (colon < 0) return { header };
    const bare = { ...header, name: header.name.slice(colon + 1) };
    const service = header.name.slice(0, colon);
    return service === binding.service ? { header: bare } : { header: bare, unknownService: service };
  }

  /**
   * Decodes one call, runs it, and returns the reply to send (undefined for oneway calls):
   * at once when the implementation answers synchronously, else as a promise. Throws (or
   * rejects) only when the library cannot decode what the scan passed.
   */
  function handle(message: Buffer): Reply | undefined | Promise<Reply | undefined> {
    const p = messageReader(variant.encoding, message);
    const header = readHeader(p);
    if (header.type !== MessageType.CALL && header.type !== MessageType.ONEWAY) {
      // Well-formed but not a call (a reply or exception sent our way): say so, as the C++ and
      // Java processors do; the stream is still in sync, so the connection goes on.
      return encodeAppException(
        variant,
        header,
        AppExceptionType.INVALID_MESSAGE_TYPE,
        `a server only accepts calls (message type 1 or 4), got message type ${header.type}`,
      );
    }
    const call = unmultiplex(header);
    if (call.unknownService !== undefined) {
      if (header.type === MessageType.ONEWAY) return undefined;
      return encodeAppException(
        variant,
        call.header,
        AppExceptionType.UNKNOWN_METHOD,
        `unknown service '${call.unknownService}' in '${header.name}' (this server serves ${binding.service}, with or without the 'Service:' prefix)`,
      );
    }
    const h = call.header;
    const plan = binding.plans.get(h.name);
    // No reply to a ONEWAY message, nor to a function the IDL declares oneway whatever the
    // message type (as generated processors decide): its caller never reads one, so a reply
    // would be taken as the answer to its next call.
    const silent = h.type === MessageType.ONEWAY || plan?.oneway === true;
    if (!plan) {
      return silent
        ? undefined
        : encodeError(variant, h, undefined, new NoSuchMethodError(h.name), binding.structs);
    }
    const failed = (err: unknown) =>
      silent ? undefined : encodeError(variant, h, plan, toRpcError(err), binding.structs);
    const { args, problem } = decodeArgs(p, plan, binding.structs);
    let value: unknown;
    try {
      if (problem !== undefined) throw new InvalidArgumentError(problem);
      value = dispatch(h.name, args);
    } catch (err) {
      return failed(err);
    }
    const replyTo = (v: unknown) => {
      if (silent) return undefined;
      try {
        const parts = encodeReplyParts(variant, h, plan, v, binding.structs);
        return parts.length === 1 ? parts[0]! : parts;
      } catch (err) {
        return failed(err);
      }
    };
    return value instanceof Promise ? value.then(replyTo, failed) : replyTo(value);
  }

  function accept(socket: net.Socket): void {
    sockets.add(socket);
    const peer = `${socket.remoteAddress}:${socket.remotePort}`;
    socket.setNoDelay(true);
    const reader = new MessageReader(variant, maxBytes);
    // A byte stream cannot be resynchronised after bad input: drop this connection only, and
    // say why (once: later failures of calls still running on it are consequences).
    // The scan passed but the library could not decode the call.
    const undecodable = (err: unknown) => {
      fail(new ProtocolError(`undecodable call: ${toRpcError(err).message}`, { cause: err }));
    };
    const fail = (error: RpcError) => {
      if (socket.destroyed) return;
      socket.destroy();
      try {
        report(error, peer);
      } catch {
        // A throwing reporter must not take the server down.
      }
    };
    // Flow control: stop reading while the peer does not take our replies, or while too many
    // of its calls are still running, so a flooding client cannot grow our memory unboundedly.
    let inFlight = 0;
    let writeBlocked = false;
    counted.track(socket, () => inFlight);
    // The deadline of the message being received; off while nothing is half-sent, and while we
    // do not read (flow control), since then the wait is not the peer's doing.
    let deadline: NodeJS.Timeout | undefined;
    const stopDeadline = () => {
      clearTimeout(deadline);
      deadline = undefined;
    };
    const armDeadline = () => {
      if (socket.destroyed || socket.isPaused() || reader.pendingBytes === 0) stopDeadline();
      else if (deadline === undefined && timerDelay(messageTimeoutMs) !== undefined)
        deadline = setTimeout(
          () =>
            fail(
              new ProtocolError(
                `a message stayed unfinished for ${messageTimeoutMs} ms (${reader.pendingBytes} bytes of it received)`,
              ),
            ),
          timerDelay(messageTimeoutMs),
        );
    };
    const flow = () => {
      if (socket.destroyed) return;
      if (writeBlocked || inFlight >= MAX_IN_FLIGHT_PER_CONNECTION) socket.pause();
      else socket.resume();
      armDeadline();
    };
    socket.on('drain', () => {
      writeBlocked = false;
      flow();
    });

    socket.on('data', (chunk: Buffer) => {
      let messages: Buffer[];
      try {
        messages = reader.push(chunk);
      } catch (err) {
        fail(toRpcError(err));
        return;
      }
      // A completed message is progress: the next one gets a fresh deadline.
      if (messages.length > 0) stopDeadline();
      // Replies answered synchronously are gathered and leave in one write after the chunk
      // (small ones copied into one buffer), as the raw-TCP floor writes its own.
      let ready: Buffer[] = [];
      let readyBytes = 0;
      const writeReady = () => {
        if (
          !socket.destroyed &&
          !writeBatched(
            socket,
            ready.length === 1 ? ready[0]! : Buffer.concat(ready, readyBytes),
            inFlight > 0,
          )
        )
          writeBlocked = true;
        ready = [];
        readyBytes = 0;
      };
      for (const message of messages) {
        let reply: Reply | undefined | Promise<Reply | undefined>;
        try {
          reply = handle(message);
        } catch (err) {
          undecodable(err);
          return;
        }
        if (reply instanceof Promise) {
          inFlight++;
          reply.then(
            (r) => {
              inFlight--;
              // Replies finishing in the same tick go out in one write (batch.ts); with no other
              // call running, none can follow this one.
              if (r && !socket.destroyed && !writeBatched(socket, r, inFlight > 0)) writeBlocked = true;
              flow();
            },
            (err: unknown) => {
              inFlight--;
              undecodable(err);
            },
          );
        } else if (Array.isArray(reply)) {
          // A bulk reply in parts: what is gathered goes first, keeping the order.
          if (ready.length > 0) writeReady();
          if (!socket.destroyed && !writeBatched(socket, reply, inFlight > 0)) writeBlocked = true;
        } else if (reply !== undefined) {
          ready.push(reply);
          readyBytes += reply.length;
          if (ready.length >= REPLIES_PER_WRITE || readyBytes >= SMALL_WRITE_BYTES) writeReady();
        }
      }
      if (ready.length > 0) writeReady();
      flow();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      stopDeadline();
      sockets.delete(socket);
    });
  }

  const server = net.createServer(accept);

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as net.AddressInfo).port;
  let closing: Promise<void> | undefined;
  return {
    host,
    port,
    address: `tcp://${host.includes(':') ? `[${host}]` : host}:${port}`,
    get connectionCount() {
      return sockets.size;
    },
    drain(graceMs: number) {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        void counted.drain(graceMs);
      });
      return closing;
    },
    close() {
      closing ??= new Promise<void>((resolve) => server.close(() => resolve()));
      // Also cuts a drain short: its connections go now.
      for (const s of sockets) s.destroy();
      return closing;
    },
  };
}
