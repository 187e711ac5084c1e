/** The registry: every protocol, in the survey's order. Adding a protocol is one line here. */
import { capnp } from './capnp/index.js';
import { jsonrpc } from './jsonrpc/index.js';
import { msgpackrpc } from './msgpackrpc/index.js';
import { rpyc } from './rpyc/index.js';
import { soap } from './soap/index.js';
import { thrift } from './thrift/index.js';
import type { Protocol } from './types.js';
import { zeromq } from './zeromq/index.js';

export const protocols: readonly Protocol[] = [thrift, jsonrpc, rpyc, zeromq, capnp, msgpackrpc, soap];

export function findProtocol(name: string): Protocol | undefined {
  return protocols.find((p) => p.name === name);
}

export type { ConnectOptions, Protocol, RunningServer, ServeOptions, Traits } from './types.js';
