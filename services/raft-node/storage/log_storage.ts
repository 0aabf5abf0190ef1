/**
 * Stable storage of one Raft node in an append-only log file of its own (log_file.ts), the
 * `RAFT_STORAGE=log` backend: one CRC-checked record per Ready (its received snapshot,
 * entries and hard state together, so that a crash keeps a Ready whole or not at all), group
 * commit (one write and one fdatasync for every Ready written while the previous sync ran),
 * the fdatasync off the event loop, segments preallocated (zero-filled ahead of the write
 * offset, so that a group's fdatasync need not commit a file size change), and the node's own
 * snapshots in a file of their own (snapshot_file.ts), after which whole old segments are
 * deleted.
 *
 * A conflicting suffix (a follower's log overwritten by a new leader) is truncated by the
 * record that overwrites it: recovery replays records in order, and an entry at an index that
 * is stored already cuts the log there. The overwritten bytes stay in their segment until
 * compaction deletes it.
 *
 * Layout of `<RAFT_DATA_DIR>/raft-log/`: `meta.json` (format and owner), `snapshot.bin`,
 * and the segments `0000000000000001.seg`, ... Every segment begins with a record of the hard
 * state, so that deleting older segments never loses it.
 *
 * @module
 */
import { getLogger } from "@trading/shared/log";
import type { Entry, HardState, PersistedState, Ready, Snapshot } from "../core/types.ts";
import { CorruptLogError, type RecoveredRecord, SegmentedLog, syncDirectory } from "./log_file.ts";
import { decodeReadyRecord, encodeReadyRecord } from "./log_record.ts";
import { readSnapshotFile, removeIfExists, writeSnapshotFile } from "./snapshot_file.ts";
import type { NodeStorage } from "./node_storage.ts";

/** The log store's directory inside a node's data directory. */
export const LOG_DIR = "raft-log";

/** The file naming the format and the node that owns the directory. */
export const META_FILE = "meta.json";

const FORMAT = 1;

/** Default size at which a segment is closed and a new one started. */
export const DEFAULT_SEGMENT_BYTES = 16 * 1024 * 1024;

const EMPTY_HARD_STATE: HardState = Object.freeze({ term: 0, vote: "", commit: 0 });

/** Options of {@linkcode LogStorage.open}. */
export interface LogStorageOptions {
  /** The node id this directory belongs to (another node's directory is refused). */
  readonly nodeId: string;
  /** Size at which a segment is closed (default 16 MiB). */
  readonly segmentBytes?: number;
  /** Run fdatasync off the event loop (default true); see {@linkcode SegmentedLog}. */
  readonly syncOffLoop?: boolean;
  /**
   * Zeros kept written ahead of the segment's write offset (default 4 MiB, never past
   * `segmentBytes`); 0 turns preallocation off. See {@linkcode SegmentedLog}.
   */
  readonly preallocateBytes?: number;
}

/**
 * A node's log, hard state and snapshot in segment files and a snapshot file.
 *
 * Invariant: the stored entries are contiguous, from `firstIndex` to `lastIndex`, and start
 * at or before `snapshot.index + 1`.
 */
export class LogStorage implements NodeStorage {
  readonly path: string;
  readonly #log: SegmentedLog;
  readonly #segmentBytes: number;
  #recovered: PersistedState | undefined;
  #firstIndex = 0;
  #lastIndex = 0;
  #snapshotIndex = 0;
  /** The latest hard state handed to write. */
  #hardState: HardState;
  /** Term and vote of the last hard state appended (a change must be synced). */
  #writtenTerm: number;
  #writtenVote: string;
  /** The latest hard state only moved the commit index and is not appended yet. */
  #deferred = false;
  /** Per segment, the highest entry or snapshot index in it (0 for none). */
  #segmentMax = new Map<number, number>();
  #lastWriteMs = 0;
  #closed: Promise<void> | undefined;

  private constructor(
    path: string,
    log: SegmentedLog,
    recovered: PersistedState,
    segmentMax: Map<number, number>,
    segmentBytes: number,
  ) {
    this.path = path;
    this.#log = log;
    this.#segmentBytes = segmentBytes;
    this.#recovered = recovered;
    this.#segmentMax = segmentMax;
    this.#hardState = recovered.hardState;
    this.#writtenTerm = recovered.hardState.term;
    this.#writtenVote = recovered.hardState.vote;
    this.#firstIndex = recovered.entries[0]?.index ?? 0;
    this.#lastIndex = recovered.entries.at(-1)?.index ?? 0;
    this.#snapshotIndex = recovered.snapshot?.index ?? 0;
    this.#roll();
  }

  /**
   * Opens (creating if needed) the log store in `dataDir`/raft-log: reads and checks every
   * record, cuts a torn tail (logged), and starts a new segment. Throws when the directory
   * belongs to another node, has an unknown format, or is damaged anywhere but its tail.
   */
  static open(dataDir: string, options: LogStorageOptions): LogStorage {
    const log = getLogger(["raft", "storage"]);
    const dir = `${dataDir}/${LOG_DIR}`;
    claimDirectory(dataDir, options.nodeId);
    const stored = readSnapshotFile(dir);
    const segmentBytes = options.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
    const opened = SegmentedLog.open(dir, {
      syncOffLoop: options.syncOffLoop ?? true,
      ...(options.preallocateBytes === undefined
        ? {}
        : { preallocateBytes: options.preallocateBytes }),
      preallocateLimitBytes: segmentBytes,
    });
    if (opened.cut !== undefined) {
      const cut = opened.cut;
      log.warn(
        "cut the torn tail of the raft log: {bytes} bytes at offset {offset} of {path} ({reason})",
        {
          ...cut,
        },
      );
    }
    let recovered: ReturnType<typeof replay>;
    try {
      recovered = replay(dir, opened.records, stored?.snapshot, stored?.compactedUpTo ?? 0);
    } catch (error) {
      void opened.log.close();
      throw error;
    }
    log.info("raft log opened: {segments} segments, {records} records, entries {first}..{last}", {
      path: dir,
      segments: opened.log.segments.length,
      records: opened.records.length,
      first: recovered.state.entries[0]?.index ?? 0,
      last: recovered.state.entries.at(-1)?.index ?? 0,
      snapshot: recovered.state.snapshot?.index ?? 0,
    });
    return new LogStorage(
      dir,
      opened.log,
      recovered.state,
      recovered.segmentMax,
      segmentBytes,
    );
  }

  /** True when nothing was ever persisted: no hard state, no entries, no snapshot. */
  isEmpty(): boolean {
    return this.#hardState.term === 0 && this.#lastIndex === 0 && this.#snapshotIndex === 0;
  }

  /** The lowest stored entry index (0 when the log is empty). */
  get firstIndex(): number {
    return this.#firstIndex;
  }

  /** The highest stored entry index (0 when the log is empty). */
  get lastIndex(): number {
    return this.#lastIndex;
  }

  /** Groups written with an fdatasync since open (each holds one or more Readies). */
  get syncedWrites(): number {
    return this.#log.groups;
  }

  /** fdatasyncs of segment files since open. */
  get fsyncs(): number {
    return this.#log.fsyncs;
  }

  /** Milliseconds spent encoding and buffering the last Ready (its write and fsync run apart). */
  get lastWriteMs(): number {
    return this.#lastWriteMs;
  }

  /** The segments on disk, oldest first. */
  get segments(): readonly number[] {
    return this.#log.segments;
  }

  /** Everything a restarting node hands to the core (as it was at open). */
  load(): PersistedState {
    const state = this.#recovered;
    if (state === undefined) throw new Error("Invalid raft log use: load() after the first write");
    return state;
  }

  /**
   * Appends step 2 of a Ready as one record (durable at the next {@linkcode sync}). A Ready
   * that only moves the commit index appends nothing: a commit index is never relied on (a
   * node that loses it learns it again from the leader), so it goes with the next record, or
   * at {@linkcode close}, and costs no fsync of its own.
   */
  write(ready: Pick<Ready, "snapshot" | "entries" | "hardState">): void {
    const started = performance.now();
    this.#recovered = undefined;
    const { snapshot, entries, hardState } = ready;
    if (hardState !== undefined) this.#hardState = hardState;
    const newTermOrVote = hardState !== undefined &&
      (hardState.term !== this.#writtenTerm || hardState.vote !== this.#writtenVote);
    if (snapshot === undefined && entries.length === 0 && !newTermOrVote) {
      if (hardState !== undefined) this.#deferred = true;
      return;
    }
    let first = this.#firstIndex;
    let last = this.#lastIndex;
    if (snapshot !== undefined) {
      first = 0;
      last = 0;
    }
    if (entries.length > 0) {
      const from = entries[0]!.index;
      if (last !== 0 && from > last + 1) {
        throw new Error(
          `Invalid raft append at ${from}: expected at most ${
            last + 1
          } (the log must stay contiguous)`,
        );
      }
      if (first === 0 || from < first) first = from;
      last = entries[entries.length - 1]!.index;
    }
    const withHardState = hardState !== undefined || this.#deferred;
    this.#log.appendFramed(
      encodeReadyRecord({
        hardState: withHardState ? this.#hardState : undefined,
        snapshot,
        entries,
      }),
      true,
    );
    if (withHardState) {
      this.#deferred = false;
      this.#writtenTerm = this.#hardState.term;
      this.#writtenVote = this.#hardState.vote;
    }
    if (snapshot !== undefined) this.#snapshotIndex = snapshot.index;
    this.#firstIndex = first;
    this.#lastIndex = last;
    const segment = this.#log.appendSegment;
    const max = Math.max(snapshot?.index ?? 0, entries.at(-1)?.index ?? 0);
    if (max > (this.#segmentMax.get(segment) ?? 0)) this.#segmentMax.set(segment, max);
    if (this.#log.appendSegmentBytes >= this.#segmentBytes) this.#roll();
    this.#lastWriteMs = performance.now() - started;
  }

  /**
   * The node loop's sync point: one write and one fdatasync (off the event loop) for every
   * record appended since the last group started; `done(false)` at once when none must be
   * synced. `fail` gets a write or fsync error (the storage is unusable then).
   */
  sync(done: (synced: boolean) => void, fail: (error: unknown) => void): void {
    this.#log.sync(done, fail);
  }

  /**
   * Stores a snapshot the node took of its own state machine (durably, in the snapshot file),
   * then deletes the oldest segments whose entries are all up to `compactUpTo`.
   */
  saveSnapshot(snapshot: Snapshot, compactUpTo: number): void {
    const started = performance.now();
    const upTo = Math.min(compactUpTo, snapshot.index);
    writeSnapshotFile(this.path, { snapshot, compactedUpTo: upTo });
    if (snapshot.index > this.#snapshotIndex) this.#snapshotIndex = snapshot.index;
    if (this.#firstIndex !== 0 && upTo >= this.#firstIndex) {
      if (upTo >= this.#lastIndex) {
        this.#firstIndex = 0;
        this.#lastIndex = 0;
      } else {
        this.#firstIndex = upTo + 1;
      }
    }
    let keepFrom = this.#log.appendSegment;
    for (const segment of this.#log.segments) {
      if ((this.#segmentMax.get(segment) ?? 0) > upTo) {
        keepFrom = segment;
        break;
      }
    }
    for (const removed of this.#log.removeSegmentsBefore(keepFrom)) {
      this.#segmentMax.delete(removed);
    }
    this.#lastWriteMs = performance.now() - started;
  }

  /**
   * Appends a deferred commit index, writes and syncs what is pending (waiting for the group
   * in flight) and closes the files. Idempotent.
   */
  close(): Promise<void> {
    if (this.#closed === undefined) {
      if (this.#deferred) {
        this.#deferred = false;
        this.#log.appendFramed(
          encodeReadyRecord({ hardState: this.#hardState, snapshot: undefined, entries: [] }),
          true,
        );
      }
      this.#closed = this.#log.close();
    }
    return this.#closed;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** Starts a new segment, headed by the latest hard state. */
  #roll(): void {
    this.#log.roll(
      encodeReadyRecord({ hardState: this.#hardState, snapshot: undefined, entries: [] }),
    );
    if (this.#deferred) {
      this.#deferred = false;
      this.#writtenTerm = this.#hardState.term;
      this.#writtenVote = this.#hardState.vote;
    }
  }
}

/**
 * Checks (or writes, for a new directory) `raft-log/meta.json`: refuses another node's
 * directory and an unknown format.
 */
function claimDirectory(dataDir: string, nodeId: string): void {
  const dir = `${dataDir}/${LOG_DIR}`;
  const metaPath = `${dir}/${META_FILE}`;
  let text: string | undefined;
  try {
    text = Deno.readTextFileSync(metaPath);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  if (text === undefined) {
    Deno.mkdirSync(dir, { recursive: true });
    for (const entry of Deno.readDirSync(dir)) {
      if (entry.name.endsWith(".seg")) {
        throw new CorruptLogError(
          `Invalid raft log "${dir}": segments without ${META_FILE}; expected both or neither`,
        );
      }
    }
    const temp = `${metaPath}.tmp`;
    Deno.writeTextFileSync(temp, JSON.stringify({ format: FORMAT, nodeId }) + "\n");
    const file = Deno.openSync(temp, { read: true, write: true });
    try {
      file.syncSync();
    } finally {
      file.close();
    }
    Deno.renameSync(temp, metaPath);
    syncDirectory(dir);
    syncDirectory(dataDir);
    return;
  }
  removeIfExists(`${metaPath}.tmp`);
  let meta: { format?: unknown; nodeId?: unknown };
  try {
    meta = JSON.parse(text);
  } catch {
    throw new CorruptLogError(`Invalid raft log metadata "${metaPath}": expected JSON`);
  }
  if (meta.nodeId !== nodeId) {
    throw new Error(
      `Invalid RAFT_DATA_DIR "${dataDir}": it belongs to node "${meta.nodeId}", expected "${nodeId}"`,
    );
  }
  if (meta.format !== FORMAT) {
    throw new Error(
      `Unsupported raft log format ${meta.format} in "${metaPath}": expected ${FORMAT}`,
    );
  }
}

/** Replays the records in order over the snapshot file's snapshot: what recovery hands out. */
function replay(
  dir: string,
  records: readonly RecoveredRecord[],
  fileSnapshot: Snapshot | undefined,
  compactedUpTo: number,
): { state: PersistedState; segmentMax: Map<number, number> } {
  let hardState = EMPTY_HARD_STATE;
  let logSnapshot: Snapshot | undefined;
  let entries: Entry[] = [];
  const segmentMax = new Map<number, number>();
  for (const { segment, payload } of records) {
    let record;
    try {
      record = decodeReadyRecord(payload);
    } catch (error) {
      throw new CorruptLogError(
        `Invalid raft log record in segment ${segment} of "${dir}": ${(error as Error).message}`,
      );
    }
    let max = segmentMax.get(segment) ?? 0;
    if (record.snapshot !== undefined) {
      logSnapshot = record.snapshot;
      entries = [];
      max = Math.max(max, record.snapshot.index);
    }
    for (const entry of record.entries) {
      const start = entries[0]?.index ?? entry.index;
      if (entry.index < start) entries.length = 0;
      else if (entry.index - start < entries.length) entries.length = entry.index - start;
      const last = entries.at(-1);
      if (last !== undefined && last.index + 1 !== entry.index) {
        throw new CorruptLogError(
          `Invalid raft log in "${dir}": entry ${entry.index} after entry ${last.index} (segment ${segment})`,
        );
      }
      entries.push(entry);
      if (entry.index > max) max = entry.index;
    }
    segmentMax.set(segment, max);
    if (record.hardState !== undefined) hardState = record.hardState;
  }
  let snapshot = logSnapshot;
  if (fileSnapshot !== undefined && fileSnapshot.index >= (logSnapshot?.index ?? 0)) {
    snapshot = fileSnapshot;
  }
  if (compactedUpTo > 0 && (entries[0]?.index ?? Infinity) <= compactedUpTo) {
    entries = entries.filter((entry) => entry.index > compactedUpTo);
  }
  if (snapshot !== undefined && entries.length > 0 && entries[0]!.index > snapshot.index + 1) {
    throw new CorruptLogError(
      `Invalid raft log in "${dir}": entries start at ${entries[0]!.index}, expected at most ${
        snapshot.index + 1
      } after the snapshot`,
    );
  }
  return { state: { hardState, snapshot, entries }, segmentMax };
}
