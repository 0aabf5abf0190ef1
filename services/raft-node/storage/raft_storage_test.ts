import assert from "node:assert/strict";
import { tempDir } from "@trading/testing";
import type { Entry, HardState, Snapshot } from "../core/types.ts";
import { RaftStorage } from "./raft_storage.ts";

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

function entries(from: number, to: number, term: number, tag = "e"): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) out.push({ index: i, term, type: 0, data: bytes(`${tag}${i}`) });
  return out;
}

const CONF = { voters: ["a", "b"], learners: ["c"], context: { a: '{"raft":"x:1"}' } };

Deno.test("RaftStorage restores entries and hard state persisted before a reopen", async () => {
  await using dir = await tempDir();
  {
    using storage = RaftStorage.open(dir.path, { nodeId: "a" });
    assert.equal(storage.isEmpty(), true);
    storage.persist({
      snapshot: undefined,
      entries: entries(1, 3, 1),
      hardState: { term: 1, vote: "a", commit: 2 },
    });
    storage.persist({ snapshot: undefined, entries: entries(4, 5, 2), hardState: undefined });
  }
  using reopened = RaftStorage.open(dir.path, { nodeId: "a" });
  const state = reopened.load();
  assert.equal(reopened.isEmpty(), false);
  assert.deepEqual(state.hardState, { term: 1, vote: "a", commit: 2 });
  assert.equal(state.snapshot, undefined);
  assert.deepEqual(state.entries.map((e) => [e.index, e.term, text(e.data)]), [
    [1, 1, "e1"],
    [2, 1, "e2"],
    [3, 1, "e3"],
    [4, 2, "e4"],
    [5, 2, "e5"],
  ]);
  assert.equal(reopened.firstIndex, 1);
  assert.equal(reopened.lastIndex, 5);
});

Deno.test("RaftStorage replaces a conflicting suffix with the new entries", async () => {
  await using dir = await tempDir();
  using storage = RaftStorage.open(dir.path, { nodeId: "a" });
  storage.persist({ snapshot: undefined, entries: entries(1, 6, 1, "old"), hardState: undefined });
  // A new leader of term 3 overwrote everything from index 4 with a shorter suffix.
  storage.persist({ snapshot: undefined, entries: entries(4, 5, 3, "new"), hardState: undefined });
  const state = storage.load();
  assert.deepEqual(state.entries.map((e) => `${e.index}/${e.term}/${text(e.data)}`), [
    "1/1/old1",
    "2/1/old2",
    "3/1/old3",
    "4/3/new4",
    "5/3/new5",
  ]);
  assert.equal(storage.lastIndex, 5);
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

Deno.test("RaftStorage stores a received snapshot in place of the whole log", async () => {
  await using dir = await tempDir();
  {
    using storage = RaftStorage.open(dir.path, { nodeId: "a" });
    storage.persist({ snapshot: undefined, entries: entries(1, 4, 1), hardState: undefined });
    const snapshot: Snapshot = { index: 10, term: 2, conf: CONF, data: bytes("state@10") };
    storage.persist({
      snapshot,
      entries: entries(11, 12, 2),
      hardState: { term: 2, vote: "", commit: 10 },
    });
  }
  using reopened = RaftStorage.open(dir.path, { nodeId: "a" });
  const state = reopened.load();
  assert.equal(state.snapshot?.index, 10);
  assert.equal(state.snapshot?.term, 2);
  assert.deepEqual(state.snapshot?.conf, CONF);
  assert.equal(text(state.snapshot!.data), "state@10");
  assert.deepEqual(state.entries.map((e) => e.index), [11, 12]);
  assert.equal(reopened.firstIndex, 11);
});

Deno.test("RaftStorage.saveSnapshot compacts the log but keeps the trailing entries", async () => {
  await using dir = await tempDir();
  {
    using storage = RaftStorage.open(dir.path, { nodeId: "a" });
    storage.persist({ snapshot: undefined, entries: entries(1, 20, 1), hardState: undefined });
    storage.saveSnapshot({ index: 15, term: 1, conf: CONF, data: bytes("state@15") }, 12);
    assert.equal(storage.firstIndex, 13);
    storage.persist({ snapshot: undefined, entries: entries(21, 22, 1), hardState: undefined });
  }
  using reopened = RaftStorage.open(dir.path, { nodeId: "a" });
  const state = reopened.load();
  assert.equal(state.snapshot?.index, 15);
  assert.equal(text(state.snapshot!.data), "state@15");
  assert.deepEqual(state.entries.map((e) => e.index), [13, 14, 15, 16, 17, 18, 19, 20, 21, 22]);
});

Deno.test("RaftStorage.saveSnapshot past the last entry leaves an empty log that grows again", async () => {
  await using dir = await tempDir();
  using storage = RaftStorage.open(dir.path, { nodeId: "a" });
  storage.persist({ snapshot: undefined, entries: entries(1, 5, 1), hardState: undefined });
  storage.saveSnapshot({ index: 5, term: 1, conf: CONF, data: bytes("s") }, 5);
  assert.equal(storage.lastIndex, 0);
  storage.persist({ snapshot: undefined, entries: entries(6, 7, 2), hardState: undefined });
  assert.deepEqual(storage.load().entries.map((e) => e.index), [6, 7]);
});

Deno.test("RaftStorage fsyncs entries, term and vote, but not a Ready that only moves the commit index", async () => {
  await using dir = await tempDir();
  using storage = RaftStorage.open(dir.path, { nodeId: "a" });
  storage.persist({
    snapshot: undefined,
    entries: entries(1, 2, 1),
    hardState: { term: 1, vote: "a", commit: 0 },
  });
  assert.equal(storage.syncedWrites, 1);
  storage.persist({
    snapshot: undefined,
    entries: [],
    hardState: { term: 1, vote: "a", commit: 2 },
  });
  assert.equal(storage.syncedWrites, 1, "a commit-only Ready is written without fsync");
  storage.persist({
    snapshot: undefined,
    entries: [],
    hardState: { term: 2, vote: "", commit: 2 },
  });
  assert.equal(storage.syncedWrites, 2, "a new term is durable before anything is sent");
  storage.persist({
    snapshot: undefined,
    entries: [],
    hardState: { term: 2, vote: "b", commit: 2 },
  });
  assert.equal(storage.syncedWrites, 3, "a vote is durable before it is sent");
  storage.persist({ snapshot: undefined, entries: entries(3, 3, 2), hardState: undefined });
  assert.equal(storage.syncedWrites, 4);
  assert.equal(storage.load().hardState.commit, 2);
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

Deno.test("RaftStorage refuses a data directory that belongs to another node", async () => {
  await using dir = await tempDir();
  RaftStorage.open(dir.path, { nodeId: "a" }).close();
  assert.throws(() => RaftStorage.open(dir.path, { nodeId: "b" }), /belongs to node "a"/);
});

// A child process persists Readies and reports each one after persist() returned (that is
// when the node would send its messages); the parent SIGKILLs it mid-stream. Everything
// reported must be on disk after the reopen: the Ready contract's "durable before sent".
const CRASH_WRITER = `
import { RaftStorage } from ${JSON.stringify(new URL("./raft_storage.ts", import.meta.url).href)};
const storage = RaftStorage.open(Deno.args[0], { nodeId: "a" });
const data = new Uint8Array(100);
for (let i = 1; ; i++) {
  // Every 7th Ready rewrites its predecessor's entry in a new term (a conflicting suffix).
  const rewrite = i % 7 === 0;
  const index = rewrite ? i - 1 : i;
  storage.persist({
    snapshot: undefined,
    entries: rewrite
      ? [{ index, term: i, type: 0, data }, { index: i, term: i, type: 0, data }]
      : [{ index, term: i, type: 0, data }],
    hardState: { term: i, vote: "a", commit: Math.max(0, i - 2) },
  });
  console.log(i);
}
`;

Deno.test("RaftStorage keeps every acknowledged Ready across a SIGKILL of the writer", async () => {
  await using dir = await tempDir();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", "--ext=ts", CRASH_WRITER, dir.path],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  let acknowledged = 0;
  const decoder = new TextDecoder();
  let buffered = "";
  for await (const chunk of child.stdout) {
    buffered += decoder.decode(chunk);
    const lines = buffered.split("\n");
    buffered = lines.pop()!;
    for (const line of lines) acknowledged = Math.max(acknowledged, Number(line));
    if (acknowledged >= 300) {
      child.kill("SIGKILL");
      break;
    }
  }
  await child.stdout.cancel().catch(() => {});
  await child.status;
  using storage = RaftStorage.open(dir.path, { nodeId: "a" });
  const state = storage.load();
  const last = state.entries.at(-1)!;
  assert.ok(last.index >= acknowledged, `last index ${last.index} < acknowledged ${acknowledged}`);
  assert.ok(state.hardState.term >= acknowledged);
  state.entries.forEach((entry, i) => assert.equal(entry.index, i + 1));
  // The entry at every acknowledged index carries the term of the Ready that wrote it last.
  for (const entry of state.entries) {
    const rewrittenBy = entry.index + 1;
    const expectedTerm = rewrittenBy % 7 === 0 && rewrittenBy <= last.index
      ? rewrittenBy
      : entry.index;
    assert.equal(entry.term, expectedTerm, `term of entry ${entry.index}`);
  }
});
