/**
 * A raft-node's stable storage, whichever backend `RAFT_STORAGE` names: `sqlite`
 * (raft_storage.ts, one transaction per Ready, committed on the event loop) or `log`
 * (log_storage.ts, an append-only log file with group commit, fdatasync off the event loop).
 *
 * Upgrading a node from `sqlite` to `log` migrates its data directory once, at open: the
 * SQLite database's state is written into a new log store (made durable before it takes
 * effect by a rename), and `raft.db` is renamed to `raft.db.migrated` (kept, never read
 * again). A log-store directory is refused by the `sqlite` backend, so that a node never
 * restarts on a stale copy of its log.
 *
 * @module
 */
import { getLogger } from "@trading/shared/log";
import type { PersistedState } from "../core/types.ts";
import type { LoopStorage } from "../node_loop.ts";
import { syncDirectory } from "./log_file.ts";
import { LOG_DIR, LogStorage, type LogStorageOptions, META_FILE } from "./log_storage.ts";
import { DATABASE_FILE, RaftStorage } from "./raft_storage.ts";

/** The storage backends (`RAFT_STORAGE`). */
export const STORAGE_KINDS = ["sqlite", "log"] as const;

/** A storage backend's name. */
export type StorageKind = typeof STORAGE_KINDS[number];

/** What a raft-node needs of its storage, either backend. */
export interface NodeStorage extends LoopStorage {
  /** Where it is (the database file, or the log directory). */
  readonly path: string;
  /** True when nothing was ever persisted. */
  isEmpty(): boolean;
  /** Everything a restarting node hands to the core. */
  load(): PersistedState;
  /** Milliseconds of the last write (without its fsync for the log backend). */
  readonly lastWriteMs: number;
  /** Durable writes (transactions, or groups of Readies) since open. */
  readonly syncedWrites: number;
  /** fsyncs of the log (or database) since open. */
  readonly fsyncs: number;
  /** Writes what is deferred, syncs, and closes. Idempotent. */
  close(): void | Promise<void>;
}

/** Options of {@linkcode openNodeStorage}. */
export interface NodeStorageOptions extends Omit<LogStorageOptions, "nodeId"> {
  readonly nodeId: string;
}

/**
 * Opens the storage of `kind` in `dataDir`, migrating a SQLite directory to the log store
 * when `kind` is `log`. Throws (naming RAFT_STORAGE) when the directory holds a log store
 * and `kind` is `sqlite`.
 */
export async function openNodeStorage(
  kind: StorageKind,
  dataDir: string,
  options: NodeStorageOptions,
): Promise<NodeStorage> {
  if (kind === "sqlite") {
    if (exists(`${dataDir}/${LOG_DIR}`)) {
      throw new Error(
        `Invalid RAFT_STORAGE "sqlite" for RAFT_DATA_DIR "${dataDir}": it holds a log store (${LOG_DIR}/); expected RAFT_STORAGE=log (a log store is not migrated back)`,
      );
    }
    return RaftStorage.open(dataDir, { nodeId: options.nodeId });
  }
  await migrateSqliteToLog(dataDir, options);
  return LogStorage.open(dataDir, options);
}

/**
 * Moves the state of `dataDir/raft.db` into a log store, once: builds the store in a
 * temporary directory, renames it into place (the step that makes it count), then renames
 * the database to `raft.db.migrated`. A crash at any point leaves either the database alone
 * (migrated again at the next open) or the store (the rename of the database is finished).
 */
export async function migrateSqliteToLog(
  dataDir: string,
  options: NodeStorageOptions,
): Promise<boolean> {
  const database = `${dataDir}/${DATABASE_FILE}`;
  if (!exists(database)) return false;
  const log = getLogger(["raft", "storage"]);
  if (!exists(`${dataDir}/${LOG_DIR}/${META_FILE}`)) {
    const sqlite = RaftStorage.open(dataDir, { nodeId: options.nodeId });
    let state: PersistedState;
    try {
      state = sqlite.load();
    } finally {
      sqlite.close();
    }
    const building = `${dataDir}/${LOG_DIR}.migrating`;
    await Deno.remove(building, { recursive: true }).catch(() => {});
    const store = LogStorage.open(building, options);
    const from = `${building}/${LOG_DIR}`;
    if (state.snapshot !== undefined) {
      const compactUpTo = (state.entries[0]?.index ?? state.snapshot.index + 1) - 1;
      store.saveSnapshot(state.snapshot, Math.min(compactUpTo, state.snapshot.index));
    }
    store.write({ snapshot: undefined, entries: state.entries, hardState: state.hardState });
    await new Promise<void>((resolve, reject) => store.sync(() => resolve(), reject));
    await store.close();
    Deno.renameSync(from, `${dataDir}/${LOG_DIR}`);
    syncDirectory(dataDir);
    await Deno.remove(building, { recursive: true });
    log.info("migrated the SQLite raft storage to the log store: {entries} entries", {
      from: database,
      to: `${dataDir}/${LOG_DIR}`,
      entries: state.entries.length,
      snapshot: state.snapshot?.index ?? 0,
      term: state.hardState.term,
    });
  }
  for (const suffix of ["", "-wal", "-shm"]) {
    if (exists(database + suffix)) {
      Deno.renameSync(database + suffix, `${database}.migrated${suffix}`);
    }
  }
  syncDirectory(dataDir);
  log.info("kept the SQLite database as {path}: it is not read again", {
    path: `${database}.migrated`,
  });
  return true;
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}
