import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { bindToKafkaCluster } from "./bind_to_kafka_cluster.ts";

Deno.test("bindToKafkaCluster() keeps the state for the same cluster and resets it for another", () => {
  const db = new DatabaseSync(":memory:");
  try {
    let resets = 0;
    const reset = () => resets++;
    assert.equal(bindToKafkaCluster(db, "cluster-a", reset), false, "first binding");
    assert.equal(bindToKafkaCluster(db, "cluster-a", reset), false, "same cluster");
    assert.equal(resets, 0);
    assert.equal(bindToKafkaCluster(db, "cluster-b", reset), true, "another cluster");
    assert.equal(resets, 1);
    assert.equal(bindToKafkaCluster(db, "cluster-b", reset), false, "bound to the new one");
    assert.deepEqual(
      { ...db.prepare("SELECT value FROM meta WHERE key = 'kafka_cluster_id'").get() },
      { value: "cluster-b" },
    );
  } finally {
    db.close();
  }
});
