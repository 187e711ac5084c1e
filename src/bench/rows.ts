/**
 * The rows of a bench run: every registered protocol (our server), its Python peer server when
 * peers/python/<protocol>/full_server.py exists, the raw-TCP floor, and the gRPC and REST
 * reference rows. Every row is measured with the same load generator through a Protocol client.
 */
import { peersInstalled } from '../peers/python.js';
import { protocols } from '../protocols/index.js';
import type { Protocol } from '../protocols/types.js';
import { grpcReference, rawTcp, restReference } from './reference/index.js';
import {
  pythonServerScript,
  type ServerHandle,
  startNodeServer,
  startPythonServer,
} from './server-runner.js';

export type RowKind = 'floor' | 'reference' | 'protocol' | 'python';

export interface BenchRow {
  /** "raw-tcp", "grpc", "rest", "jsonrpc", "jsonrpc@python", ... */
  readonly id: string;
  readonly title: string;
  readonly kind: RowKind;
  /** The protocol whose client drives this row (for a Python row: the protocol it speaks). */
  readonly protocol: Protocol;
  readonly variant: string;
  start(options?: { cpuProfileDir?: string }): Promise<ServerHandle>;
}

export const PYTHON_SUFFIX = '@python';

/** The survey's seven protocols, in its order: a report says which of them are not registered yet. */
export const SURVEY_PROTOCOLS = [
  'thrift',
  'jsonrpc',
  'rpyc',
  'zeromq',
  'capnp',
  'msgpackrpc',
  'soap',
] as const;

function nodeRow(protocol: Protocol, kind: RowKind): BenchRow {
  return {
    id: protocol.name,
    title: protocol.title,
    kind,
    protocol,
    variant: protocol.variants[0]!,
    start: (options = {}) => startNodeServer(protocol.name, options),
  };
}

function pythonRow(protocol: Protocol): BenchRow {
  return {
    id: `${protocol.name}${PYTHON_SUFFIX}`,
    title: `${protocol.title} (Python peer)`,
    kind: 'python',
    protocol,
    variant: protocol.variants[0]!,
    start: () => startPythonServer(protocol.name),
  };
}

export interface RowSelection {
  /** Row ids or protocol names to include (a protocol name selects its Python peer too). */
  readonly only?: readonly string[];
  readonly python: boolean;
}

export interface RowPlan {
  readonly rows: BenchRow[];
  /** Why some rows were left out (no Python peer, peers not installed, ...). */
  readonly notes: string[];
}

export function planRows(selection: RowSelection): RowPlan {
  const notes: string[] = [];
  const all: BenchRow[] = [nodeRow(rawTcp, 'floor'), nodeRow(grpcReference, 'reference')];
  all.push(nodeRow(restReference, 'reference'));
  const pythonReady = selection.python && peersInstalled();
  if (selection.python && !pythonReady)
    notes.push('Python peers not installed (bash scripts/setup-peers.sh)');
  for (const protocol of protocols) {
    all.push(nodeRow(protocol, 'protocol'));
    if (!selection.python) continue;
    const wanted = !selection.only?.length || selection.only.includes(protocol.name);
    if (pythonServerScript(protocol.name) === undefined) {
      if (wanted)
        notes.push(`${protocol.name}: no Python peer server (peers/python/${protocol.name}/full_server.py)`);
    } else if (pythonReady) {
      all.push(pythonRow(protocol));
    }
  }
  const missing = SURVEY_PROTOCOLS.filter((name) => !protocols.some((p) => p.name === name));
  if (missing.length > 0) notes.push(`not registered at the time of this run: ${missing.join(', ')}`);
  const only = selection.only;
  if (only === undefined || only.length === 0) return { rows: all, notes };
  const unknown = only.filter((n) => !all.some((r) => r.id === n || r.protocol.name === n));
  if (unknown.length > 0) notes.push(`no such row: ${unknown.join(', ')}`);
  // The floor stays in every run: every ratio in the report is taken against it.
  const rows = all.filter((r) => r.kind === 'floor' || only.includes(r.id) || only.includes(r.protocol.name));
  return { rows, notes };
}
