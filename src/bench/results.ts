/** The shape of results.json: every raw figure of a run, plus machine, versions and settings. */
import type { RowKind } from './rows.js';
import type { RunSettings, Scenario } from './scenarios.js';
import type { WireFigures } from './wire-bytes.js';

export const RESULTS_SCHEMA = 'rpclab-bench/1';

export interface RepFigures {
  readonly calls: number;
  readonly seconds: number;
  readonly callsPerSec: number;
  readonly serverCpuNs: number;
  readonly clientCpuNs: number;
}

export interface Spread {
  readonly median: number;
  readonly min: number;
  readonly max: number;
}

export interface LatencyFigures {
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
  readonly mean: number;
}

/** One row in one scenario. Figures are absent when the row failed in that scenario. */
export interface CellResult {
  readonly row: string;
  readonly scenario: string;
  readonly reps: RepFigures[];
  readonly callsPerSec?: Spread;
  /** Microseconds, from an HDR histogram merged over the repetitions. */
  readonly latencyUs?: LatencyFigures;
  readonly serverCpuUsPerCall?: number;
  readonly clientCpuUsPerCall?: number;
  /** The server's peak RSS (VmHWM) when the scenario ended: it only grows over a run. */
  readonly serverPeakRssBytes?: number;
  readonly requestBytesPerCall?: number;
  readonly responseBytesPerCall?: number;
  /** Chained calls only: round trips per call, counted from the RPC messages crossing a relay. */
  readonly roundTripsPerCall?: number;
  /**
   * Chained calls through the delay relay only: how long it really held each chunk, on average
   * (the asked delay plus timer lateness), in milliseconds.
   */
  readonly relayHeldMeanMs?: number;
  readonly error?: string;
  /** Why the row sits this scenario out (e.g. one pipelined connection for a protocol without pipelining). */
  readonly skipped?: string;
}

export interface RowInfo {
  readonly id: string;
  readonly title: string;
  readonly kind: RowKind;
  readonly protocol: string;
  readonly variant: string;
  readonly pipelining: boolean;
  /** The client variant used on one pipelined connection, when not the default. */
  readonly pipelinedVariant?: string;
  /** The server's RSS (VmRSS) once it listened, before any call: what it costs to sit idle. */
  readonly idleRssBytes?: number;
  readonly error?: string;
}

export interface RowWire {
  readonly row: string;
  readonly kinds: WireFigures[];
  readonly error?: string;
}

export interface Hotspot {
  readonly functionName: string;
  /** Source location, shortened to the repository or node_modules path. */
  readonly location: string;
  readonly selfMs: number;
  readonly selfPercent: number;
}

export interface ProfileResult {
  readonly row: string;
  readonly scenario: string;
  /** Why it was profiled: our server's CPU per call against its Python peer's. */
  readonly serverCpuUsPerCall: number;
  readonly pythonCpuUsPerCall: number;
  readonly profileFile?: string;
  readonly hotspots: Hotspot[];
  readonly error?: string;
}

export interface MachineInfo {
  readonly os: string;
  readonly kernel: string;
  readonly arch: string;
  readonly cpuModel: string;
  readonly cpus: number;
  readonly memoryMiB: number;
  readonly node: string;
  readonly python?: string;
}

export interface BenchResults {
  readonly schema: typeof RESULTS_SCHEMA;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly durationSeconds: number;
  readonly command: string;
  readonly commit?: string;
  readonly machine: MachineInfo;
  readonly versions: Record<string, string>;
  readonly settings: RunSettings;
  readonly scenarios: readonly Scenario[];
  readonly rows: RowInfo[];
  readonly cells: CellResult[];
  readonly wire: RowWire[];
  readonly profiles: ProfileResult[];
  /** Rows left out and why (protocol without a Python peer, peers not installed, ...). */
  readonly notes: string[];
}
