/**
 * The bench's reference rows: the raw-TCP floor and the two things the survey is an alternative
 * to (gRPC and REST). They have the Protocol shape so the harness treats every row alike, but
 * they live here, not in the protocol registry: they are yardsticks, not rpclab protocols.
 */
import { findProtocol } from '../../protocols/index.js';
import type { Protocol } from '../../protocols/types.js';
import { grpcReference } from './grpc.js';
import { rawTcp } from './raw-tcp.js';
import { restReference } from './rest.js';

export const referenceProtocols: readonly Protocol[] = [rawTcp, grpcReference, restReference];

/** A registered protocol or a reference row, by name. */
export function findBenchProtocol(name: string): Protocol | undefined {
  return findProtocol(name) ?? referenceProtocols.find((p) => p.name === name);
}

export { grpcReference, rawTcp, restReference };
