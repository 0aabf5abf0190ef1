import assert from "node:assert/strict";
import { withBroker } from "@trading/testing/with-broker";
import { DeadLetterQueue, DLQ_HEADERS } from "./dead_letter_queue.ts";
import { createKafka, TOPICS } from "../kafka/kafka.ts";
import { metricValue } from "../runtime/metrics.ts";
import { PartitionReader } from "../kafka/partition_reader.ts";

function deadLettersCounted(topic: string, reason: string): Promise<number> {
  return metricValue("dead_letters_total", { topic, reason });
}

Deno.test("DeadLetterQueue copies key and value to orders.dlq with reason and origin headers, and counts them", async () => {
  await withBroker({ createTopics: [{ name: TOPICS.dlq, partitions: 1 }] }, async (broker) => {
    const kafka = createKafka({ clientId: "dlq-test", brokers: [broker.address] });
    const producer = kafka.producer();
    await producer.connect();
    const before = await deadLettersCounted(TOPICS.ticks, "undecodable");
    try {
      const dlq = new DeadLetterQueue(producer, "dlq-test-service");
      await dlq.send([]);
      await dlq.send([
        {
          topic: TOPICS.ticks,
          partition: 2,
          offset: 17,
          key: "AAPL",
          value: new Uint8Array([0xff, 0x00]),
          reason: "undecodable",
          detail: "Invalid tick: expected a trading.v1.Tick",
        },
        {
          topic: TOPICS.commands,
          partition: 0,
          offset: 3,
          key: null,
          value: null,
          reason: "conflict",
          detail: "Order id x was recorded with another command",
        },
      ]);
    } finally {
      await producer.disconnect();
    }
    assert.equal(await deadLettersCounted(TOPICS.ticks, "undecodable"), before + 1);

    const reader = await PartitionReader.connect(kafka);
    try {
      const { records } = await reader.fetch(TOPICS.dlq, 0, 0);
      assert.equal(records.length, 2);
      const [bad, conflict] = records as [typeof records[0], typeof records[0]];
      assert.equal(new TextDecoder().decode(bad.key!), "AAPL");
      assert.deepEqual([...bad.value!], [0xff, 0x00]);
      assert.deepEqual(bad.headers, {
        [DLQ_HEADERS.reason]: "undecodable",
        [DLQ_HEADERS.detail]: "Invalid tick: expected a trading.v1.Tick",
        [DLQ_HEADERS.topic]: TOPICS.ticks,
        [DLQ_HEADERS.partition]: "2",
        [DLQ_HEADERS.offset]: "17",
        [DLQ_HEADERS.service]: "dlq-test-service",
      });
      assert.equal(conflict.key, null);
      assert.equal(conflict.value, null);
      assert.equal(conflict.headers[DLQ_HEADERS.reason], "conflict");
      assert.equal(conflict.headers[DLQ_HEADERS.topic], TOPICS.commands);
    } finally {
      await reader.close();
    }
  });
});
