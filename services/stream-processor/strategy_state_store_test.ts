import assert from "node:assert/strict";
import { join } from "node:path";
import { tempDir } from "@trading/testing";
import { snapshotKey, StrategyStateStore } from "./strategy_state_store.ts";

Deno.test("StrategyStateStore saves offsets, sequences and snapshots of a partition together", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "state.db");
  let store = new StrategyStateStore(path);
  assert.deepEqual(store.load("t", 0), {
    nextOffset: undefined,
    lastSequence: new Map(),
    snapshots: new Map(),
  });
  store.save("t", 0, 42, {
    lastSequence: [["AAA", 7]],
    snapshots: [[snapshotKey("mac", "AAA"), '{"v":1}']],
  });
  store.save("t", 1, 5, { lastSequence: [], snapshots: [] });
  store.close();

  store = new StrategyStateStore(path);
  try {
    const loaded = store.load("t", 0);
    assert.equal(loaded.nextOffset, 42);
    assert.deepEqual([...loaded.lastSequence], [["AAA", 7]]);
    assert.deepEqual([...loaded.snapshots], [[snapshotKey("mac", "AAA"), '{"v":1}']]);
    assert.equal(store.load("t", 1).nextOffset, 5);
  } finally {
    store.close();
  }
});

Deno.test("StrategyStateStore.bindToCluster() forgets state made against another Kafka cluster", async () => {
  await using dir = await tempDir();
  const store = new StrategyStateStore(join(dir.path, "state.db"));
  try {
    assert.equal(store.bindToCluster("a"), false);
    store.save("t", 0, 42, { lastSequence: [["AAA", 7]], snapshots: [] });
    assert.equal(store.bindToCluster("a"), false);
    assert.equal(store.load("t", 0).nextOffset, 42);
    assert.equal(store.bindToCluster("b"), true);
    assert.equal(store.load("t", 0).nextOffset, undefined);
  } finally {
    store.close();
  }
});
