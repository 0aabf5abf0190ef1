/**
 * The contract both storage backends keep (`NodeStorage`: raft_storage.ts, log_storage.ts),
 * as one suite of tests that each backend's test file runs against itself
 * ({@linkcode testNodeStorageContract}), and the helpers those files share. The tests drive a
 * storage the way the node loop does: `write` a Ready, then `sync` it; and they `load` only
 * after an open, as a restarting node does (LogStorage loads nothing after its first write).
 *
 * @module
 */
import assert from "node:assert/strict";
import { tempDir } from "@trading/testing";
import type { Entry, HardState, PersistedState, Ready, Snapshot } from "../core/types.ts";
import type { LoopStorage } from "../node_loop.ts";
import type { NodeStorage } from "./node_storage.ts";

/** UTF-8 bytes of `s`. */
export const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
/** `b` decoded as UTF-8. */
export const text = (b: Uint8Array): string => new TextDecoder().decode(b);

/** Entries `from`..`to` of `term`, whose data is `${tag}${index}`. */
export function entries(from: number, to: number, term: number, tag = "e"): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) out.push({ index: i, term, type: 0, data: bytes(`${tag}${i}`) });
  return out;
}

/** A membership for the snapshots of the tests. */
export const CONF = { voters: ["a", "b"], learners: ["c"], context: { a: '{"raft":"x:1"}' } };

/** What a storage persists of a Ready. */
export type Step = Pick<Ready, "snapshot" | "entries" | "hardState">;

/** A Ready's step 2. */
export function step(entries: Entry[], hardState?: HardState, snapshot?: Snapshot): Step {
  return { entries, hardState, snapshot };
}

/** write() then sync(), resolved once durable with whether it was synced. */
export function persist(storage: LoopStorage, ready: Step): Promise<boolean> {
  storage.write(ready);
  return new Promise((resolve, reject) => storage.sync(resolve, reject));
}

/** A loaded state, comparable with deepEqual: entries as `index/term/data`. */
export const summary = (state: PersistedState) => ({
  hardState: state.hardState,
  snapshot: state.snapshot && { index: state.snapshot.index, term: state.snapshot.term },
  entries: state.entries.map((e) => `${e.index}/${e.term}/${text(e.data)}`),
});

/** A backend's storage as the contract uses it. */
export type ContractStorage =
  & NodeStorage
  & { readonly firstIndex: number; readonly lastIndex: number }
  & (Disposable | AsyncDisposable);

/** A backend the contract runs against. */
export interface StorageBackend {
  /** The class name: the prefix of the test names, and what the crash writer imports. */
  readonly name: string;
  /** The module that exports the class. */
  readonly moduleUrl: string;
  /** Opens the storage of `nodeId` in `dir`. */
  open(dir: string, nodeId?: string): ContractStorage;
  /** The crash writer's options of `open` (JSON). */
  readonly crashWriterOptions: Record<string, unknown>;
  /** How many Readies the crash writer acknowledges before it is killed. */
  readonly acknowledgedBeforeKill: number;
  /** Further checks on the storage reopened after the crash. */
  afterCrash?(storage: ContractStorage): void;
}

/** Registers the contract's tests for `backend`, each named `${backend.name} …`. */
export function testNodeStorageContract(backend: StorageBackend): void {
  const { name, open } = backend;

  Deno.test(`${name} restores entries and hard state persisted before a reopen`, async () => {
    await using dir = await tempDir();
    {
      await using storage = open(dir.path);
      assert.equal(storage.isEmpty(), true);
      assert.equal(
        await persist(storage, step(entries(1, 3, 1), { term: 1, vote: "a", commit: 2 })),
        true,
      );
      await persist(storage, step(entries(4, 5, 2)));
    }
    await using reopened = open(dir.path);
    assert.equal(reopened.isEmpty(), false);
    assert.deepEqual(summary(reopened.load()), {
      hardState: { term: 1, vote: "a", commit: 2 },
      snapshot: undefined,
      entries: ["1/1/e1", "2/1/e2", "3/1/e3", "4/2/e4", "5/2/e5"],
    });
    assert.equal(reopened.firstIndex, 1);
    assert.equal(reopened.lastIndex, 5);
  });

  Deno.test(`${name} replaces a conflicting suffix with the new entries`, async () => {
    await using dir = await tempDir();
    {
      await using storage = open(dir.path);
      await persist(storage, step(entries(1, 6, 1, "old")));
      // A new leader of term 3 overwrote everything from index 4 with a shorter suffix.
      await persist(storage, step(entries(4, 5, 3, "new")));
      assert.equal(storage.lastIndex, 5);
    }
    await using reopened = open(dir.path);
    assert.deepEqual(summary(reopened.load()).entries, [
      "1/1/old1",
      "2/1/old2",
      "3/1/old3",
      "4/3/new4",
      "5/3/new5",
    ]);
    assert.equal(reopened.lastIndex, 5);
  });

  Deno.test(`${name} stores a received snapshot in place of the whole log`, async () => {
    await using dir = await tempDir();
    const snapshot: Snapshot = { index: 50, term: 3, conf: CONF, data: bytes("state") };
    {
      await using storage = open(dir.path);
      await persist(storage, step(entries(1, 10, 1), { term: 1, vote: "", commit: 10 }));
      await persist(storage, step([], { term: 3, vote: "", commit: 50 }, snapshot));
      await persist(storage, step(entries(51, 52, 3)));
    }
    await using reopened = open(dir.path);
    const state = reopened.load();
    assert.deepEqual(state.snapshot?.conf, CONF);
    assert.equal(text(state.snapshot!.data), "state");
    assert.deepEqual(summary(state), {
      hardState: { term: 3, vote: "", commit: 50 },
      snapshot: { index: 50, term: 3 },
      entries: ["51/3/e51", "52/3/e52"],
    });
    assert.equal(reopened.firstIndex, 51);
  });

  Deno.test(`${name} stores a received snapshot and the entries after it from one Ready`, async () => {
    await using dir = await tempDir();
    {
      await using storage = open(dir.path);
      await persist(storage, step(entries(1, 4, 1)));
      const snapshot: Snapshot = { index: 10, term: 2, conf: CONF, data: bytes("state@10") };
      await persist(storage, step(entries(11, 12, 2), { term: 2, vote: "", commit: 10 }, snapshot));
    }
    await using reopened = open(dir.path);
    const state = reopened.load();
    assert.equal(state.snapshot?.index, 10);
    assert.equal(state.snapshot?.term, 2);
    assert.deepEqual(state.snapshot?.conf, CONF);
    assert.equal(text(state.snapshot!.data), "state@10");
    assert.deepEqual(state.hardState, { term: 2, vote: "", commit: 10 });
    assert.deepEqual(state.entries.map((e) => e.index), [11, 12]);
    assert.equal(reopened.firstIndex, 11);
  });

  Deno.test(`${name}.saveSnapshot compacts the log but keeps the trailing entries`, async () => {
    await using dir = await tempDir();
    {
      await using storage = open(dir.path);
      await persist(storage, step(entries(1, 20, 1)));
      storage.saveSnapshot({ index: 15, term: 1, conf: CONF, data: bytes("state@15") }, 12);
      assert.equal(storage.firstIndex, 13);
      await persist(storage, step(entries(21, 22, 1)));
    }
    await using reopened = open(dir.path);
    const state = reopened.load();
    assert.equal(state.snapshot?.index, 15);
    assert.equal(text(state.snapshot!.data), "state@15");
    assert.deepEqual(state.entries.map((e) => e.index), [13, 14, 15, 16, 17, 18, 19, 20, 21, 22]);
  });

  Deno.test(`${name}.saveSnapshot past the last entry leaves an empty log that grows again`, async () => {
    await using dir = await tempDir();
    {
      await using storage = open(dir.path);
      await persist(storage, step(entries(1, 5, 1)));
      storage.saveSnapshot({ index: 5, term: 1, conf: CONF, data: bytes("s") }, 5);
      assert.equal(storage.lastIndex, 0);
      await persist(storage, step(entries(6, 7, 2)));
    }
    await using reopened = open(dir.path);
    assert.deepEqual(reopened.load().entries.map((e) => e.index), [6, 7]);
  });

  Deno.test(`${name} fsyncs entries, term and vote, but not a Ready that only moves the commit index`, async () => {
    await using dir = await tempDir();
    {
      await using storage = open(dir.path);
      const synced = async (why: string, ready: Step, expected: boolean, writes: number) => {
        assert.equal(await persist(storage, ready), expected, why);
        assert.equal(storage.syncedWrites, writes, why);
        assert.equal(storage.fsyncs, writes, why);
      };
      const hard = (term: number, vote: string, commit: number) => ({ term, vote, commit });
      await synced("entries are durable", step(entries(1, 2, 1), hard(1, "a", 0)), true, 1);
      await synced(
        "a commit-only Ready is written without fsync",
        step([], hard(1, "a", 2)),
        false,
        1,
      );
      await synced(
        "a new term is durable before anything is sent",
        step([], hard(2, "", 2)),
        true,
        2,
      );
      await synced("a vote is durable before it is sent", step([], hard(2, "b", 2)), true, 3);
      await synced("entries of the new term are durable", step(entries(3, 3, 2)), true, 4);
    }
    {
      // The moved commit index went with the new term (nothing was left for close()).
      await using reopened = open(dir.path);
      assert.deepEqual(reopened.load().hardState, { term: 2, vote: "b", commit: 2 });
      const { fsyncs, syncedWrites } = reopened;
      assert.equal(await persist(reopened, step([], { term: 2, vote: "b", commit: 3 })), false);
      assert.equal(reopened.fsyncs, fsyncs);
      assert.equal(reopened.syncedWrites, syncedWrites);
    }
    // close() wrote the deferred commit index.
    await using reopened = open(dir.path);
    assert.deepEqual(reopened.load().hardState, { term: 2, vote: "b", commit: 3 });
  });

  Deno.test(`${name} refuses a data directory that belongs to another node`, async () => {
    await using dir = await tempDir();
    await open(dir.path, "a").close();
    assert.throws(() => open(dir.path, "b"), /belongs to node "a"/);
  });

  // A child process writes Readies and reports each one once its sync completed (when the
  // node would send what relies on it: the Ready contract's "durable before sent"); the
  // parent SIGKILLs it mid-stream. Everything reported must be there after the reopen.
  const crashWriter = `
import { ${name} } from ${JSON.stringify(backend.moduleUrl)};
const storage = ${name}.open(Deno.args[0], ${JSON.stringify(backend.crashWriterOptions)});
const data = new Uint8Array(100);
for (let i = 1; ; i++) {
  // Every 7th Ready rewrites its predecessor's entry in a new term (a conflicting suffix).
  const rewrite = i % 7 === 0;
  const index = rewrite ? i - 1 : i;
  storage.write({
    snapshot: undefined,
    entries: rewrite
      ? [{ index, term: i, type: 0, data }, { index: i, term: i, type: 0, data }]
      : [{ index, term: i, type: 0, data }],
    hardState: { term: i, vote: "a", commit: Math.max(0, i - 2) },
  });
  await new Promise((resolve, reject) => storage.sync(resolve, reject));
  console.log(i);
}
`;

  Deno.test(`${name} keeps every acknowledged Ready across a SIGKILL of the writer`, async () => {
    await using dir = await tempDir();
    const child = new Deno.Command(Deno.execPath(), {
      args: ["eval", "--ext=ts", crashWriter, dir.path],
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
      if (acknowledged >= backend.acknowledgedBeforeKill) {
        child.kill("SIGKILL");
        break;
      }
    }
    await child.stdout.cancel().catch(() => {});
    await child.status;
    await using storage = open(dir.path);
    backend.afterCrash?.(storage);
    const state = storage.load();
    const last = state.entries.at(-1)!;
    assert.ok(
      last.index >= acknowledged,
      `last index ${last.index} < acknowledged ${acknowledged}`,
    );
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
}
