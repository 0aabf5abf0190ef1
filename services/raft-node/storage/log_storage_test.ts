import assert from "node:assert/strict";
import fc from "fast-check";
import { tempDir } from "@trading/testing";
import type { Entry, HardState, PersistedState, Snapshot } from "../core/types.ts";
import { segmentFileName } from "./log_file.ts";
import { LOG_DIR, LogStorage } from "./log_storage.ts";
import {
  bytes,
  CONF,
  entries,
  persist,
  step,
  summary,
  testNodeStorageContract,
  text,
} from "./node_storage_contract.ts";
import { openNodeStorage } from "./node_storage.ts";
import { RaftStorage } from "./raft_storage.ts";

testNodeStorageContract({
  name: "LogStorage",
  moduleUrl: new URL("./log_storage.ts", import.meta.url).href,
  open: (dir, nodeId = "a") => LogStorage.open(dir, { nodeId, preallocateBytes: 64 * 1024 }),
  crashWriterOptions: { nodeId: "a", segmentBytes: 64 * 1024 },
  acknowledgedBeforeKill: 1000,
  afterCrash: (storage) => {
    assert.ok(storage instanceof LogStorage);
    assert.ok(storage.segments.length > 1, "the writer rolled segments");
  },
});

Deno.test("LogStorage replaces a conflicting suffix, and the replacement survives a crash", async () => {
  await using dir = await tempDir();
  const storage = LogStorage.open(dir.path, { nodeId: "a" });
  await persist(storage, step(entries(1, 10, 1), { term: 1, vote: "", commit: 3 }));
  // A new leader overwrites 6..10 with 6..7 of term 2.
  await persist(storage, step(entries(6, 7, 2, "new"), { term: 2, vote: "", commit: 3 }));
  assert.equal(storage.lastIndex, 7);
  // Written, never synced: lost in the crash below.
  storage.write(step(entries(8, 9, 2, "unsynced")));
  // The crash: a copy of the files as they are (the unsynced Ready never reached them).
  await using crashed = await tempDir();
  copyDirSync(`${dir.path}/${LOG_DIR}`, `${crashed.path}/${LOG_DIR}`);
  await storage.close();
  await using reopened = LogStorage.open(crashed.path, { nodeId: "a" });
  assert.deepEqual(summary(reopened.load()).entries, [
    ...entries(1, 5, 1).map((e) => `${e.index}/1/e${e.index}`),
    "6/2/new6",
    "7/2/new7",
  ]);
  assert.equal(reopened.load().hardState.term, 2);
});

Deno.test("LogStorage.saveSnapshot() deletes whole old segments and keeps the retained entries", async () => {
  await using dir = await tempDir();
  const options = { nodeId: "a", segmentBytes: 1024 };
  {
    await using storage = LogStorage.open(dir.path, options);
    for (let i = 1; i <= 200; i += 5) {
      await persist(storage, step(entries(i, i + 4, 1), { term: 1, vote: "a", commit: i - 1 }));
    }
    const before = storage.segments.length;
    assert.ok(before > 5, `${before} segments`);
    storage.saveSnapshot({ index: 150, term: 1, conf: CONF, data: bytes("at 150") }, 140);
    assert.ok(storage.segments.length < before, "old segments were deleted");
    assert.equal(storage.firstIndex, 141);
    const files = [...Deno.readDirSync(`${dir.path}/${LOG_DIR}`)].map((e) => e.name);
    assert.ok(!files.includes(segmentFileName(1)), "the first segment is gone");
    assert.equal(files.filter((f) => f.endsWith(".seg")).length, storage.segments.length);
  }
  await using reopened = LogStorage.open(dir.path, options);
  const state = reopened.load();
  assert.equal(state.snapshot?.index, 150);
  assert.equal(text(state.snapshot!.data), "at 150");
  assert.equal(state.entries[0]!.index, 141, "entries after compactUpTo are kept");
  assert.equal(state.entries.at(-1)!.index, 200);
  state.entries.forEach((e, i) => assert.equal(e.index, 141 + i));
  assert.deepEqual(state.hardState, { term: 1, vote: "a", commit: 195 });
});

Deno.test("LogStorage refuses a non-contiguous append and another node's directory", async () => {
  await using dir = await tempDir();
  {
    await using storage = LogStorage.open(dir.path, { nodeId: "a" });
    await persist(storage, step(entries(1, 2, 1)));
    assert.throws(() => storage.write(step(entries(5, 5, 1))), /must stay contiguous/);
  }
  assert.throws(() => LogStorage.open(dir.path, { nodeId: "b" }), /belongs to node "a"/);
});

Deno.test("openNodeStorage('log') migrates a SQLite data directory once, and 'sqlite' then refuses it", async () => {
  await using dir = await tempDir();
  const snapshot: Snapshot = { index: 20, term: 2, conf: CONF, data: bytes("orders") };
  {
    using sqlite = RaftStorage.open(dir.path, { nodeId: "a" });
    sqlite.persist(step(entries(1, 30, 2), { term: 3, vote: "b", commit: 25 }));
    sqlite.saveSnapshot(snapshot, 15);
  }
  const expected = (() => {
    using sqlite = RaftStorage.open(dir.path, { nodeId: "a" });
    return summary(sqlite.load());
  })();
  assert.equal(expected.entries.length, 15);
  {
    const storage = await openNodeStorage("log", dir.path, { nodeId: "a" });
    assert.ok(storage instanceof LogStorage);
    assert.deepEqual(summary(storage.load()), expected);
    await storage.close();
  }
  assert.ok(Deno.statSync(`${dir.path}/raft.db.migrated`).isFile, "the database is kept aside");
  assert.throws(() => Deno.statSync(`${dir.path}/raft.db`), Deno.errors.NotFound);
  {
    const again = await openNodeStorage("log", dir.path, { nodeId: "a" });
    assert.deepEqual(summary(again.load()), expected, "opened again, not migrated again");
    await again.close();
  }
  await assert.rejects(
    () => openNodeStorage("sqlite", dir.path, { nodeId: "a" }),
    /Invalid RAFT_STORAGE "sqlite".*expected RAFT_STORAGE=log/,
  );
});

// ---------------------------------------------------------------------------------------------
// Interleavings of append, truncate, sync, crash and reopen against a model.
// ---------------------------------------------------------------------------------------------

const seed = Number(Deno.env.get("FUZZ_SEED") ?? Date.now() % 2 ** 31);
const numRuns = Number(Deno.env.get("FUZZ_RUNS") ?? 40);

type Command =
  /** A Ready with entries from `back` below the next index (a truncation when > 0). */
  | { kind: "append"; back: number; count: number; newTerm: boolean }
  /** A Ready that only moves the commit index. */
  | { kind: "commit" }
  | { kind: "sync" }
  /** The machine dies with its sync in flight; `keep` of the bytes written reach the disk. */
  | { kind: "crash"; keep: number }
  | { kind: "reopen" };

const commands = fc.array(
  fc.oneof(
    {
      weight: 5,
      arbitrary: fc.record({
        kind: fc.constant("append" as const),
        back: fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, fc.integer({ min: 1, max: 4 })),
        count: fc.integer({ min: 1, max: 6 }),
        newTerm: fc.boolean(),
      }),
    },
    { weight: 1, arbitrary: fc.constant({ kind: "commit" as const }) },
    { weight: 3, arbitrary: fc.constant({ kind: "sync" as const }) },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant("crash" as const),
        keep: fc.double({ min: 0, max: 1, noNaN: true }),
      }),
    },
    { weight: 1, arbitrary: fc.constant({ kind: "reopen" as const }) },
  ),
  { minLength: 1, maxLength: 40 },
);

/** The model: the sequence of records; state is a replay of a prefix of them. */
interface ModelRecord {
  readonly entries: Entry[];
  readonly hardState: HardState | undefined;
}

function replayModel(records: readonly ModelRecord[]) {
  let hardState: HardState = { term: 0, vote: "", commit: 0 };
  let log: Entry[] = [];
  for (const record of records) {
    for (const entry of record.entries) {
      const start = log[0]?.index ?? entry.index;
      log = log.slice(0, Math.max(0, entry.index - start));
      log.push(entry);
    }
    if (record.hardState) hardState = record.hardState;
  }
  return {
    hardState: { term: hardState.term, vote: hardState.vote },
    entries: log.map((e) => `${e.index}/${e.term}/${text(e.data)}`),
  };
}

Deno.test("LogStorage recovers a prefix holding every synced Ready, over random interleavings (fast-check)", async () => {
  console.log(
    `fast-check seed ${seed}; replay: FUZZ_SEED=${seed} deno test -A --frozen services/raft-node/storage/log_storage_test.ts`,
  );
  let counter = 0;
  // Preallocation off, in steps smaller than a segment, or up to its size at once.
  const preallocations = fc.constantFrom(0, 256, 64 * 1024);
  const property = fc.asyncProperty(commands, preallocations, async (script, preallocateBytes) => {
    await using root = await tempDir();
    let dataDir = `${root.path}/d${counter++}`;
    const options = { nodeId: "a", segmentBytes: 600, preallocateBytes };
    let storage = LogStorage.open(dataDir, options);
    let records: ModelRecord[] = [];
    let synced = 0;
    let term = 1;
    let commit = 0;
    let lastIndex = 0;
    let pendingHard: HardState | undefined;
    let tag = 0;
    const inFlight: Promise<unknown>[] = [];
    const check = (state: PersistedState) => {
      const got = {
        hardState: { term: state.hardState.term, vote: state.hardState.vote },
        entries: state.entries.map((e) => `${e.index}/${e.term}/${text(e.data)}`),
      };
      for (let k = records.length; k >= synced; k--) {
        if (JSON.stringify(replayModel(records.slice(0, k))) === JSON.stringify(got)) return k;
      }
      assert.fail(
        `recovered ${
          JSON.stringify(got)
        } is no prefix of ${records.length} records holding the ${synced} synced`,
      );
    };
    const restart = (k: number) => {
      records = records.slice(0, k);
      synced = k;
      const model = replayModel(records);
      lastIndex = model.entries.length === 0 ? 0 : Number(model.entries.at(-1)!.split("/")[0]);
      term = Math.max(term, model.hardState.term);
      pendingHard = undefined;
    };
    try {
      for (const command of script) {
        if (command.kind === "append") {
          if (command.newTerm) term++;
          const from = Math.max(1, lastIndex + 1 - command.back);
          const batch = entries(from, from + command.count - 1, term, `t${tag++}-`);
          const hardState = { term, vote: "a", commit };
          storage.write(step(batch, hardState));
          records.push({ entries: batch, hardState });
          pendingHard = undefined;
          lastIndex = batch.at(-1)!.index;
        } else if (command.kind === "commit") {
          commit++;
          const hardState = { term, vote: "a", commit };
          storage.write(step([], hardState));
          // Only a commit index that moved alone waits for the next record.
          const recorded = records.findLast((r) => r.hardState !== undefined)?.hardState;
          if (recorded?.term === term) pendingHard = hardState;
          else {
            records.push({ entries: [], hardState });
            pendingHard = undefined;
          }
        } else if (command.kind === "sync") {
          const upTo = records.length;
          await new Promise((resolve, reject) => storage.sync(resolve, reject));
          synced = Math.max(synced, upTo);
        } else if (command.kind === "crash") {
          // The sync starts: its write reaches the page cache now, its fdatasync runs apart.
          const logDir = `${dataDir}/${LOG_DIR}`;
          const before = segmentContents(logDir);
          inFlight.push(new Promise((resolve, reject) => storage.sync(resolve, reject)));
          const crashed = `${root.path}/d${counter++}`;
          // Synchronously: the group in flight must not progress while the disk is copied.
          copyDirSync(logDir, `${crashed}/${LOG_DIR}`);
          // What the write changed in a segment (appended, or written over preallocated
          // zeros) reaches the disk up to some byte; after it, the segment is as before.
          for (const [name, now] of segmentContents(`${crashed}/${LOG_DIR}`)) {
            const old = before.get(name) ?? new Uint8Array(0);
            tearWrite(`${crashed}/${LOG_DIR}/${name}`, old, now, command.keep);
          }
          await Promise.all(inFlight.splice(0));
          await storage.close();
          dataDir = crashed;
          storage = LogStorage.open(dataDir, options);
          restart(check(storage.load()));
        } else {
          if (pendingHard !== undefined) records.push({ entries: [], hardState: pendingHard });
          await storage.close();
          storage = LogStorage.open(dataDir, options);
          const k = check(storage.load());
          assert.equal(k, records.length, "a clean close keeps everything");
          restart(k);
        }
      }
    } finally {
      await Promise.all(inFlight);
      await storage.close();
    }
  });
  await fc.assert(property, { seed, numRuns });
});

function segmentContents(dir: string): Map<string, Uint8Array> {
  const contents = new Map<string, Uint8Array>();
  for (const entry of Deno.readDirSync(dir)) {
    if (entry.name.endsWith(".seg")) {
      contents.set(entry.name, Deno.readFileSync(`${dir}/${entry.name}`));
    }
  }
  return contents;
}

/**
 * Rewrites `path` (now `now`, formerly `old`) as a torn write leaves it: of the bytes from the
 * first that changed, the share `keep` reached the disk, the rest are as they were (zeros of a
 * preallocated tail, or beyond the old end of the file).
 */
function tearWrite(path: string, old: Uint8Array, now: Uint8Array, keep: number): void {
  let first = 0;
  while (first < now.length && first < old.length && now[first] === old[first]) first++;
  let end = Math.max(old.length, now.length);
  while (end > first && end <= now.length && end <= old.length && now[end - 1] === old[end - 1]) {
    end--;
  }
  if (end <= first) return;
  const kept = first + Math.floor((end - first) * keep);
  const torn = new Uint8Array(Math.max(old.length, kept));
  torn.set(now.subarray(0, kept));
  if (old.length > kept) torn.set(old.subarray(kept), kept);
  Deno.writeFileSync(path, torn);
}

function copyDirSync(from: string, to: string): void {
  Deno.mkdirSync(to, { recursive: true });
  for (const entry of Deno.readDirSync(from)) {
    if (entry.isFile) Deno.copyFileSync(`${from}/${entry.name}`, `${to}/${entry.name}`);
  }
}
