/**
 * kafkajs 2.2.4, our services' client, against the broker over TCP: produce, consume,
 * admin, a two-member consumer group that rebalances when one member leaves, and the
 * idempotent producer.
 */
import assert from "node:assert/strict";
import { type Consumer, Kafka, logLevel } from "kafkajs";
import { waitFor } from "@trading/testing";
import { withBroker } from "@trading/testing/with-broker";

function client(address: string, clientId = "kafkajs-test"): Kafka {
  return new Kafka({
    clientId,
    brokers: [address],
    logLevel: logLevel.NOTHING,
    retry: { retries: 5, initialRetryTime: 50 },
  });
}

Deno.test("kafkajs admin creates and lists topics", async () => {
  await withBroker({}, async (broker) => {
    const admin = client(broker.address).admin();
    await admin.connect();
    try {
      assert.equal(
        await admin.createTopics({ topics: [{ topic: "alpha", numPartitions: 3 }] }),
        true,
      );
      assert.equal(
        await admin.createTopics({ topics: [{ topic: "alpha", numPartitions: 3 }] }),
        false,
      );
      await admin.createTopics({ topics: [{ topic: "beta" }] });
      assert.deepEqual((await admin.listTopics()).sort(), ["alpha", "beta"]);
      const metadata = await admin.fetchTopicMetadata({ topics: ["alpha"] });
      assert.equal(metadata.topics[0]!.partitions.length, 3);
      await admin.deleteTopics({ topics: ["beta"] });
      assert.deepEqual(await admin.listTopics(), ["alpha"]);
    } finally {
      await admin.disconnect();
    }
  });
});

Deno.test("kafkajs produces keyed messages and a consumer reads them back in order per partition", async () => {
  await withBroker({ createTopics: [{ name: "orders", partitions: 3 }] }, async (broker) => {
    const kafka = client(broker.address);
    const producer = kafka.producer();
    await producer.connect();
    const sent = Array.from({ length: 300 }, (_, i) => ({
      key: `k${i % 7}`,
      value: `value-${i}`,
      headers: { seq: String(i) },
    }));
    for (let i = 0; i < sent.length; i += 50) {
      await producer.send({ topic: "orders", messages: sent.slice(i, i + 50), acks: -1 });
    }
    await producer.disconnect();

    const consumer = kafka.consumer({ groupId: "readers", maxWaitTimeInMs: 100 });
    const received: { key: string; value: string; seq: number; partition: number }[] = [];
    await consumer.connect();
    try {
      await consumer.subscribe({ topic: "orders", fromBeginning: true });
      await consumer.run({
        eachMessage: ({ partition, message }) => {
          received.push({
            key: message.key!.toString(),
            value: message.value!.toString(),
            seq: Number(message.headers!.seq!.toString()),
            partition,
          });
          return Promise.resolve();
        },
      });
      await waitFor("300 messages consumed", () => received.length >= 300, { timeoutMs: 20_000 });
    } finally {
      await consumer.disconnect();
    }
    assert.equal(received.length, 300);
    const byKey = new Map<string, number[]>();
    for (const m of received) {
      assert.equal(m.value, `value-${m.seq}`);
      byKey.set(m.key, [...(byKey.get(m.key) ?? []), m.seq]);
    }
    for (const [key, seqs] of byKey) {
      assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), `messages of ${key} stay in order`);
    }
  });
});

Deno.test("kafkajs consumer group of two members rebalances when one leaves", async () => {
  await withBroker({ createTopics: [{ name: "work", partitions: 4 }] }, async (broker) => {
    const kafka = client(broker.address);
    const assignments = new Map<string, number[]>();
    const make = async (name: string): Promise<Consumer> => {
      const consumer = kafka.consumer({
        groupId: "workers",
        sessionTimeout: 6000,
        heartbeatInterval: 200,
        maxWaitTimeInMs: 100,
      });
      consumer.on(consumer.events.GROUP_JOIN, (event) => {
        assignments.set(name, event.payload.memberAssignment["work"] ?? []);
      });
      await consumer.connect();
      await consumer.subscribe({ topic: "work", fromBeginning: true });
      await consumer.run({ eachMessage: async () => {} });
      return consumer;
    };
    const a = await make("a");
    const b = await make("b");
    try {
      await waitFor("both members assigned disjoint halves", () => {
        const pa = assignments.get("a") ?? [];
        const pb = assignments.get("b") ?? [];
        return pa.length === 2 && pb.length === 2 && new Set([...pa, ...pb]).size === 4;
      }, { timeoutMs: 20_000 });
      await b.disconnect();
      await waitFor(
        "the remaining member owns every partition",
        () => assignments.get("a")?.length === 4,
        {
          timeoutMs: 20_000,
        },
      );
    } finally {
      await b.disconnect();
      await a.disconnect();
    }
  });
});

Deno.test("kafkajs idempotent producer writes every message exactly once", async () => {
  await withBroker({ createTopics: [{ name: "ledger", partitions: 1 }] }, async (broker) => {
    const kafka = client(broker.address);
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    for (let i = 0; i < 20; i++) {
      await producer.send({ topic: "ledger", messages: [{ value: `m${i}` }, { value: `n${i}` }] });
    }
    await producer.disconnect();
    assert.equal(broker.topics.get("ledger", 0)!.highWatermark, 40);
    const admin = kafka.admin();
    await admin.connect();
    try {
      const offsets = await admin.fetchTopicOffsets("ledger");
      assert.equal(offsets[0]!.high, "40");
      assert.equal(offsets[0]!.low, "0");
    } finally {
      await admin.disconnect();
    }
  });
});
