/**
 * A Thrift client over TCP, for any contract paired with its IDL. Calls are pipelined on one
 * connection: each gets the next sequence id and replies are matched by it, so many calls can
 * be in flight at once (a thriftpy2 server answers them in order; ours as they finish).
 *
 * Calls pending when the connection drops fail with TRANSPORT (never resent: the server may
 * have run them). The next call opens a new connection, since thriftpy2's make_server drops
 * connections idle for 3 s and a long-lived client should outlive that.
 */
import net from 'node:net';
import { createClient } from '../../contract/client.js';
import {
  InvalidArgumentError,
  ProtocolError,
  type RpcError,
  TimeoutError,
  TransportError,
  toRpcError,
} from '../../contract/errors.js';
import type { Client, Contract } from '../../contract/spec.js';
import { validateArgs } from '../../contract/validate.js';
import { timerDelay, withTimeout } from '../../net/deadline.js';
import { DEFAULT_HOST, DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_TIMEOUT_MS } from '../types.js';
import { writeBatched } from './batch.js';
import { type Binding, bindContract, type MethodPlan } from './binding.js';
import { MessageReader, type Variant } from './framing.js';
import { messageReader } from './library.js';
import { decodeReply, encodeCallParts, readHeader } from './messages.js';

export interface ThriftConnectOptions {
  host?: string;
  port: number;
  variant: Variant;
  timeoutMs?: number;
  maxMessageBytes?: number;
  schemaPath?: string;
}

interface Pending {
  readonly plan: MethodPlan;
  resolve(value: unknown): void;
  reject(err: RpcError): void;
}

/** Thrift sequence ids are i32; wrap before overflowing. */
const MAX_SEQID = 2 ** 31 - 1;

/** Timed-out and oneway calls remembered per connection, so their replies are told from strays. */
const MAX_FORGOTTEN = 4096;

function openSocket(host: string, port: number, timeoutMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    const timer =
      timerDelay(timeoutMs) !== undefined
        ? setTimeout(() => {
            socket.destroy();
            reject(
              new TimeoutError(
                `connecting to thrift server at ${host}:${port} timed out after ${timeoutMs} ms`,
              ),
            );
          }, timerDelay(timeoutMs))
        : undefined;
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const why = err.code === 'ECONNREFUSED' ? 'connection refused' : err.message;
      reject(
        new TransportError(`cannot connect to thrift server at ${host}:${port}: ${why}`, { cause: err }),
      );
    });
  });
}

/** One TCP connection and the calls waiting for replies on it. */
class Connection {
  private readonly pending = new Map<number, Pending>();
  /** Sequence ids of calls that timed out or were oneway: a reply to one is dropped quietly. */
  private readonly forgotten = new Set<number>();
  private readonly reader: MessageReader;
  private failure: RpcError | undefined;

  constructor(
    private readonly socket: net.Socket,
    private readonly variant: Variant,
    private readonly binding: Binding,
    maxBytes: number,
    private readonly where: string,
    private readonly stallMs: number,
  ) {
    this.reader = new MessageReader(variant, maxBytes);
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) =>
      this.fail(new TransportError(`thrift connection to ${where} failed: ${err.message}`, { cause: err })),
    );
    socket.on('close', () =>
      this.fail(new TransportError(`thrift connection to ${where} closed while the call was pending`)),
    );
  }

  /**
   * A reply begun but not finished within the call timeout means the stream is broken (a
   * garbled length in buffered mode waits for bytes that never come): without this, every
   * later call on the connection would time out too. Re-armed by each completed message.
   */
  private stall: NodeJS.Timeout | undefined;

  private watchStall(progressed: boolean): void {
    if (progressed || this.reader.pendingBytes === 0) {
      clearTimeout(this.stall);
      this.stall = undefined;
    }
    if (this.stall === undefined && this.reader.pendingBytes > 0 && timerDelay(this.stallMs) !== undefined) {
      this.stall = setTimeout(() => {
        this.fail(
          new ProtocolError(
            `a reply from ${this.where} stalled mid-message for ${this.stallMs} ms (${this.reader.pendingBytes} bytes of it received)`,
          ),
        );
      }, timerDelay(this.stallMs));
    }
  }

  get usable(): boolean {
    return this.failure === undefined && !this.socket.destroyed;
  }

  /**
   * Sends an encoded call (its parts; a bulk binary argument is the caller's memory, sent
   * before any reply can come); resolves with the decoded result (oneway calls at once).
   */
  send(plan: MethodPlan, seqid: number, bytes: Buffer[]): Promise<unknown> {
    if (!this.usable)
      return Promise.reject(
        this.failure ?? new TransportError(`thrift connection to ${this.where} is closed`),
      );
    if (plan.oneway) {
      // Servers still answer a oneway call to a function they lack (UNKNOWN_METHOD, as Apache
      // Thrift's and thriftpy2's processors do): that answer is dropped, not a stray reply
      // that would fail the other calls of the connection.
      this.remember(seqid);
      writeBatched(this.socket, bytes, this.pending.size > 0);
      return Promise.resolve(undefined);
    }
    // Calls made in the same tick (pipelining) go out in one write (batch.ts); the first of a
    // burst, with nothing else pending, goes out at once.
    const more = this.pending.size > 0;
    const reply = new Promise<unknown>((resolve, reject) => {
      this.pending.set(seqid, { plan, resolve, reject });
    });
    writeBatched(this.socket, bytes, more);
    return reply;
  }

  /** Forgets a call (after its timeout): a late reply is then dropped. */
  forget(seqid: number): void {
    if (this.pending.delete(seqid)) this.remember(seqid);
  }

  /** Marks a sequence id whose reply, if one comes, is to be dropped quietly. */
  private remember(seqid: number): void {
    this.forgotten.add(seqid);
    if (this.forgotten.size > MAX_FORGOTTEN) {
      const oldest = this.forgotten.values().next().value;
      if (oldest !== undefined) this.forgotten.delete(oldest);
    }
  }

  fail(err: RpcError): void {
    clearTimeout(this.stall);
    this.failure ??= err;
    const calls = [...this.pending.values()];
    this.pending.clear();
    for (const call of calls) call.reject(err);
    this.socket.destroy();
  }

  close(): Promise<void> {
    if (this.socket.destroyed) return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.socket.once('close', () => resolve());
      // Hand calls sent this tick (a oneway one, say) to the kernel before closing, as an
      // unbatched write would have.
      while (this.socket.writableCorked > 0) this.socket.uncork();
      this.socket.destroy();
    });
  }

  private onData(chunk: Buffer): void {
    try {
      const messages = this.reader.push(chunk);
      this.watchStall(messages.length > 0);
      for (const message of messages) {
        const p = messageReader(this.variant.encoding, message);
        const header = readHeader(p);
        const call = this.pending.get(header.seqid);
        if (!call) {
          if (this.forgotten.delete(header.seqid)) continue; // a late reply to a timed-out call
          // Like the other Thrift clients' BAD_SEQUENCE_ID: the stream cannot be trusted now.
          throw new ProtocolError(
            `${this.where} replied to sequence id ${header.seqid}, which no pending call has (BAD_SEQUENCE_ID)`,
          );
        }
        if (header.name !== call.plan.name) {
          throw new ProtocolError(
            `${this.where} answered call ${header.seqid} of '${call.plan.name}' as '${header.name}' (WRONG_METHOD_NAME)`,
          );
        }
        this.pending.delete(header.seqid);
        const reply = decodeReply(p, header, call.plan, this.binding.structs);
        if (reply.ok) call.resolve(reply.value);
        else call.reject(reply.error);
      }
    } catch (err) {
      const e = toRpcError(err);
      this.fail(
        e.code === 'INTERNAL' ? new ProtocolError(`malformed reply: ${e.message}`, { cause: err }) : e,
      );
    }
  }
}

export async function connectThrift<C extends Contract>(
  contract: C,
  options: ThriftConnectOptions,
): Promise<Client<C>> {
  const binding = bindContract(contract, options.schemaPath);
  const { variant, port } = options;
  const host = options.host ?? DEFAULT_HOST;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const maxBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  const where = `${host}:${port}`;
  const open = async () =>
    new Connection(await openSocket(host, port, timeoutMs), variant, binding, maxBytes, where, timeoutMs);

  // The first connection is opened now, so an unreachable server fails connect() itself.
  let current: Promise<Connection> = Promise.resolve(await open());
  let closed = false;
  let seqid = 0;

  async function connection(): Promise<Connection> {
    const conn = await current.catch(() => undefined);
    if (conn?.usable) return conn;
    if (closed) throw new TransportError(`thrift client for ${where} is closed`);
    // Shared by concurrent callers, so one reconnect serves them all.
    const next = open();
    current = next;
    return next;
  }

  function call(method: string, args: readonly unknown[]): Promise<unknown> {
    const plan = binding.plans.get(method);
    const spec = contract.methods[method];
    if (!plan || !spec)
      return Promise.reject(new InvalidArgumentError(`${contract.name} has no method ${method}`));
    let encoded: Buffer[];
    let id: number;
    try {
      if (closed) throw new TransportError(`thrift client for ${where} is closed`);
      // An ad-hoc call (dynamic result) is typed by the IDL and converted when written;
      // anything else gets the server's validation first, so a bad argument never hits the wire.
      const adHoc = plan.inIdl && spec.result === 'dynamic';
      if (adHoc && args.length !== plan.params.length) {
        throw new InvalidArgumentError(
          `${method} takes ${plan.params.length} argument(s), got ${args.length}`,
        );
      }
      const checked = adHoc ? [...args] : validateArgs(method, spec, args);
      seqid = seqid >= MAX_SEQID ? 1 : seqid + 1;
      id = seqid;
      encoded = encodeCallParts(variant, plan, id, checked, binding.structs);
    } catch (err) {
      return Promise.reject(toRpcError(err));
    }
    let sentOn: Connection | undefined;
    let timedOut = false;
    const reply = connection().then((conn) => {
      // The call may time out while its connection is still opening (a reconnect it waited
      // for failed, and its own started late): its caller has its TIMEOUT, so it is never sent.
      if (timedOut) return undefined;
      sentOn = conn;
      return conn.send(plan, id, encoded);
    });
    return withTimeout(reply, timeoutMs, `thrift call ${method}`, () => {
      timedOut = true;
      sentOn?.forget(id);
    });
  }

  return createClient(contract, {
    call,
    close: async () => {
      closed = true;
      const conn = await current.catch(() => undefined);
      await conn?.close();
    },
  });
}
