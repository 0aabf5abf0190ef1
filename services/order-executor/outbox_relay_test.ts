/**
 * The outbox relay against the real embedded broker over TCP: what it published once it
 * never publishes again, also after the outbox rows were pruned (the relay must forget its
 * coverage, which vouched for them, and read the partition again).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { type Broker, startBroker } from "@trading/broker";
import { createIdempotentProducer, createKafka, TOPICS } from "@trading/shared/kafka";
import { getLogger } from "@trading/shared/log";
import { PartitionReader } from "@trading/shared/partition-reader";
import { tempDir } from "@trading/testing";
import { OrderOutbox, type OutboxRow } from "./order_outbox.ts";
import { OutboxRelay } from "./outbox_relay.ts";

function rows(prefix: string, count: number, tickCreatedAtUs: number): OutboxRow[] {
  return Array.from({ length: count }, (_, i) => ({
    orderId: `${prefix}-${i}`,
    eventsPartition: i % 3,
    sourcePartition: i % 3,
    sourceOffset: i,
    tickCreatedAtUs,
    event: new TextEncoder().encode(`event ${prefix}-${i}`),
  }));
}

async function withRelay(
  fn: (parts: { relay: OutboxRelay; outbox: OrderOutbox; reader: PartitionReader }) => Promise<
    void
  >,
): Promise<void> {
  await using dir = await tempDir();
  const broker: Broker = await startBroker({
    port: 0,
    dataDir: join(dir.path, "broker"),
    createTopics: [{ name: TOPICS.events, partitions: 3 }],
  });
  const kafka = createKafka({ clientId: "relay-test", brokers: [broker.address] });
  const producer = createIdempotentProducer(kafka);
  const outbox = new OrderOutbox(join(dir.path, "outbox.db"));
  let reader: PartitionReader | undefined;
  try {
    await producer.connect();
    reader = await PartitionReader.connect(kafka);
    const relay = new OutboxRelay({
      outbox,
      producer,
      reader,
      topic: TOPICS.events,
      log: getLogger("relay-test"),
    });
    await fn({ relay, outbox, reader });
  } finally {
    await reader?.close();
    await producer.disconnect();
    outbox.close();
    await broker.close();
  }
}

async function eventCount(reader: PartitionReader): Promise<number> {
  let total = 0;
  for (const partition of [0, 1, 2]) total += await reader.highWatermark(TOPICS.events, partition);
  return total;
}

const noFence = () => Promise.resolve();

Deno.test("OutboxRelay publishes a row once; a row inserted again after its prune is found, not resent", async () => {
  await withRelay(async ({ relay, outbox, reader }) => {
    const tickUs = Date.now() * 1000;
    const first = rows("order", 30, tickUs);
    outbox.insert(first);
    assert.deepEqual(await relay.publish(first.map((r) => r.orderId), noFence), {
      sent: 30,
      alreadyPublished: 0,
    });
    assert.equal(await eventCount(reader), 30);

    // More orders later, so that the coverage reaches past the pruned ones.
    const later = rows("later", 6, tickUs + 1000);
    outbox.insert(later);
    await relay.publish(later.map((r) => r.orderId), noFence);

    // Every published row goes; the commands come again (a redelivery from an older offset).
    assert.equal(await relay.prune(Date.now() + 1000), 36);
    assert.equal(outbox.get("order-0"), undefined);
    assert.deepEqual(outbox.insert(first), first.map((r) => r.orderId));
    assert.deepEqual(await relay.publish(first.map((r) => r.orderId), noFence), {
      sent: 0,
      alreadyPublished: 30,
    });
    assert.equal(await eventCount(reader), 36);
    assert.equal(outbox.depth(), 0);
  });
});

Deno.test("OutboxRelay.prune() waits for the publish in flight and holds the next one back", async () => {
  await withRelay(async ({ relay, outbox }) => {
    const tickUs = Date.now() * 1000;
    const batch = rows("order", 9, tickUs);
    outbox.insert(batch);
    const order: string[] = [];
    let reachFence!: () => void;
    let releaseFence!: () => void;
    const fenceReached = new Promise<void>((resolve) => reachFence = resolve);
    const firstPublish = relay.publish(batch.map((r) => r.orderId), () => {
      reachFence();
      return new Promise<void>((resolve) => releaseFence = resolve);
    }).then(() => order.push("publish"));
    await fenceReached;
    const pruning = relay.prune(Date.now() + 1000).then((deleted) => {
      order.push(`prune ${deleted}`);
    });
    const next = rows("next", 3, tickUs);
    outbox.insert(next);
    const nextPublish = relay.publish(next.map((r) => r.orderId), noFence).then((result) => {
      order.push(`next sent ${result.sent}`);
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(order, [], "nothing finishes while the first publish waits at its fence");
    releaseFence();
    await Promise.all([firstPublish, pruning, nextPublish]);
    // The prune ran between the two publishes: it deleted the 9 sent rows, not the pending 3.
    assert.deepEqual(order, ["publish", "prune 9", "next sent 3"]);
    assert.equal(outbox.depth(), 0);
  });
});

Deno.test("OrderOutbox.prune() deletes published rows before the cutoff and never a pending one", async () => {
  await using dir = await tempDir();
  const outbox = new OrderOutbox(join(dir.path, "outbox.db"));
  try {
    outbox.insert(rows("o", 4, 1_000));
    outbox.markSent([{ orderId: "o-0", offset: 0 }]);
    outbox.recordSeen([{ orderId: "o-1", eventsPartition: 1, offset: 0, event: new Uint8Array() }]);
    assert.equal(outbox.prune(Date.now() - 60_000), 0, "nothing is old enough yet");
    assert.equal(outbox.prune(Date.now() + 1000), 2);
    assert.deepEqual(outbox.pending(["o-0", "o-1", "o-2", "o-3"]).map((r) => r.orderId), [
      "o-2",
      "o-3",
    ]);
  } finally {
    outbox.close();
  }
});
