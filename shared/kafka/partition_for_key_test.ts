import assert from "node:assert/strict";
import { withBroker } from "@trading/testing/with-broker";
import { createKafka } from "./kafka.ts";
import { PartitionReader } from "./partition_reader.ts";
import { partitionForKey } from "./partition_for_key.ts";

Deno.test("partitionForKey() gives the Java client's murmur2 partitions", () => {
  // Expected values from kafka-python's murmur2 (kafka.partitioner.default), a port of the
  // Java client's DefaultPartitioner: (murmur2(key) & 0x7fffffff) % partitions.
  const cases: Array<[string, number, number]> = [
    ["k0", 2, 5],
    ["AAPL", 0, 9],
    ["MSFT", 0, 6],
    ["mac-SYM1-7", 1, 10],
    ["brk-AAPL-12", 2, 2],
  ];
  for (const [key, of3, of12] of cases) {
    assert.equal(partitionForKey(key, 3), of3, `${key} of 3`);
    assert.equal(partitionForKey(key, 12), of12, `${key} of 12`);
  }
});

Deno.test("partitionForKey() rejects a partition count that is not a positive integer", () => {
  assert.throws(
    () => partitionForKey("k", 0),
    /Invalid partition count 0: expected an integer >= 1/,
  );
  assert.throws(() => partitionForKey("k", 1.5), /Invalid partition count 1.5/);
});

Deno.test("partitionForKey() matches where kafkajs's producer puts a key", async () => {
  await withBroker({ createTopics: [{ name: "t", partitions: 3 }] }, async (broker) => {
    const kafka = createKafka({ clientId: "partition-test", brokers: [broker.address] });
    const producer = kafka.producer();
    await producer.connect();
    const keys = Array.from({ length: 40 }, (_, i) => `mac-SYM${i}-${i * 7}`);
    const results = await producer.send({
      topic: "t",
      acks: -1,
      messages: keys.map((key) => ({ key, value: key })),
    });
    await producer.disconnect();
    const reader = await PartitionReader.connect(kafka);
    try {
      const { records } = await reader.fetchMany("t", new Map([[0, 0], [1, 0], [2, 0]]));
      assert.equal(records.length, keys.length);
      for (const record of records) {
        const key = new TextDecoder().decode(record.key!);
        assert.equal(record.partition, partitionForKey(key, 3), key);
      }
      assert.ok(new Set(results.map((r) => r.partition)).size > 1);
    } finally {
      await reader.close();
    }
  });
});
