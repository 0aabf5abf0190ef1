/**
 * Durable replacement of a small metadata file, and the directory fsync it needs.
 *
 * A rename is atomic but not durable until the directory that holds both names is fsynced
 * (POSIX: the directory entry is metadata of the directory, not of the file). Without that
 * sync a power loss after the broker answered can bring back the old file, or none at all
 * for a file created by the rename (ext4 `data=ordered`, XFS). A plain `writeFile` is worse:
 * a crash between its truncate and its write leaves an empty file.
 *
 * @module
 */
import { dirname, join } from "node:path";

/** The name a durable write stages its bytes under, next to the file it replaces. */
export function stagingPath(path: string): string {
  return `${path}.tmp`;
}

/**
 * Replaces the file at `path` with `data` durably: writes a staging file next to it,
 * fdatasyncs it, renames it over `path`, then fsyncs the directory. A crash at any point
 * leaves the old content or the new one, never a torn file; once this resolves, the new
 * content survives a power loss. A staging file left by a crashed writer is overwritten
 * (and {@linkcode removeStagingFiles} deletes it on start).
 */
export async function writeFileDurably(
  path: string,
  data: string | Uint8Array | readonly Uint8Array[],
): Promise<void> {
  const tmp = stagingPath(path);
  const parts = typeof data === "string"
    ? [new TextEncoder().encode(data)]
    : data instanceof Uint8Array
    ? [data]
    : data;
  const file = await Deno.open(tmp, { write: true, create: true, truncate: true });
  try {
    for (const part of parts) {
      for (let written = 0; written < part.length;) {
        written += await file.write(part.subarray(written));
      }
    }
    await file.syncData();
  } finally {
    file.close();
  }
  await Deno.rename(tmp, path);
  await syncDirectory(dirname(path));
}

/**
 * fsyncs the directory `dir`, so that the files created, renamed or deleted in it are
 * durable. A filesystem that refuses fsync on a directory (some network and FUSE mounts
 * answer EINVAL) is not an error: the files' data is synced all the same.
 */
export async function syncDirectory(dir: string): Promise<void> {
  let handle: Deno.FsFile;
  try {
    handle = await Deno.open(dir, { read: true });
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) throw error;
    return;
  }
  try {
    await handle.sync();
  } catch {
    // EINVAL on filesystems without directory fsync; see above.
  } finally {
    handle.close();
  }
}

/**
 * Deletes the staging files (`*.tmp`) a writer killed mid-{@linkcode writeFileDurably} left
 * in `dir`; returns their names. The file each one was to replace is intact, so a leftover
 * is never read, only removed.
 */
export async function removeStagingFiles(dir: string): Promise<string[]> {
  const removed: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (!entry.isFile || !entry.name.endsWith(".tmp")) continue;
    await Deno.remove(join(dir, entry.name));
    removed.push(entry.name);
  }
  if (removed.length > 0) await syncDirectory(dir);
  return removed.sort();
}
