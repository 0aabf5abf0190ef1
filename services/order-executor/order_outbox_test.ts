import assert from "node:assert/strict";
import { join } from "node:path";
import { tempDir } from "@trading/testing";
import { OrderOutbox, type OutboxRow } from "./order_outbox.ts";

function row(orderId: string, sourceOffset: number, event = [1]): OutboxRow {
  return {
    orderId,
    eventsPartition: 1,
    sourcePartition: 2,
    sourceOffset,
    tickCreatedAtUs: 1_000,
    event: new Uint8Array(event),
  };
}

Deno.test("OrderOutbox keeps the first event of an order id (INSERT OR IGNORE)", async () => {
  await using dir = await tempDir();
  const outbox = new OrderOutbox(join(dir.path, "outbox.db"));
  try {
    assert.deepEqual(outbox.insert([row("a", 1, [1]), row("b", 2)]), ["a", "b"]);
    assert.deepEqual(outbox.insert([row("a", 9, [9]), row("c", 3)]), ["c"]);
    assert.deepEqual(outbox.get("a")?.event, new Uint8Array([1]));
    assert.equal(outbox.get("a")?.sourceOffset, 1);
    assert.equal(outbox.depth(), 3);
  } finally {
    outbox.close();
  }
});

Deno.test("OrderOutbox publishes only pending rows: sent and seen ones never again", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "outbox.db");
  let outbox = new OrderOutbox(path);
  outbox.insert([row("a", 1), row("b", 2), row("c", 3)]);
  outbox.markSent([{ orderId: "a", offset: 10 }]);
  assert.equal(
    outbox.recordSeen([{ orderId: "b", eventsPartition: 1, offset: 11, event: new Uint8Array() }]),
    1,
  );
  // An id seen in orders.events before any command for it arrives here.
  outbox.recordSeen([{ orderId: "z", eventsPartition: 1, offset: 12, event: new Uint8Array() }]);
  outbox.close();

  outbox = new OrderOutbox(path); // durable across a reopen
  try {
    assert.deepEqual(outbox.pending(["a", "b", "c", "z"]).map((r) => r.orderId), ["c"]);
    assert.deepEqual(outbox.insert([row("z", 4)]), []);
    assert.deepEqual(outbox.pendingBefore(2, 4).map((r) => r.orderId), ["c"]);
    assert.deepEqual(outbox.pendingBefore(2, 3), []);
    assert.equal(outbox.depth(), 1);
  } finally {
    outbox.close();
  }
});

Deno.test("OrderOutbox.bindToCluster() empties an outbox made against another Kafka cluster", async () => {
  await using dir = await tempDir();
  const outbox = new OrderOutbox(join(dir.path, "outbox.db"));
  try {
    assert.equal(outbox.bindToCluster("cluster-a"), false);
    outbox.insert([row("a", 1)]);
    assert.equal(outbox.bindToCluster("cluster-a"), false);
    assert.equal(outbox.depth(), 1);
    assert.equal(outbox.bindToCluster("cluster-b"), true);
    assert.equal(outbox.get("a"), undefined);
  } finally {
    outbox.close();
  }
});
