/**
 * Stable storage of one Raft node in SQLite (`node:sqlite`): the log, the hard state and the
 * snapshot, written exactly as the core's Ready contract asks (types.ts, `Ready`): one Ready
 * is one transaction, committed with `synchronous=FULL` before any message of that Ready
 * that relies on it is sent, so nothing is acknowledged or voted before it is durable.
 *
 * @module
 */
import { DatabaseSync, type StatementSync } from "node:sqlite";
import { decodeConfState, encodeConfState } from "../core/conf_state.ts";
import type {
  Entry,
  EntryType,
  HardState,
  PersistedState,
  Ready,
  Snapshot,
} from "../core/types.ts";
import type { NodeStorage } from "./node_storage.ts";

/** The file name of the database inside the node's data directory. */
export const DATABASE_FILE = "raft.db";

const SCHEMA_VERSION = 1;

/** See {@linkcode RaftStorageOptions.commitWriteIntervalMs}. */
const DEFAULT_COMMIT_WRITE_INTERVAL_MS = 100;

const EMPTY_HARD_STATE: HardState = Object.freeze({ term: 0, vote: "", commit: 0 });

/** Options of {@linkcode RaftStorage.open}. */
export interface RaftStorageOptions {
  /**
   * The node id this directory belongs to. Opening another node's directory is refused:
   * two nodes sharing a log would break Raft's safety silently.
   */
  nodeId: string;
  /** `synchronous=FULL` (default, durable) or `OFF` (tests of other things only). */
  durable?: boolean;
  /**
   * The least time between two writes of a commit index that moved alone (default 100 ms;
   * 0 writes it with every transaction). See {@linkcode RaftStorage.persist}.
   */
  commitWriteIntervalMs?: number;
}

/** How long the last writes took, for metrics. */
export interface WriteTiming {
  /** Milliseconds spent in the last transaction, commit (fsync) included. */
  readonly lastWriteMs: number;
}

/**
 * A node's log, hard state and snapshot in one SQLite database in WAL mode.
 *
 * Invariant: the stored entries are contiguous, from `firstIndex` to `lastIndex`, and start
 * at or before `snapshot.index + 1` (never after it).
 */
export class RaftStorage implements NodeStorage, WriteTiming {
  readonly path: string;
  #db: DatabaseSync;
  #insertEntry: StatementSync;
  #deleteFrom: StatementSync;
  #deleteUpTo: StatementSync;
  #deleteAll: StatementSync;
  #putHardState: StatementSync;
  #putSnapshot: StatementSync;
  #firstIndex = 0;
  #lastIndex = 0;
  #lastWriteMs = 0;
  #durable: boolean;
  /** Term and vote of the last hard state written (a change must be synced). */
  #writtenTerm = 0;
  #writtenVote = "";
  /** A hard state that only moved the commit index, to write with a later transaction. */
  #deferredHardState: HardState | undefined;
  #commitWriteIntervalMs: number;
  /** When a hard state was last written (performance.now()). */
  #hardStateWrittenAt = -Infinity;
  #syncedWrites = 0;
  /** The Ready handed to {@linkcode write}, committed at the next {@linkcode sync}. */
  #written: Pick<Ready, "snapshot" | "entries" | "hardState"> | undefined;
  #closed = false;

  private constructor(
    path: string,
    db: DatabaseSync,
    durable: boolean,
    commitWriteIntervalMs: number,
  ) {
    this.path = path;
    this.#db = db;
    this.#durable = durable;
    this.#commitWriteIntervalMs = commitWriteIntervalMs;
    this.#insertEntry = db.prepare(
      "INSERT INTO entries (idx, term, type, data) VALUES (?, ?, ?, ?)",
    );
    this.#deleteFrom = db.prepare("DELETE FROM entries WHERE idx >= ?");
    this.#deleteUpTo = db.prepare("DELETE FROM entries WHERE idx <= ?");
    this.#deleteAll = db.prepare("DELETE FROM entries");
    this.#putHardState = db.prepare(
      "INSERT OR REPLACE INTO hard_state (id, term, vote, commit_index) VALUES (1, ?, ?, ?)",
    );
    this.#putSnapshot = db.prepare(
      "INSERT OR REPLACE INTO snapshot (id, idx, term, conf, data) VALUES (1, ?, ?, ?, ?)",
    );
    const bounds = db.prepare("SELECT MIN(idx) AS first, MAX(idx) AS last FROM entries").get() as
      | { first: number | null; last: number | null }
      | undefined;
    this.#firstIndex = bounds?.first ?? 0;
    this.#lastIndex = bounds?.last ?? 0;
    const hs = db.prepare("SELECT term, vote FROM hard_state WHERE id = 1").get() as
      | { term: number; vote: string }
      | undefined;
    this.#writtenTerm = hs?.term ?? 0;
    this.#writtenVote = hs?.vote ?? "";
  }

  /**
   * Opens (creating if needed) the storage in `dir`. Throws when the directory belongs to
   * another node or was written by an unknown schema version.
   */
  static open(dir: string, options: RaftStorageOptions): RaftStorage {
    Deno.mkdirSync(dir, { recursive: true });
    const path = `${dir}/${DATABASE_FILE}`;
    const db = new DatabaseSync(path);
    try {
      // One process owns a node's database: exclusive locking, set before the WAL is first
      // used, keeps the WAL index in the process's memory instead of a shared-memory file and
      // takes the file locks once instead of six fcntl() calls per transaction (strace).
      db.exec("PRAGMA locking_mode=EXCLUSIVE");
      // WAL: a commit appends to the log file and fsyncs it once (synchronous=FULL), which
      // is the cheapest durable commit SQLite offers.
      db.exec("PRAGMA journal_mode=WAL");
      db.exec(`PRAGMA synchronous=${options.durable === false ? "OFF" : "FULL"}`);
      db.exec(`
        CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS entries (
          idx INTEGER PRIMARY KEY, term INTEGER NOT NULL, type INTEGER NOT NULL, data BLOB NOT NULL);
        CREATE TABLE IF NOT EXISTS hard_state (
          id INTEGER PRIMARY KEY CHECK (id = 1),
          term INTEGER NOT NULL, vote TEXT NOT NULL, commit_index INTEGER NOT NULL);
        CREATE TABLE IF NOT EXISTS snapshot (
          id INTEGER PRIMARY KEY CHECK (id = 1),
          idx INTEGER NOT NULL, term INTEGER NOT NULL, conf BLOB NOT NULL, data BLOB NOT NULL);
      `);
      const meta = (key: string) =>
        (db.prepare("SELECT value FROM meta WHERE key = ?").get(key) as
          | { value: string }
          | undefined)
          ?.value;
      const owner = meta("node_id");
      if (owner === undefined) {
        db.prepare("INSERT INTO meta (key, value) VALUES ('node_id', ?), ('schema', ?)")
          .run(options.nodeId, String(SCHEMA_VERSION));
      } else if (owner !== options.nodeId) {
        throw new Error(
          `Invalid RAFT_DATA_DIR "${dir}": it belongs to node "${owner}", expected "${options.nodeId}"`,
        );
      } else if (meta("schema") !== String(SCHEMA_VERSION)) {
        throw new Error(
          `Unsupported raft storage schema ${
            meta("schema")
          } in "${path}": expected ${SCHEMA_VERSION}`,
        );
      }
    } catch (error) {
      db.close();
      throw error;
    }
    return new RaftStorage(
      path,
      db,
      options.durable !== false,
      options.commitWriteIntervalMs ?? DEFAULT_COMMIT_WRITE_INTERVAL_MS,
    );
  }

  /** True when nothing was ever persisted: no hard state, no entries, no snapshot. */
  isEmpty(): boolean {
    const row = this.#db.prepare(
      "SELECT (SELECT COUNT(*) FROM hard_state) + (SELECT COUNT(*) FROM snapshot) + (SELECT COUNT(*) FROM entries) AS n",
    ).get() as { n: number };
    return row.n === 0;
  }

  /** The lowest stored entry index (0 when the log is empty). */
  get firstIndex(): number {
    return this.#firstIndex;
  }

  /** The highest stored entry index (0 when the log is empty). */
  get lastIndex(): number {
    return this.#lastIndex;
  }

  /** Transactions committed with fsync since open (a commit-only Ready has none). */
  get syncedWrites(): number {
    return this.#syncedWrites;
  }

  /** fsyncs of the WAL: one per durable transaction (checkpoints not counted). */
  get fsyncs(): number {
    return this.#syncedWrites;
  }

  /** Milliseconds spent in the last transaction, its fsync included. */
  get lastWriteMs(): number {
    return this.#lastWriteMs;
  }

  /** Everything a restarting node hands to the core. */
  load(): PersistedState {
    const hs = this.#db.prepare("SELECT term, vote, commit_index FROM hard_state WHERE id = 1")
      .get() as { term: number; vote: string; commit_index: number } | undefined;
    const snap = this.#db.prepare("SELECT idx, term, conf, data FROM snapshot WHERE id = 1")
      .get() as
        | { idx: number; term: number; conf: Uint8Array; data: Uint8Array }
        | undefined;
    const rows = this.#db.prepare("SELECT idx, term, type, data FROM entries ORDER BY idx")
      .all() as unknown as { idx: number; term: number; type: number; data: Uint8Array }[];
    const entries: Entry[] = new Array(rows.length);
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i]!;
      if (i > 0 && row.idx !== rows[i - 1]!.idx + 1) {
        throw new Error(
          `Invalid raft log in "${this.path}": expected entry ${
            rows[i - 1]!.idx + 1
          }, found ${row.idx}`,
        );
      }
      entries[i] = { index: row.idx, term: row.term, type: row.type as EntryType, data: row.data };
    }
    const snapshot: Snapshot | undefined = snap === undefined ? undefined : {
      index: snap.idx,
      term: snap.term,
      conf: decodeConfState(snap.conf),
      data: snap.data,
    };
    if (snapshot && entries.length > 0 && entries[0]!.index > snapshot.index + 1) {
      throw new Error(
        `Invalid raft log in "${this.path}": entries start at ${
          entries[0]!.index
        }, expected at most ${snapshot.index + 1} after the snapshot`,
      );
    }
    return {
      hardState: hs === undefined
        ? EMPTY_HARD_STATE
        : { term: hs.term, vote: hs.vote, commit: hs.commit_index },
      snapshot,
      entries,
    };
  }

  /**
   * Keeps step 2 of a Ready for the next {@linkcode sync}, which writes it in one durable
   * transaction (the node loop's write; nothing reaches SQLite before the sync).
   */
  write(ready: Pick<Ready, "snapshot" | "entries" | "hardState">): void {
    if (this.#written !== undefined) {
      throw new Error("Invalid raft storage write: the previous write was not synced yet");
    }
    this.#written = ready;
  }

  /**
   * The node loop's sync point: {@linkcode persist}s what {@linkcode write} kept, then calls
   * `done` before returning, with true when a transaction was committed (fsynced).
   */
  sync(done: (synced: boolean) => void): void {
    const ready = this.#written;
    this.#written = undefined;
    done(ready === undefined ? false : this.persist(ready));
  }

  /**
   * Persists step 2 of a Ready in one durable transaction: the snapshot (replacing the whole
   * log), then the entries (replacing any conflicting suffix), then the hard state. Returns
   * true when it wrote (and fsynced) a transaction.
   *
   * Only entries, a snapshot, the term and the vote must be on disk before messages go out
   * (etcd-io/raft's MustSync): a commit index is never relied on by anyone, a node that
   * loses it learns it again from the leader. So a Ready that only moves the commit index is
   * not a transaction of its own: its hard state goes with the next entries (or at
   * {@linkcode close}), which spares an fsync, and a transaction on the path from a commit to
   * the client's answer. Nor is it written with every transaction: the hard state is a
   * table page of its own, so writing it doubles the pages a one-entry transaction puts in
   * the WAL (and the bytes its fsync flushes); a commit index that moved alone goes with the
   * first transaction `commitWriteIntervalMs` after the last one written.
   */
  persist(ready: Pick<Ready, "snapshot" | "entries" | "hardState">): boolean {
    const { snapshot, entries } = ready;
    let hardState = ready.hardState ?? this.#deferredHardState;
    const newTermOrVote = hardState !== undefined &&
      (hardState.term !== this.#writtenTerm || hardState.vote !== this.#writtenVote);
    if (snapshot === undefined && entries.length === 0 && !newTermOrVote) {
      this.#deferredHardState = hardState;
      return false;
    }
    const started = performance.now();
    if (
      !newTermOrVote && snapshot === undefined &&
      started - this.#hardStateWrittenAt < this.#commitWriteIntervalMs
    ) {
      this.#deferredHardState = hardState;
      hardState = undefined;
    } else {
      this.#deferredHardState = undefined;
    }
    let first = this.#firstIndex;
    let last = this.#lastIndex;
    this.#db.exec("BEGIN IMMEDIATE");
    try {
      if (snapshot !== undefined) {
        this.#putSnapshot.run(
          snapshot.index,
          snapshot.term,
          encodeConfState(snapshot.conf),
          snapshot.data,
        );
        this.#deleteAll.run();
        first = 0;
        last = 0;
      }
      if (entries.length > 0) {
        const from = entries[0]!.index;
        // A new leader overwrote a suffix; skipping the DELETE when nothing is stored there
        // keeps the common append path to the INSERTs alone.
        if (last !== 0 && from <= last) this.#deleteFrom.run(from);
        if (last !== 0 && from > last + 1) {
          throw new Error(
            `Invalid raft append at ${from}: expected at most ${
              last + 1
            } (the log must stay contiguous)`,
          );
        }
        for (const entry of entries) {
          this.#insertEntry.run(entry.index, entry.term, entry.type, entry.data);
        }
        if (first === 0 || from < first) first = from;
        last = entries[entries.length - 1]!.index;
      }
      if (hardState !== undefined) {
        this.#putHardState.run(hardState.term, hardState.vote, hardState.commit);
      }
      this.#db.exec("COMMIT");
    } catch (error) {
      if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
      throw error;
    }
    if (hardState !== undefined) {
      this.#writtenTerm = hardState.term;
      this.#writtenVote = hardState.vote;
      this.#hardStateWrittenAt = started;
    }
    if (this.#durable) this.#syncedWrites++;
    this.#firstIndex = first;
    this.#lastIndex = last;
    this.#lastWriteMs = performance.now() - started;
    return true;
  }

  /**
   * Persists a snapshot the node took of its own state machine (`Raft.compact`), then deletes
   * the entries up to `compactUpTo` that it makes redundant, in one transaction.
   */
  saveSnapshot(snapshot: Snapshot, compactUpTo: number): void {
    const started = performance.now();
    this.#db.exec("BEGIN IMMEDIATE");
    try {
      this.#putSnapshot.run(
        snapshot.index,
        snapshot.term,
        encodeConfState(snapshot.conf),
        snapshot.data,
      );
      const upTo = Math.min(compactUpTo, snapshot.index);
      if (upTo >= this.#firstIndex && this.#firstIndex !== 0) this.#deleteUpTo.run(upTo);
      this.#db.exec("COMMIT");
    } catch (error) {
      if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
      throw error;
    }
    const upTo = Math.min(compactUpTo, snapshot.index);
    if (this.#firstIndex !== 0 && upTo >= this.#firstIndex) {
      if (upTo >= this.#lastIndex) {
        this.#firstIndex = 0;
        this.#lastIndex = 0;
      } else {
        this.#firstIndex = upTo + 1;
      }
    }
    this.#lastWriteMs = performance.now() - started;
  }

  /** Closes the database (idempotent), writing a deferred commit index first. */
  close(): void {
    if (this.#closed) return;
    const deferred = this.#deferredHardState;
    if (deferred !== undefined) {
      this.#deferredHardState = undefined;
      this.#putHardState.run(deferred.term, deferred.vote, deferred.commit);
    }
    this.#closed = true;
    this.#db.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
