import assert from "node:assert/strict";
import { tempDir } from "@trading/testing";
import type { HardState } from "../core/types.ts";
import { entries, testNodeStorageContract } from "./node_storage_contract.ts";
import { RaftStorage } from "./raft_storage.ts";

testNodeStorageContract({
  name: "RaftStorage",
  moduleUrl: new URL("./raft_storage.ts", import.meta.url).href,
  open: (dir, nodeId = "a") => RaftStorage.open(dir, { nodeId }),
  crashWriterOptions: { nodeId: "a" },
  acknowledgedBeforeKill: 300,
});

Deno.test("RaftStorage rolls back a whole Ready when one part of it is invalid", async () => {
  await using dir = await tempDir();
  using storage = RaftStorage.open(dir.path, { nodeId: "a" });
  storage.persist({
    snapshot: undefined,
    entries: entries(1, 2, 1),
    hardState: { term: 1, vote: "", commit: 1 },
  });
  // A gap in the log (3 is missing) must not be written, nor the hard state beside it.
  assert.throws(
    () =>
      storage.persist({
        snapshot: undefined,
        entries: entries(4, 4, 1),
        hardState: { term: 9, vote: "b", commit: 2 },
      }),
    /expected at most 3/,
  );
  const state = storage.load();
  assert.deepEqual(state.hardState, { term: 1, vote: "", commit: 1 });
  assert.deepEqual(state.entries.map((e) => e.index), [1, 2]);
});

Deno.test("RaftStorage writes a commit-only hard state with the next entries, or at close", async () => {
  await using dir = await tempDir();
  const hard = (commit: number) => ({ term: 1, vote: "a", commit });
  const storage = RaftStorage.open(dir.path, { nodeId: "a", commitWriteIntervalMs: 0 });
  storage.persist({ snapshot: undefined, entries: entries(1, 3, 1), hardState: hard(0) });
  assert.equal(storage.persist({ snapshot: undefined, entries: [], hardState: hard(2) }), false);
  assert.equal(storage.load().hardState.commit, 0, "not a transaction of its own");
  storage.persist({ snapshot: undefined, entries: entries(4, 4, 1), hardState: undefined });
  assert.equal(storage.load().hardState.commit, 2, "written with the next entries");
  storage.persist({ snapshot: undefined, entries: [], hardState: hard(4) });
  storage.close();
  using reopened = RaftStorage.open(dir.path, { nodeId: "a" });
  assert.equal(reopened.load().hardState.commit, 4, "written at close");
});

Deno.test("RaftStorage writes a moved commit index at most once per commitWriteIntervalMs, a new term or vote at once", async () => {
  await using dir = await tempDir();
  const storage = RaftStorage.open(dir.path, { nodeId: "a", commitWriteIntervalMs: 60_000 });
  const append = (index: number, hardState: HardState) =>
    storage.persist({ snapshot: undefined, entries: entries(index, index, 1), hardState });
  append(1, { term: 1, vote: "a", commit: 0 });
  append(2, { term: 1, vote: "a", commit: 1 });
  append(3, { term: 1, vote: "a", commit: 2 });
  assert.deepEqual(
    storage.load().hardState,
    { term: 1, vote: "a", commit: 0 },
    "the commit index waits for the interval",
  );
  assert.deepEqual(storage.load().entries.map((e) => e.index), [1, 2, 3]);
  append(4, { term: 2, vote: "", commit: 3 });
  assert.deepEqual(storage.load().hardState, { term: 2, vote: "", commit: 3 }, "a new term");
  append(5, { term: 2, vote: "", commit: 4 });
  storage.close();
  using reopened = RaftStorage.open(dir.path, { nodeId: "a" });
  assert.equal(reopened.load().hardState.commit, 4, "written at close");
});
