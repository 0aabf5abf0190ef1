/**
 * A node's own snapshot in a file of its own, replaced atomically: written to a temporary
 * file, fsynced, renamed over the old one, and the directory fsynced. So a crash leaves the
 * old snapshot or the new one, never a mix. Its record is CRC-checked (log_file.ts framing).
 *
 * @module
 */
import type { Snapshot } from "../core/types.ts";
import { CorruptLogError, scanRecords, syncDirectory, writeAll } from "./log_file.ts";
import { decodeReadyRecord, encodeReadyRecord } from "./log_record.ts";

/** The snapshot file's name in the log directory. */
export const SNAPSHOT_FILE = "snapshot.bin";

/** A stored snapshot and how far the log was compacted with it. */
export interface StoredSnapshot {
  readonly snapshot: Snapshot;
  /** Entries up to this index were deleted from the log when it was taken. */
  readonly compactedUpTo: number;
}

/**
 * Writes `stored` durably in place of the previous snapshot file of `dir` (on the event loop:
 * a node snapshots rarely, and what follows, deleting old segments, relies on it).
 */
export function writeSnapshotFile(dir: string, stored: StoredSnapshot): void {
  // The compaction bound travels as the record's "hard state" commit, so that the snapshot
  // file is one record of the log's own kind.
  const record = encodeReadyRecord({
    hardState: { term: 0, vote: "", commit: stored.compactedUpTo },
    snapshot: stored.snapshot,
    entries: [],
  });
  const temp = `${dir}/${SNAPSHOT_FILE}.tmp`;
  const file = Deno.openSync(temp, { write: true, create: true, truncate: true });
  try {
    writeAll(file, record);
    file.syncSync();
  } finally {
    file.close();
  }
  Deno.renameSync(temp, `${dir}/${SNAPSHOT_FILE}`);
  syncDirectory(dir);
}

/** Reads the snapshot file of `dir`; undefined when there is none. Throws when it is damaged. */
export function readSnapshotFile(dir: string): StoredSnapshot | undefined {
  // A temporary file is a snapshot whose rename did not happen: the old one stands.
  removeIfExists(`${dir}/${SNAPSHOT_FILE}.tmp`);
  let bytes: Uint8Array;
  try {
    bytes = Deno.readFileSync(`${dir}/${SNAPSHOT_FILE}`);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
  const payloads: Uint8Array[] = [];
  const scan = scanRecords(bytes, (payload) => payloads.push(payload));
  if (scan.damage !== undefined || payloads.length !== 1) {
    throw new CorruptLogError(
      `Corrupt raft snapshot file "${dir}/${SNAPSHOT_FILE}": ${
        scan.damage?.reason ?? `${payloads.length} records`
      }; expected one valid record (it is replaced only by a rename)`,
    );
  }
  const record = decodeReadyRecord(payloads[0]!);
  return { snapshot: record.snapshot!, compactedUpTo: record.hardState!.commit };
}

/** Removes a file; nothing when it does not exist. */
export function removeIfExists(path: string): void {
  try {
    Deno.removeSync(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}
