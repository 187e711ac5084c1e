/** Rebuilds the tagged Python values of brine-vectors.json (made by peers/python/rpyc/brine_vectors.py). */
import { readFileSync } from 'node:fs';
import {
  type BrineValue,
  Ellipsis,
  NotImplemented,
  PyComplex,
  PyFloat,
  PyFrozenSet,
  PySlice,
} from '../../src/protocols/rpyc/brine.js';

export type Tagged =
  | { t: 'none' | 'ellipsis' | 'notimplemented' }
  | { t: 'bool'; v: boolean }
  | { t: 'int' | 'str'; v: string }
  | { t: 'float' | 'complex' | 'bytes'; hex: string }
  | { t: 'tuple' | 'frozenset' | 'slice'; items: Tagged[] };

export interface Vector {
  name: string;
  hex: string;
  value: Tagged;
}

export function loadVectors(): Vector[] {
  const file = new URL('./brine-vectors.json', import.meta.url);
  return (JSON.parse(readFileSync(file, 'utf8')) as { vectors: Vector[] }).vectors;
}

/**
 * The TypeScript value brine should decode `t` into. With `exactFloats`, floats are PyFloat
 * (what load(..., {preserveFloats: true}) returns and what dumps back byte for byte).
 */
export function fromTagged(t: Tagged, exactFloats: boolean): BrineValue {
  switch (t.t) {
    case 'none':
      return null;
    case 'ellipsis':
      return Ellipsis;
    case 'notimplemented':
      return NotImplemented;
    case 'bool':
      return t.v;
    case 'int': {
      const big = BigInt(t.v);
      return Number.isSafeInteger(Number(big)) ? Number(big) : big;
    }
    case 'str':
      return t.v;
    case 'float': {
      const x = Buffer.from(t.hex, 'hex').readDoubleBE(0);
      return exactFloats ? new PyFloat(x) : x;
    }
    case 'complex': {
      const b = Buffer.from(t.hex, 'hex');
      return new PyComplex(b.readDoubleBE(0), b.readDoubleBE(8));
    }
    case 'bytes':
      return new Uint8Array(Buffer.from(t.hex, 'hex'));
    case 'tuple':
      return t.items.map((i) => fromTagged(i, exactFloats));
    case 'frozenset':
      return new PyFrozenSet(t.items.map((i) => fromTagged(i, exactFloats)));
    case 'slice': {
      const [a, b, c] = t.items.map((i) => fromTagged(i, exactFloats));
      return new PySlice(a ?? null, b ?? null, c ?? null);
    }
  }
}
