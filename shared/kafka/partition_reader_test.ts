import assert from "node:assert/strict";
import { withBroker } from "@trading/testing/with-broker";
import { createKafka } from "./kafka.ts";
import { MissingTopicError, PartitionReader } from "./partition_reader.ts";
import { partitionForKey } from "./partition_for_key.ts";

Deno.test("PartitionReader reads ranges, offsets and offsets by time without a group", async () => {
  await withBroker({ createTopics: [{ name: "t", partitions: 3 }] }, async (broker) => {
    const kafka = createKafka({ clientId: "reader-test", brokers: [broker.address] });
    const producer = kafka.producer();
    await producer.connect();
    const before = Date.now();
    for (let i = 0; i < 30; i++) {
      await producer.send({
        topic: "t",
        acks: -1,
        messages: [{ key: `k${i % 5}`, value: `v${i}`, headers: { n: String(i) } }],
      });
    }
    await new Promise((r) => setTimeout(r, 20));
    const middle = Date.now();
    await producer.send({ topic: "t", acks: -1, messages: [{ key: "k0", value: "late" }] });
    await producer.disconnect();

    const reader = await PartitionReader.connect(kafka);
    try {
      const offsets = await reader.offsets("t");
      assert.deepEqual(offsets.map((o) => o.partition), [0, 1, 2]);
      assert.equal(offsets.reduce((n, o) => n + o.high - o.low, 0), 31);

      const p0 = partitionForKey("k0", 3);
      const values: string[] = [];
      const high = offsets[p0]!.high;
      await reader.readRange(
        "t",
        p0,
        0,
        high,
        (r) => values.push(new TextDecoder().decode(r.value!)),
      );
      assert.equal(values.length, high);
      assert.ok(values.includes("v0") && values.at(-1) === "late");
      for (let i = 0; i < 30; i++) {
        // Each key lives on the partition partitionForKey() says.
        if (i % 5 === 0) assert.ok(values.includes(`v${i}`));
      }

      const lateOffset = await reader.offsetForTimestamp("t", p0, middle);
      assert.equal(lateOffset, high - 1);
      assert.equal(await reader.offsetForTimestamp("t", p0, before - 60_000), 0);
      assert.equal(await reader.offsetForTimestamp("t", p0, Date.now() + 60_000), high);

      const many = await reader.fetchMany("t", new Map([[0, 0], [1, 0], [2, 0]]));
      assert.equal(many.records.length, 31);
      assert.equal(many.records.find((r) => r.headers.n === "7")?.key?.length, 2);
    } finally {
      await reader.close();
    }
  });
});

Deno.test("PartitionReader reads committed transactions only: aborted records and markers are skipped, an open transaction ends the read", async () => {
  await withBroker({ createTopics: [{ name: "tx", partitions: 1 }] }, async (broker) => {
    const kafka = createKafka({ clientId: "reader-txn-test", brokers: [broker.address] });
    const producer = kafka.producer({
      transactionalId: "reader-txn",
      idempotent: true,
      maxInFlightRequests: 1,
    });
    await producer.connect();
    const send = async (values: string[], commit: boolean) => {
      const txn = await producer.transaction();
      await txn.send({ topic: "tx", messages: values.map((value) => ({ value })) });
      if (commit) await txn.commit();
      else await txn.abort();
    };
    await send(["c1", "c2"], true); // offsets 0, 1, marker 2
    await send(["a1", "a2"], false); // 3, 4, marker 5
    await send(["c3"], true); // 6, marker 7
    const open = await producer.transaction();
    await open.send({ topic: "tx", messages: [{ value: "o1" }] }); // 8, open
    const reader = await PartitionReader.connect(kafka);
    try {
      const values: string[] = [];
      await reader.readRange(
        "tx",
        0,
        0,
        100,
        (r) => values.push(new TextDecoder().decode(r.value!)),
      );
      assert.deepEqual(values, ["c1", "c2", "c3"]);
      const many = await reader.fetchMany("tx", new Map([[0, 0]]));
      assert.deepEqual(many.records.map((r) => r.offset), [0, 1, 6]);
      assert.equal(many.lastStableOffsets.get(0), 8, "the open transaction's first offset");
      assert.equal(many.nextOffsets.get(0), 8, "past the last marker");
      assert.equal(many.highWatermarks.get(0), 9);
    } finally {
      await open.abort();
      await producer.disconnect();
      await reader.close();
    }
  });
});

Deno.test("PartitionReader.requireTopics() counts the partitions of existing topics and names a missing one without creating it", async () => {
  // Auto-creation on, as Kafka's default: the check must not be what creates the topic.
  const options = { autoCreateTopics: true, createTopics: [{ name: "here", partitions: 2 }] };
  await withBroker(options, async (broker) => {
    const kafka = createKafka({ clientId: "reader-test", brokers: [broker.address] });
    const reader = await PartitionReader.connect(kafka);
    try {
      assert.deepEqual([...await reader.requireTopics(["here"])], [["here", 2]]);
      await assert.rejects(
        reader.requireTopics(["here", "absent"]),
        (error) => error instanceof MissingTopicError && error.topic === "absent",
      );
      assert.equal(broker.topics.has("absent"), false);
    } finally {
      await reader.close();
    }
  });
});
