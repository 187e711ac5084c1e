/**
 * Hot spots from a V8 CPU profile (node --cpu-prof): self time per function, summed over the
 * profile's samples. Used where one of our servers spends more CPU per call than its Python peer.
 */
import { readFileSync } from 'node:fs';
import type { Hotspot } from './results.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Keeps the readable tail of a location: from src/ or node_modules/ on, or node: builtins. */
function shortLocation(url: string, line: number): string {
  if (url === '') return '';
  const clean = url.replace(/^file:\/\//, '');
  const lib = clean.lastIndexOf('node_modules/');
  const at = lib >= 0 ? lib : clean.indexOf('/src/') + 1;
  const tail = at > 0 ? clean.slice(at) : clean;
  return `${tail}:${line + 1}`;
}

export function hotspots(profileFile: string, top = 12): Hotspot[] {
  const profile = JSON.parse(readFileSync(profileFile, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<string, { functionName: string; location: string; us: number }>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const node = byId.get(id);
    const delta = profile.timeDeltas[i] ?? 0;
    if (node === undefined) return;
    const fn = node.callFrame.functionName || '(anonymous)';
    // Idle time is the server waiting for the next request: not a cost of serving one.
    if (fn === '(idle)' || fn === '(root)') return;
    total += delta;
    const location = shortLocation(node.callFrame.url, node.callFrame.lineNumber);
    const key = `${fn}@${location}`;
    const entry = selfUs.get(key) ?? { functionName: fn, location, us: 0 };
    entry.us += delta;
    selfUs.set(key, entry);
  });
  return [...selfUs.values()]
    .sort((a, b) => b.us - a.us)
    .slice(0, top)
    .map((e) => ({
      functionName: e.functionName,
      location: e.location,
      selfMs: e.us / 1000,
      selfPercent: total > 0 ? (100 * e.us) / total : 0,
    }));
}
