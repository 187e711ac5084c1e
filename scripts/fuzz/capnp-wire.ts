/**
 * Cap'n Proto messages as the fuzzer edits them: segments and raw 64-bit pointers, below
 * capnp-es (which would refuse or repair what the mutations are there to produce).
 *
 * A pointer word, as two little-endian u32 halves (lo, hi):
 *   struct (lo & 3 = 0): offset = lo >> 2 (signed, words after the pointer), hi = data words | pointers << 16
 *   list   (1): offset as struct, hi = element size (3 bits) | count << 3
 *   far    (2): lo = 2 | double-far flag << 2 | landing-pad word << 3, hi = segment id
 *   other  (3): a capability when lo = 3, hi = its cap-table index
 */

export interface RawMessage {
  segments: Buffer[];
}

/** Splits a framed message (segment table first) into its segments; undefined if it does not frame. */
export function parseFrame(frame: Buffer): RawMessage | undefined {
  if (frame.length < 8) return undefined;
  const count = frame.readUInt32LE(0) + 1;
  if (count > 4096) return undefined;
  const headerBytes = 4 + 4 * count + (count % 2 === 0 ? 4 : 0);
  if (frame.length < headerBytes) return undefined;
  const segments: Buffer[] = [];
  let at = headerBytes;
  for (let i = 0; i < count; i++) {
    const bytes = frame.readUInt32LE(4 + 4 * i) * 8;
    if (at + bytes > frame.length) return undefined;
    segments.push(Buffer.from(frame.subarray(at, at + bytes)));
    at += bytes;
  }
  return { segments };
}

export interface HeaderLie {
  /** Segment count written (minus one is what goes on the wire); default the real count. */
  count?: number;
  /** Per-segment sizes in words written instead of the real ones. */
  sizes?: Map<number, number>;
  /** Leave out the padding word an even segment count needs. */
  noPadding?: boolean;
}

/** The framed bytes of `m`, with the header optionally lying about it. */
export function frameOf(m: RawMessage, lie: HeaderLie = {}): Buffer {
  const count = lie.count ?? m.segments.length;
  // A lying count still writes as many size words as it claims, up to what is sane to write.
  const written = Math.min(count, 4096);
  const sizeWords = Math.max(written, m.segments.length);
  const padded = !lie.noPadding && sizeWords % 2 === 0;
  const header = Buffer.alloc(4 + 4 * sizeWords + (padded ? 4 : 0));
  header.writeUInt32LE((count - 1) >>> 0, 0);
  for (let i = 0; i < sizeWords; i++) {
    const real = i < m.segments.length ? m.segments[i]!.length / 8 : 0;
    header.writeUInt32LE((lie.sizes?.get(i) ?? real) >>> 0, 4 + 4 * i);
  }
  return Buffer.concat([header, ...m.segments]);
}

export function cloneMessage(m: RawMessage): RawMessage {
  return { segments: m.segments.map((s) => Buffer.from(s)) };
}

export interface PointerRef {
  readonly seg: number;
  readonly word: number;
  readonly depth: number;
}

function words(m: RawMessage, seg: number): number {
  const s = m.segments[seg];
  return s === undefined ? 0 : s.length / 8;
}

/** Every pointer reachable from the root (bounded), where it lives. */
export function pointers(m: RawMessage, limit = 4096): PointerRef[] {
  const out: PointerRef[] = [];
  const seen = new Set<string>();
  const stack: PointerRef[] = [{ seg: 0, word: 0, depth: 0 }];
  const visitContent = (seg: number, start: number, lo: number, hi: number, depth: number) => {
    const type = lo & 3;
    if (type === 0) {
      const data = hi & 0xffff;
      const ptrs = hi >>> 16;
      for (let i = Math.min(ptrs, 64) - 1; i >= 0; i--) stack.push({ seg, word: start + data + i, depth });
    } else if (type === 1) {
      const size = hi & 7;
      const count = hi >>> 3;
      if (size === 6) {
        for (let i = Math.min(count, 256) - 1; i >= 0; i--) stack.push({ seg, word: start + i, depth });
      } else if (size === 7 && start >= 0 && start < words(m, seg)) {
        const tagLo = m.segments[seg]!.readUInt32LE(start * 8);
        const tagHi = m.segments[seg]!.readUInt32LE(start * 8 + 4);
        const n = Math.min(tagLo >>> 2, 64);
        const data = tagHi & 0xffff;
        const ptrs = tagHi >>> 16;
        for (let e = 0; e < n; e++) {
          const base = start + 1 + e * (data + ptrs);
          for (let i = 0; i < Math.min(ptrs, 16); i++) stack.push({ seg, word: base + data + i, depth });
        }
      }
    }
  };
  while (stack.length > 0 && out.length < limit) {
    const ref = stack.pop()!;
    if (ref.depth > 80 || ref.word < 0 || ref.word >= words(m, ref.seg)) continue;
    const key = `${ref.seg}:${ref.word}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(ref);
    const s = m.segments[ref.seg]!;
    const lo = s.readUInt32LE(ref.word * 8);
    const hi = s.readUInt32LE(ref.word * 8 + 4);
    if (lo === 0 && hi === 0) continue;
    const type = lo & 3;
    if (type === 2) {
      const pad = lo >>> 3;
      if ((lo & 4) === 0) stack.push({ seg: hi, word: pad, depth: ref.depth + 1 });
      else if (pad + 1 < words(m, hi)) {
        const ps = m.segments[hi]!;
        const farLo = ps.readUInt32LE(pad * 8);
        const farHi = ps.readUInt32LE(pad * 8 + 4);
        const tagLo = ps.readUInt32LE(pad * 8 + 8);
        const tagHi = ps.readUInt32LE(pad * 8 + 12);
        if ((farLo & 3) === 2) visitContent(farHi, farLo >>> 3, tagLo, tagHi, ref.depth + 1);
      }
    } else if (type !== 3) {
      visitContent(ref.seg, ref.word + 1 + (lo >> 2), lo, hi, ref.depth + 1);
    }
  }
  return out;
}

export function readPointer(m: RawMessage, ref: PointerRef): { lo: number; hi: number } {
  const s = m.segments[ref.seg]!;
  return { lo: s.readUInt32LE(ref.word * 8), hi: s.readUInt32LE(ref.word * 8 + 4) };
}

export function writePointer(m: RawMessage, ref: PointerRef, lo: number, hi: number): void {
  const s = m.segments[ref.seg]!;
  s.writeUInt32LE(lo >>> 0, ref.word * 8);
  s.writeUInt32LE(hi >>> 0, ref.word * 8 + 4);
}

/** A struct or list pointer's `lo` with another word offset (kept to 30 signed bits). */
export function withOffset(lo: number, offset: number): number {
  return (((offset & 0x3fffffff) << 2) | (lo & 3)) >>> 0;
}

export function farPointer(seg: number, pad: number, double: boolean): { lo: number; hi: number } {
  return { lo: (((pad & 0x1fffffff) << 3) | (double ? 4 : 0) | 2) >>> 0, hi: seg >>> 0 };
}

/** Appends a segment; returns its id. */
export function appendSegment(m: RawMessage, content: Buffer): number {
  m.segments.push(content);
  return m.segments.length - 1;
}

/**
 * Moves a struct or list pointer behind a double-far pointer: a new segment holds the landing
 * pad (a far pointer to the content, then a tag), the original word becomes a far pointer to
 * it. The message still means the same; only its shape changes.
 */
export function doubleFar(m: RawMessage, ref: PointerRef): boolean {
  const { lo, hi } = readPointer(m, ref);
  const type = lo & 3;
  if ((lo === 0 && hi === 0) || type > 1) return false;
  const target = ref.word + 1 + (lo >> 2);
  const pad = Buffer.alloc(16);
  const far = farPointer(ref.seg, target, false);
  pad.writeUInt32LE(far.lo, 0);
  pad.writeUInt32LE(far.hi, 4);
  pad.writeUInt32LE(type, 8); // tag: offset 0
  pad.writeUInt32LE(hi, 12);
  const seg = appendSegment(m, pad);
  const to = farPointer(seg, 0, true);
  writePointer(m, ref, to.lo, to.hi);
  return true;
}

/** The same through a single far pointer: the landing pad is appended to the content's segment. */
export function singleFar(m: RawMessage, ref: PointerRef): boolean {
  const { lo, hi } = readPointer(m, ref);
  const type = lo & 3;
  if ((lo === 0 && hi === 0) || type > 1) return false;
  const target = ref.word + 1 + (lo >> 2);
  const padWord = words(m, ref.seg);
  const pad = Buffer.alloc(8);
  pad.writeUInt32LE(withOffset(lo, target - (padWord + 1)), 0);
  pad.writeUInt32LE(hi, 4);
  m.segments[ref.seg] = Buffer.concat([m.segments[ref.seg]!, pad]);
  const to = farPointer(ref.seg, padWord, false);
  writePointer(m, ref, to.lo, to.hi);
  return true;
}

/**
 * Points `ref` at a chain of `depth` structs (no data, one pointer each) in a new segment,
 * through a single far pointer whose landing pad is the chain's first pointer.
 */
export function deepChain(m: RawMessage, ref: PointerRef, depth: number, listOfLists = false): void {
  const seg = Buffer.alloc((depth + 1) * 8);
  for (let i = 0; i < depth; i++) {
    // Each word points at the next (offset 0): a struct of 0 data words and 1 pointer, or a
    // list of one pointer.
    seg.writeUInt32LE(listOfLists ? 1 : 0, i * 8);
    seg.writeUInt32LE(listOfLists ? 6 | (1 << 3) : 1 << 16, i * 8 + 4);
  }
  const id = appendSegment(m, seg);
  const to = farPointer(id, 0, false);
  writePointer(m, ref, to.lo, to.hi);
}
