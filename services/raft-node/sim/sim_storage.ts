/**
 * The disk under one simulated raft-node, with the crash semantics of the service's log
 * storage (storage/log_storage.ts, `RAFT_STORAGE=log`): a write appends one checksummed
 * record (a Ready's snapshot, entries and hard state together), and a sync makes every record
 * appended before it durable. A crash keeps the durable records and, of the rest, what the
 * page cache happened to write back: nothing, or the bytes up to some point, where the last
 * record may be torn; recovery cuts the log at the first torn record. So what was not synced
 * may be lost, wholly or from any record on, and never half a record survives.
 *
 * As in the service: a Ready that only moves the commit index appends no record (its hard
 * state goes with the next record, so a crash may lose it), and a sync with nothing to make
 * durable answers at once; the node's own snapshot (a compaction) is durable at once, as the
 * snapshot file is written with its own fsync and rename.
 *
 * One record per Ready, not one per entry: a Ready must reach the disk whole or not at all.
 * Cut between its entries and its hard state, a node restarted with entries of a term above
 * its own (found by this simulator with per-entry records: the core's invariant "last log
 * term <= term" broke).
 *
 * @module
 */
import type { Entry, HardState, PersistedState, Ready, Snapshot } from "../core/types.ts";
import type { LoopStorage } from "../node_loop.ts";

/** One record of the log file. */
type DiskRecord =
  /**
   * Step 2 of a Ready: the snapshot (replaces the whole log), the entries (each truncates the
   * log from its index, a conflicting suffix, then is appended), the hard state.
   */
  | {
    readonly kind: "ready";
    readonly snapshot: Snapshot | undefined;
    readonly entries: readonly Entry[];
    readonly hardState: HardState | undefined;
  }
  /** The node's own snapshot: stored, then the entries up to `upTo` are dropped. */
  | { readonly kind: "compaction"; readonly snapshot: Snapshot; readonly upTo: number };

interface Appended {
  readonly record: DiskRecord;
  /** Its size in the file (header included), for where a crash tears the tail. */
  readonly bytes: number;
}

/** Record header: length, checksum, kind. */
const HEADER_BYTES = 12;

/** What the simulation does for the disk: fsync timing, and the checker's view. */
export interface SimDiskHooks {
  /**
   * Starts an fsync of `bytes` unsynced bytes, whose first entry (if any) is at
   * `firstEntryIndex`; calls `complete` when it is done, unless the process died first.
   */
  startSync(bytes: number, firstEntryIndex: number | undefined, complete: () => void): void;
  /** A hard state became durable: by a sync, or by surviving a crash in the written-back tail. */
  hardStateDurable(hardState: HardState): void;
}

/** What a crash did to the unsynced tail of the log. */
export interface CrashDamage {
  /** Unsynced records before the crash. */
  readonly unsynced: number;
  /** Of those, written back whole (now durable). */
  readonly survived: number;
  /** Whether a record was cut in the middle (and the log cut before it at recovery). */
  readonly torn: boolean;
}

/** The log file of one simulated node. */
export class SimStorage implements LoopStorage {
  readonly #hooks: SimDiskHooks;
  /** The durable records, replayed: what recovery reads. */
  #hardState: HardState = { term: 0, vote: "", commit: 0 };
  #snapshot: Snapshot | undefined;
  #entries: Entry[] = [];
  /** Appended and not synced yet, in file order. */
  #tail: Appended[] = [];
  #tailBytes = 0;
  /** The latest hard state written; `deferred` when no record holds it yet. */
  #latestHardState: HardState | undefined;
  #deferred = false;
  /** Term and vote of the last hard state appended (a change is a record of its own). */
  #appendedTerm = 0;
  #appendedVote = "";

  /** An empty disk. */
  constructor(hooks: SimDiskHooks) {
    this.#hooks = hooks;
  }

  /** True when records were appended since the last sync began. */
  get hasUnsynced(): boolean {
    return this.#tail.length > 0;
  }

  /** Bytes appended and not synced. */
  get unsyncedBytes(): number {
    return this.#tailBytes;
  }

  /** The durable entries (for the checker: what a crash leaves). */
  get durableEntries(): readonly Entry[] {
    return this.#entries;
  }

  /** The index of the durable snapshot, 0 without one. */
  get durableSnapshotIndex(): number {
    return this.#snapshot?.index ?? 0;
  }

  /** True when nothing was ever made durable. */
  get isEmpty(): boolean {
    return this.#hardState.term === 0 && this.#entries.length === 0 &&
      this.#snapshot === undefined;
  }

  write(ready: Pick<Ready, "snapshot" | "entries" | "hardState">): void {
    const { snapshot, entries } = ready;
    if (ready.hardState !== undefined) this.#latestHardState = ready.hardState;
    const newTermOrVote = ready.hardState !== undefined &&
      (ready.hardState.term !== this.#appendedTerm || ready.hardState.vote !== this.#appendedVote);
    if (snapshot === undefined && entries.length === 0 && !newTermOrVote) {
      if (ready.hardState !== undefined) this.#deferred = true;
      return;
    }
    const hardState = ready.hardState !== undefined || this.#deferred
      ? this.#latestHardState
      : undefined;
    this.#deferred = false;
    if (hardState !== undefined) {
      this.#appendedTerm = hardState.term;
      this.#appendedVote = hardState.vote;
    }
    let bytes = (snapshot?.data.length ?? 0) + (hardState === undefined ? 0 : 16);
    for (const entry of entries) bytes += 16 + entry.data.length;
    this.#append({ kind: "ready", snapshot, entries, hardState }, bytes);
  }

  sync(done: (synced: boolean) => void): void {
    const count = this.#tail.length;
    if (count === 0) return done(false);
    const bytes = this.#tailBytes;
    let firstEntryIndex: number | undefined;
    for (let i = 0; i < count && firstEntryIndex === undefined; i++) {
      const record = this.#tail[i]!.record;
      if (record.kind === "ready") firstEntryIndex = record.entries[0]?.index;
    }
    this.#hooks.startSync(bytes, firstEntryIndex, () => {
      const synced = this.#tail.splice(0, count);
      for (const appended of synced) {
        this.#tailBytes -= appended.bytes;
        this.#replay(appended.record);
      }
      done(count > 0);
    });
  }

  saveSnapshot(snapshot: Snapshot, compactUpTo: number): void {
    // Durable before it returns (the snapshot file's fsync and rename); the node takes it
    // only once its Ready is synced, so nothing of the log is unsynced meanwhile.
    if (this.#tail.length > 0) {
      throw new Error(`Invalid snapshot save: ${this.#tail.length} records not synced`);
    }
    this.#replay({ kind: "compaction", snapshot, upTo: compactUpTo });
  }

  /**
   * The process died: the first `writtenBack` bytes of the unsynced tail reached the disk,
   * the rest is lost; a record cut in the middle is torn, and recovery cuts the log there.
   */
  crash(writtenBack: number): CrashDamage {
    const unsynced = this.#tail.length;
    let offset = 0;
    let survived = 0;
    let torn = false;
    for (const appended of this.#tail) {
      if (offset + appended.bytes > writtenBack) {
        torn = writtenBack > offset;
        break;
      }
      offset += appended.bytes;
      survived++;
      this.#replay(appended.record);
    }
    this.#tail = [];
    this.#tailBytes = 0;
    this.#deferred = false;
    this.#latestHardState = this.#hardState;
    this.#appendedTerm = this.#hardState.term;
    this.#appendedVote = this.#hardState.vote;
    return { unsynced, survived, torn };
  }

  /** What a (re)starting node reads from the disk. */
  recover(): PersistedState {
    if (this.#tail.length > 0) {
      throw new Error(
        `Invalid recovery: ${this.#tail.length} records not synced, expected a crash first`,
      );
    }
    return { hardState: this.#hardState, snapshot: this.#snapshot, entries: [...this.#entries] };
  }

  #append(record: DiskRecord, payloadBytes: number): void {
    const bytes = HEADER_BYTES + 16 + payloadBytes;
    this.#tail.push({ record, bytes });
    this.#tailBytes += bytes;
  }

  /** Applies one durable record to the recovered state, as recovery replays the file. */
  #replay(record: DiskRecord): void {
    if (record.kind === "compaction") {
      this.#snapshot = record.snapshot;
      this.#entries = this.#entries.filter((e) => e.index > record.upTo);
      return;
    }
    if (record.snapshot !== undefined) {
      this.#snapshot = record.snapshot;
      this.#entries = [];
    }
    for (const entry of record.entries) {
      const start = this.#entries[0]?.index ?? entry.index;
      if (entry.index < start) this.#entries = [];
      else this.#entries.length = Math.min(this.#entries.length, entry.index - start);
      const last = this.#entries[this.#entries.length - 1];
      if (last !== undefined && last.index + 1 !== entry.index) {
        throw new Error(
          `Invalid log record: entry ${entry.index} after stored entry ${last.index}`,
        );
      }
      this.#entries.push(entry);
    }
    if (record.hardState !== undefined) {
      this.#hardState = record.hardState;
      this.#hooks.hardStateDurable(record.hardState);
    }
  }
}
