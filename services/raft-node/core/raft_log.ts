/**
 * The in-memory Raft log of one node: the entries since the last compaction, the latest
 * snapshot, which prefix is known to be durable, and the membership in force.
 *
 * @module
 */
import { decodeConfState, EMPTY_CONF } from "./conf_state.ts";
import {
  type ConfState,
  type Entry,
  EntryType,
  type PersistedState,
  type Snapshot,
} from "./types.ts";

/** The snapshot of a node that has none: index 0, term 0, no members. */
const NO_SNAPSHOT: Snapshot = Object.freeze({
  index: 0,
  term: 0,
  conf: EMPTY_CONF,
  data: new Uint8Array(),
});

/** Bytes an entry counts for in flow control and batching. */
export function entryBytes(entry: Entry): number {
  return entry.data.length + 24;
}

/**
 * The log as an array with a moving head, so that appending is amortized O(1) and compaction
 * never copies the whole log on every call.
 *
 * Invariants (checked by `assertInvariants()` in tests and the simulator):
 * - `prevIndex <= snapshot.index <= lastIndex`, and the term of `prevIndex` is known;
 * - entries are contiguous from `prevIndex + 1` to `lastIndex` and their terms never decrease;
 * - `stableIndex <= lastIndex`: entries up to `stableIndex` are durable, the rest are not yet;
 * - `conf` is the latest config entry after the snapshot, else the snapshot's membership.
 */
export class RaftLog {
  #buf: Entry[] = [];
  #head = 0;
  /** The index before the first entry in memory, and its term. */
  #prevIndex = 0;
  #prevTerm = 0;
  #snapshot: Snapshot = NO_SNAPSHOT;
  /** A snapshot received from a leader that the application has not yet persisted. */
  #pendingSnapshot: Snapshot | undefined;
  #stableIndex = 0;
  /** Config entries in memory after the snapshot, in index order. */
  #confs: { index: number; conf: ConfState }[] = [];

  /** Restores the log from what storage holds. */
  constructor(storage?: PersistedState) {
    if (storage === undefined) return;
    const snapshot = storage.snapshot ?? NO_SNAPSHOT;
    this.#snapshot = snapshot;
    this.#prevIndex = snapshot.index;
    this.#prevTerm = snapshot.term;
    let entries = storage.entries;
    const first = entries[0];
    if (first !== undefined && first.index > snapshot.index + 1) {
      throw new Error(
        `Invalid stored log starting at ${first.index}: expected it to start at or before ${
          snapshot.index + 1
        }, the index after the snapshot`,
      );
    }
    const last = entries[entries.length - 1];
    if (first !== undefined && last !== undefined && last.index > snapshot.index) {
      const atSnapshot = entries[snapshot.index - first.index];
      if (atSnapshot !== undefined && atSnapshot.term !== snapshot.term) {
        throw new Error(
          `Invalid stored log: entry ${snapshot.index} has term ${atSnapshot.term}, expected the snapshot's term ${snapshot.term}`,
        );
      }
      if (first.index <= snapshot.index && first.index > 0) {
        // Entries retained before the snapshot: keep them, but the first one only serves as
        // the known (index, term) before the log, since the term before it is unknown.
        this.#prevIndex = first.index;
        this.#prevTerm = first.term;
        entries = entries.slice(1);
      }
      for (const entry of entries) this.#push(entry);
    }
    this.#stableIndex = this.lastIndex;
  }

  /** The first index held in memory (may be above `lastIndex` when the log is empty). */
  get firstIndex(): number {
    return this.#prevIndex + 1;
  }

  /** The index of the last entry, or the snapshot index when no entry follows it. */
  get lastIndex(): number {
    return this.#prevIndex + this.#buf.length - this.#head;
  }

  /** The term of the last entry (or of the snapshot). */
  get lastTerm(): number {
    return this.termAt(this.lastIndex)!;
  }

  /** The latest snapshot (index 0 when there is none). */
  get snapshot(): Snapshot {
    return this.#snapshot;
  }

  /** A snapshot received from the leader that still has to be handed out for persisting. */
  get pendingSnapshot(): Snapshot | undefined {
    return this.#pendingSnapshot;
  }

  /** Entries up to this index are durable. */
  get stableIndex(): number {
    return this.#stableIndex;
  }

  /** The membership in force (the latest config entry, committed or not). */
  get conf(): ConfState {
    return this.#confs[this.#confs.length - 1]?.conf ?? this.#snapshot.conf;
  }

  /** The index of the entry that set `conf` (the snapshot index when no entry did). */
  get confIndex(): number {
    return this.#confs[this.#confs.length - 1]?.index ?? this.#snapshot.index;
  }

  /** The membership in force at `index` (which must be at or after the snapshot). */
  confAt(index: number): ConfState {
    for (let i = this.#confs.length - 1; i >= 0; i--) {
      const c = this.#confs[i]!;
      if (c.index <= index) return c.conf;
    }
    return this.#snapshot.conf;
  }

  /** The term of the entry at `index`, or undefined when it is compacted away or beyond. */
  termAt(index: number): number | undefined {
    if (index === this.#prevIndex) return this.#prevTerm;
    if (index === this.#snapshot.index) return this.#snapshot.term;
    return this.entry(index)?.term;
  }

  /** The entry at `index` if it is in memory. */
  entry(index: number): Entry | undefined {
    if (index <= this.#prevIndex) return undefined;
    return this.#buf[this.#head + index - this.#prevIndex - 1];
  }

  /**
   * The entries from `lo` to `hi` inclusive, at most `maxBytes` of them but at least one.
   * `lo` must be in memory (`lo >= firstIndex`).
   */
  slice(lo: number, hi: number, maxBytes = Infinity): Entry[] {
    if (lo < this.firstIndex) {
      throw new Error(`Invalid log slice from ${lo}: expected at least ${this.firstIndex}`);
    }
    const start = this.#head + lo - this.#prevIndex - 1;
    const end = this.#head + Math.min(hi, this.lastIndex) - this.#prevIndex;
    if (maxBytes === Infinity) return this.#buf.slice(start, end);
    const out: Entry[] = [];
    let bytes = 0;
    for (let i = start; i < end; i++) {
      const e = this.#buf[i]!;
      bytes += entryBytes(e);
      if (out.length > 0 && bytes > maxBytes) break;
      out.push(e);
    }
    return out;
  }

  /** True when a log ending at (`index`, `term`) is at least as up-to-date as this one (§5.4.1). */
  isUpToDate(index: number, term: number): boolean {
    const lastTerm = this.lastTerm;
    return term > lastTerm || (term === lastTerm && index >= this.lastIndex);
  }

  /**
   * The largest index at most `index` whose term is at most `term`, with that term
   * (etcd-io/raft `findConflictByTerm`). Stops at the start of the log, where the term before
   * it is unknown.
   */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    let i = Math.min(index, this.lastIndex);
    for (;;) {
      const t = this.termAt(i);
      if (t === undefined) return { index: i, term: 0 };
      if (t <= term || i <= this.#prevIndex) return { index: i, term: t };
      i--;
    }
  }

  /** Appends one entry at `lastIndex + 1` (the leader's own proposals). */
  append(entry: Entry): void {
    if (entry.index !== this.lastIndex + 1 || entry.term < this.lastTerm) {
      throw new Error(
        `Invalid append of entry ${entry.index} term ${entry.term}: expected index ${
          this.lastIndex + 1
        } and term >= ${this.lastTerm}`,
      );
    }
    this.#push(entry);
  }

  /**
   * Merges entries from the leader that directly follow an index whose term the caller has
   * checked. Entries already present with the same term are kept (a stale or duplicated
   * message must never cut off newer entries); from the first conflict on, the log is
   * replaced. Entries at or before `committed` are never replaced: they are identical to the
   * leader's by Leader Completeness, and the caller guarantees it.
   */
  merge(entries: readonly Entry[], committed: number): void {
    let i = 0;
    for (; i < entries.length; i++) {
      const e = entries[i]!;
      const t = e.index <= this.#prevIndex ? e.term : this.termAt(e.index);
      if (t === undefined) break; // beyond our log
      if (t !== e.term) {
        if (e.index <= committed) {
          throw new Error(
            `Refusing to overwrite committed entry ${e.index} (term ${t}) with term ${e.term}`,
          );
        }
        this.truncateFrom(e.index);
        break;
      }
    }
    for (; i < entries.length; i++) this.#push(entries[i]!);
  }

  /** Drops every entry at or after `index` (never a committed one; the caller ensures it). */
  truncateFrom(index: number): void {
    if (index <= this.#prevIndex || index <= this.#snapshot.index) {
      throw new Error(`Invalid truncation at ${index}: expected above the snapshot`);
    }
    if (index > this.lastIndex) return;
    this.#buf.length = this.#head + index - this.#prevIndex - 1;
    if (this.#stableIndex >= index) this.#stableIndex = index - 1;
    while (this.#confs.length > 0 && this.#confs[this.#confs.length - 1]!.index >= index) {
      this.#confs.pop();
    }
  }

  /**
   * Replaces the whole log with a snapshot received from the leader; it is handed out by the
   * next Ready for persisting.
   */
  restore(snapshot: Snapshot): void {
    this.#buf = [];
    this.#head = 0;
    this.#prevIndex = snapshot.index;
    this.#prevTerm = snapshot.term;
    this.#snapshot = snapshot;
    this.#pendingSnapshot = snapshot;
    this.#confs = [];
    // Storage gets the snapshot first in the next Ready, so entries after it are what is
    // unstable from now on.
    this.#stableIndex = snapshot.index;
  }

  /**
   * Takes a snapshot at `index` with the application's `data` and drops entries up to
   * `index - retain` from memory.
   */
  compact(index: number, term: number, data: Uint8Array, retain: number): Snapshot {
    const snapshot: Snapshot = { index, term, conf: this.confAt(index), data };
    this.#snapshot = snapshot;
    this.#confs = this.#confs.filter((c) => c.index > index);
    const keepFrom = Math.max(index - Math.max(0, Math.floor(retain)), this.#prevIndex);
    if (keepFrom > this.#prevIndex) {
      const prevTerm = this.termAt(keepFrom)!;
      this.#head += keepFrom - this.#prevIndex;
      this.#prevIndex = keepFrom;
      this.#prevTerm = prevTerm;
      // Reclaim the dropped prefix once it is the larger part of the array: amortized O(1).
      if (this.#head > 1024 && this.#head * 2 > this.#buf.length) {
        this.#buf = this.#buf.slice(this.#head);
        this.#head = 0;
      }
    }
    return snapshot;
  }

  /** The entries not yet durable, starting after the pending snapshot if there is one. */
  unstableEntries(): Entry[] {
    const from = this.#stableIndex + 1;
    if (from > this.lastIndex) return [];
    return this.slice(from, this.lastIndex);
  }

  /**
   * Records that entries up to (`index`, `term`) are durable. If the log changed meanwhile
   * (a new leader truncated it), only the part that still holds that entry counts: an entry
   * with the same index and term has the same prefix (Log Matching).
   */
  stableTo(index: number, term: number): void {
    if (this.#pendingSnapshot !== undefined) return; // storage is about to be replaced
    if (index > this.#stableIndex && this.termAt(index) === term) this.#stableIndex = index;
  }

  /** Records that `snapshot` (handed out by a Ready) is durable. */
  snapshotStable(snapshot: Snapshot): void {
    if (this.#pendingSnapshot === snapshot) this.#pendingSnapshot = undefined;
  }

  /** Checks the invariants listed on the class; throws naming the first one broken. */
  assertInvariants(): void {
    const fail = (what: string) => {
      throw new Error(`RaftLog invariant broken: ${what}`);
    };
    if (this.#prevIndex > this.#snapshot.index) fail("prevIndex <= snapshot.index");
    if (this.#snapshot.index > this.lastIndex) fail("snapshot.index <= lastIndex");
    if (this.#stableIndex > this.lastIndex) fail("stableIndex <= lastIndex");
    let term = this.#prevTerm;
    for (let i = this.firstIndex; i <= this.lastIndex; i++) {
      const e = this.entry(i)!;
      if (e.index !== i) fail(`entry at position ${i} has index ${e.index}`);
      if (e.term < term) fail(`terms never decrease (entry ${i})`);
      term = e.term;
    }
  }

  #push(entry: Entry): void {
    this.#buf.push(entry);
    if (entry.type === EntryType.Config) {
      this.#confs.push({ index: entry.index, conf: decodeConfState(entry.data) });
    }
  }
}
