/**
 * A Thrift client over one TCP connection, for any contract paired with its IDL. Calls are
 * pipelined: each gets the next sequence id and replies are matched by it, so many calls can
 * be in flight at once (a thriftpy2 server answers them in order; ours as they finish).
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
import { withTimeout } from '../../net/deadline.js';
import { DEFAULT_HOST, DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_TIMEOUT_MS } from '../types.js';
import { bindContract, type MethodPlan } from './binding.js';
import { MessageReader, type Variant } from './framing.js';
import { messageReader } from './library.js';
import { decodeReply, encodeCall, readHeader } from './messages.js';

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

function openSocket(host: string, port: number, timeoutMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    const timer =
      Number.isFinite(timeoutMs) && timeoutMs > 0
        ? setTimeout(() => {
            socket.destroy();
            reject(
              new TimeoutError(
                `connecting to thrift server at ${host}:${port} timed out after ${timeoutMs} ms`,
              ),
            );
          }, timeoutMs)
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

export async function connectThrift<C extends Contract>(
  contract: C,
  options: ThriftConnectOptions,
): Promise<Client<C>> {
  const binding = bindContract(contract, options.schemaPath);
  const { variant } = options;
  const host = options.host ?? DEFAULT_HOST;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const maxBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  const socket = await openSocket(host, options.port, timeoutMs);
  socket.setNoDelay(true);

  const pending = new Map<number, Pending>();
  const reader = new MessageReader(variant, maxBytes);
  let seqid = 0;
  let closedWith: RpcError | undefined;

  function failAll(err: RpcError): void {
    closedWith ??= err;
    const calls = [...pending.values()];
    pending.clear();
    for (const call of calls) call.reject(err);
    socket.destroy();
  }

  socket.on('data', (chunk: Buffer) => {
    try {
      for (const message of reader.push(chunk)) {
        const p = messageReader(variant.encoding, message);
        const header = readHeader(p);
        const call = pending.get(header.seqid);
        if (!call) continue; // a reply to a call that already timed out
        pending.delete(header.seqid);
        const reply = decodeReply(p, header, call.plan, binding.structs);
        if (reply.ok) call.resolve(reply.value);
        else call.reject(reply.error);
      }
    } catch (err) {
      const e = toRpcError(err);
      failAll(e.code === 'INTERNAL' ? new ProtocolError(`malformed reply: ${e.message}`, { cause: err }) : e);
    }
  });
  socket.on('error', (err) =>
    failAll(
      new TransportError(`thrift connection to ${host}:${options.port} failed: ${err.message}`, {
        cause: err,
      }),
    ),
  );
  socket.on('close', () =>
    failAll(
      new TransportError(`thrift connection to ${host}:${options.port} closed while the call was pending`),
    ),
  );

  function call(method: string, args: readonly unknown[]): Promise<unknown> {
    const plan = binding.plans.get(method);
    const spec = contract.methods[method];
    if (!plan || !spec)
      return Promise.reject(new InvalidArgumentError(`${contract.name} has no method ${method}`));
    let encoded: Buffer;
    let id: number;
    try {
      // Same validation as the server's dispatcher, so a bad argument never reaches the wire.
      const checked = plan.inIdl && spec.result === 'dynamic' ? [...args] : validateArgs(method, spec, args);
      if (closedWith) throw new TransportError(`thrift connection to ${host}:${options.port} is closed`);
      seqid = seqid >= MAX_SEQID ? 1 : seqid + 1;
      id = seqid;
      encoded = encodeCall(variant, plan, id, checked, binding.structs);
    } catch (err) {
      return Promise.reject(toRpcError(err));
    }
    if (plan.oneway) {
      socket.write(encoded);
      return Promise.resolve(undefined);
    }
    const reply = new Promise<unknown>((resolve, reject) => {
      pending.set(id, { plan, resolve, reject });
    });
    socket.write(encoded);
    return withTimeout(reply, timeoutMs, `thrift call ${method}`, () => pending.delete(id));
  }

  return createClient(contract, {
    call,
    close: async () => {
      closedWith ??= new TransportError('client closed');
      if (socket.destroyed) return;
      await new Promise<void>((resolve) => {
        socket.once('close', () => resolve());
        socket.destroy();
      });
    },
  });
}
