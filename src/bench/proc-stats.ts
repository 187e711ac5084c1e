/**
 * CPU time and memory of any process from its own kernel accounting (/proc), so the figures mean
 * the same for a Node server, a Python peer and the load generator itself.
 */
import { readdirSync, readFileSync } from 'node:fs';

const TICK_NS = 10_000_000; // USER_HZ is 100 on Linux

export interface CpuSample {
  /** Sum of the live threads' run time (/proc/PID/task/TID/schedstat), nanosecond resolution. */
  readonly schedNs: number;
  /** utime + stime (/proc/PID/stat), 10 ms resolution but includes threads that have exited. */
  readonly statNs: number;
}

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

export function sampleCpu(pid: number): CpuSample {
  let schedNs = 0;
  let tasks: string[] = [];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    tasks = [];
  }
  for (const tid of tasks) {
    const text = read(`/proc/${pid}/task/${tid}/schedstat`);
    if (text !== undefined) schedNs += Number(text.split(' ')[0]) || 0;
  }
  const stat = read(`/proc/${pid}/stat`) ?? '';
  // Fields after the command name (which may hold spaces) start at field 3: state.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = (Number(fields[11]) || 0) + (Number(fields[12]) || 0); // utime, stime (fields 14, 15)
  return { schedNs, statNs: ticks * TICK_NS };
}

/**
 * CPU time spent between two samples. The precise per-thread sum is used unless the coarse total
 * grew by clearly more, which happens when threads ran and exited in between.
 */
export function cpuBetween(a: CpuSample, b: CpuSample): number {
  const precise = b.schedNs - a.schedNs;
  const coarse = b.statNs - a.statNs;
  return coarse - precise > 2 * TICK_NS ? coarse : precise;
}

/** Peak resident set size (VmHWM) in bytes, or NaN if the process is gone. */
export function peakRssBytes(pid: number): number {
  const status = read(`/proc/${pid}/status`);
  const match = status?.match(/^VmHWM:\s+(\d+)\s+kB/m);
  return match ? Number(match[1]) * 1024 : Number.NaN;
}

/** Resident set size now (VmRSS) in bytes, or NaN if the process is gone. */
export function rssBytes(pid: number): number {
  const status = read(`/proc/${pid}/status`);
  const match = status?.match(/^VmRSS:\s+(\d+)\s+kB/m);
  return match ? Number(match[1]) * 1024 : Number.NaN;
}

/** True when this machine exposes the accounting the bench reads. */
export function procAvailable(): boolean {
  return read(`/proc/${process.pid}/stat`) !== undefined;
}
