import assert from "node:assert/strict";
import type { EachBatchPayload } from "kafkajs";
import { withBroker } from "@trading/testing/with-broker";
import { GroupConsumer } from "./group_consumer.ts";
import { createKafka } from "./kafka.ts";
import { getLogger } from "../runtime/log.ts";
import { registry } from "../runtime/metrics.ts";
import { waitFor } from "@trading/testing";

Deno.test("GroupConsumer joins its group, reports the partitions it owns and hands every batch over", async () => {
  await withBroker({ createTopics: [{ name: "in", partitions: 2 }] }, async (broker) => {
    const kafka = createKafka({ clientId: "group-test", brokers: [broker.address] });
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({
      topic: "in",
      acks: -1,
      messages: [{ value: "a", partition: 0 }, { value: "b", partition: 1 }, {
        value: "c",
        partition: 1,
      }],
    });
    await producer.disconnect();

    const joins: number[][] = [];
    const fatal: unknown[] = [];
    const group = new GroupConsumer({
      kafka,
      groupId: "group-test",
      topic: "in",
      sessionTimeoutMs: 6000,
      log: getLogger("test"),
      onJoin: (partitions) => joins.push(partitions),
      onFatal: (error) => fatal.push(error),
    });
    const values: string[] = [];
    try {
      assert.equal(group.readiness(), "consumer has not joined its group yet");
      await group.connect();
      await group.run(
        async ({ batch, resolveOffset, commitOffsetsIfNecessary }: EachBatchPayload) => {
          for (const message of batch.messages) values.push(message.value!.toString());
          const last = batch.messages.at(-1)!.offset;
          resolveOffset(last);
          await commitOffsetsIfNecessary({
            topics: [{
              topic: batch.topic,
              partitions: [{ partition: batch.partition, offset: String(Number(last) + 1) }],
            }],
          });
        },
      );
      await waitFor("three records", () => values.length === 3);
      assert.equal(group.readiness(), true);
      assert.deepEqual(joins, [[0, 1]]);
      assert.deepEqual(values.sort(), ["a", "b", "c"]);
      const lag = await registry.getSingleMetric("consumer_lag")?.get();
      assert.deepEqual(
        lag?.values.filter((v) => v.labels.topic === "in").map((v) => v.labels.partition).sort(),
        ["0", "1"],
      );
    } finally {
      await group.disconnect();
    }
    const admin = kafka.admin();
    await admin.connect();
    try {
      const committed = await admin.fetchOffsets({ groupId: "group-test", topics: ["in"] });
      assert.deepEqual(
        committed[0]!.partitions.map((p) => [p.partition, p.offset]).sort(),
        [[0, "1"], [1, "2"]],
      );
    } finally {
      await admin.disconnect();
    }
    assert.deepEqual(fatal, []);
  });
});
