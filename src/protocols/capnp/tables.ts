/**
 * The four tables of a Cap'n Proto connection (rpc.capnp, "Terminology"): each side numbers
 * its own questions and exports, and the peer's questions and exports are our answers and
 * imports, keyed by the peer's numbers. IDs we allocate are reused smallest-first once freed,
 * as the spec asks ("the ID should be reused"), so a long session's IDs stay small and the
 * tables stay as large as what is in use, never as large as what was ever used.
 */
import { ProtocolError } from '../../contract/errors.js';

/** A table whose IDs this side allocates (questions, exports). */
export class IdTable<T> {
  private readonly entries = new Map<number, T>();
  private readonly free: number[] = [];
  private next = 0;

  get size(): number {
    return this.entries.size;
  }

  add(entry: T): number {
    let id: number;
    if (this.free.length > 0) {
      // Smallest free ID first: a heap would be faster, but the free list is tiny in practice.
      let at = 0;
      for (let i = 1; i < this.free.length; i++) if (this.free[i]! < this.free[at]!) at = i;
      id = this.free[at]!;
      this.free[at] = this.free[this.free.length - 1]!;
      this.free.pop();
    } else {
      if (this.next > 0xffffffff) throw new ProtocolError('ID space exhausted');
      id = this.next++;
    }
    this.entries.set(id, entry);
    return id;
  }

  get(id: number): T | undefined {
    return this.entries.get(id);
  }

  delete(id: number): boolean {
    if (!this.entries.delete(id)) return false;
    this.free.push(id);
    return true;
  }

  values(): IterableIterator<T> {
    return this.entries.values();
  }

  entriesList(): [number, T][] {
    return [...this.entries];
  }

  clear(): void {
    this.entries.clear();
    this.free.length = 0;
    this.next = 0;
  }
}

/** A table keyed by the peer's IDs (answers, imports): a duplicate ID is the peer's error. */
export class PeerTable<T> {
  private readonly entries = new Map<number, T>();

  get size(): number {
    return this.entries.size;
  }

  get(id: number): T | undefined {
    return this.entries.get(id);
  }

  has(id: number): boolean {
    return this.entries.has(id);
  }

  set(id: number, entry: T): void {
    this.entries.set(id, entry);
  }

  /** Adds a new entry; an ID already in use is a protocol error (connection aborted). */
  add(id: number, entry: T, what: string): void {
    if (this.entries.has(id)) throw new ProtocolError(`${what} ${id} is already in use`);
    this.entries.set(id, entry);
  }

  delete(id: number): boolean {
    return this.entries.delete(id);
  }

  values(): IterableIterator<T> {
    return this.entries.values();
  }

  entriesList(): [number, T][] {
    return [...this.entries];
  }

  clear(): void {
    this.entries.clear();
  }
}
