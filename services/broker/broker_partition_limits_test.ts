/**
 * Partition limits (issue 13): CreateTopics and CreatePartitions beyond the partitions one
 * topic may have or the broker may hold are refused with POLICY_VIOLATION (44) and a
 * message naming the variable, an auto-creation beyond them is not done, and kafkajs' admin
 * sees the refusal; the variables are validated by name.
 */
import assert from "node:assert/strict";
import { Kafka, logLevel } from "kafkajs";
import { withBroker } from "@trading/testing/with-broker";
import { loadBrokerConfig } from "./config.ts";
import { ErrorCode } from "./protocol/error_codes.ts";
import * as M from "./protocol/messages.ts";
import { RawKafkaClient } from "@trading/testing/raw-kafka-client";

async function createTopic(
  client: RawKafkaClient,
  name: string,
  numPartitions: number,
  validateOnly = false,
) {
  const response = await client.request(M.createTopics, 5, {
    topics: [{ name, numPartitions, replicationFactor: 1, assignments: [], configs: [] }],
    timeoutMs: 1000,
    validateOnly,
  });
  return response.topics[0]!;
}

async function growTopic(client: RawKafkaClient, name: string, count: number) {
  const response = await client.request(M.createPartitions, 3, {
    topics: [{ name, count, assignments: null }],
    timeoutMs: 1000,
    validateOnly: false,
  });
  return response.results[0]!;
}

Deno.test("CreateTopics beyond maxPartitionsPerTopic or maxPartitions is refused with POLICY_VIOLATION", async () => {
  await withBroker({ maxPartitionsPerTopic: 10, maxPartitions: 25 }, async (broker) => {
    const client = await RawKafkaClient.connect(broker.address);
    try {
      const wide = await createTopic(client, "wide", 11);
      assert.equal(wide.errorCode, ErrorCode.POLICY_VIOLATION);
      assert.match(
        wide.errorMessage ?? "",
        /11 partitions, more than 10 \(BROKER_MAX_PARTITIONS_PER_TOPIC\)/,
      );
      assert.equal(broker.topics.has("wide"), false);
      assert.equal((await createTopic(client, "a", 10)).errorCode, ErrorCode.NONE);
      assert.equal((await createTopic(client, "b", 10)).errorCode, ErrorCode.NONE);
      // validateOnly answers as the creation would.
      const validated = await createTopic(client, "c", 6, true);
      assert.equal(validated.errorCode, ErrorCode.POLICY_VIOLATION);
      const over = await createTopic(client, "c", 6);
      assert.equal(over.errorCode, ErrorCode.POLICY_VIOLATION);
      assert.match(
        over.errorMessage ?? "",
        /26 partitions, more than 25 \(BROKER_MAX_PARTITIONS\)/,
      );
      assert.equal(broker.topics.has("c"), false);
      assert.equal((await createTopic(client, "c", 5)).errorCode, ErrorCode.NONE);
      assert.equal(broker.topics.partitionCount(), 25);
      // A count below 1 stays INVALID_PARTITIONS, as Kafka.
      assert.equal((await createTopic(client, "zero", 0)).errorCode, ErrorCode.INVALID_PARTITIONS);
    } finally {
      client.close();
    }
  });
});

Deno.test("CreatePartitions beyond the limits is refused with POLICY_VIOLATION; freed partitions count again", async () => {
  await withBroker({ maxPartitionsPerTopic: 10, maxPartitions: 25 }, async (broker) => {
    const client = await RawKafkaClient.connect(broker.address);
    try {
      assert.equal((await createTopic(client, "a", 5)).errorCode, ErrorCode.NONE);
      assert.equal((await createTopic(client, "b", 10)).errorCode, ErrorCode.NONE);
      assert.equal((await createTopic(client, "c", 10)).errorCode, ErrorCode.NONE);
      const total = await growTopic(client, "a", 6);
      assert.equal(total.errorCode, ErrorCode.POLICY_VIOLATION);
      assert.match(total.errorMessage ?? "", /\(BROKER_MAX_PARTITIONS\)/);
      assert.equal(broker.topics.partitions("a")?.length, 5);
      await client.request(M.deleteTopics, 4, { topicNames: ["c"], timeoutMs: 1000 });
      assert.equal((await growTopic(client, "a", 10)).errorCode, ErrorCode.NONE);
      const perTopic = await growTopic(client, "a", 11);
      assert.equal(perTopic.errorCode, ErrorCode.POLICY_VIOLATION);
      assert.match(perTopic.errorMessage ?? "", /\(BROKER_MAX_PARTITIONS_PER_TOPIC\)/);
      assert.equal(broker.topics.partitions("a")?.length, 10);
    } finally {
      client.close();
    }
  });
});

Deno.test("Metadata does not auto-create a topic beyond maxPartitions: UNKNOWN_TOPIC_OR_PARTITION", async () => {
  await withBroker({ maxPartitions: 3, defaultPartitions: 2 }, async (broker) => {
    const client = await RawKafkaClient.connect(broker.address);
    try {
      const lookup = (name: string) =>
        client.request(M.metadata, 9, {
          topics: [{ name }],
          allowAutoTopicCreation: true,
        });
      assert.equal((await lookup("first")).topics[0]!.errorCode, ErrorCode.NONE);
      const second = await lookup("second");
      assert.equal(second.topics[0]!.errorCode, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
      assert.equal(broker.topics.has("second"), false);
      assert.deepEqual(broker.topics.names(), ["first"]);
    } finally {
      client.close();
    }
  });
});

Deno.test("kafkajs admin.createTopics() beyond maxPartitionsPerTopic fails with POLICY_VIOLATION", async () => {
  await withBroker({ maxPartitionsPerTopic: 100 }, async (broker) => {
    const kafka = new Kafka({ brokers: [broker.address], logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    try {
      await assert.rejects(
        admin.createTopics({ topics: [{ topic: "huge", numPartitions: 10_000 }] }),
        (error: { errors?: { type?: string }[] }) => {
          assert.equal(error.errors?.[0]?.type, "POLICY_VIOLATION");
          return true;
        },
      );
      assert.equal(broker.topics.has("huge"), false);
      assert.equal(
        await admin.createTopics({ topics: [{ topic: "fine", numPartitions: 100 }] }),
        true,
      );
    } finally {
      await admin.disconnect();
    }
  });
});

Deno.test("BROKER_MAX_PARTITIONS_PER_TOPIC and BROKER_MAX_PARTITIONS default to 1000 and 4000 and are validated by name", () => {
  const config = loadBrokerConfig({});
  assert.equal(config.broker.maxPartitionsPerTopic, 1000);
  assert.equal(config.broker.maxPartitions, 4000);
  assert.throws(
    () => loadBrokerConfig({ BROKER_MAX_PARTITIONS_PER_TOPIC: "0" }),
    /BROKER_MAX_PARTITIONS_PER_TOPIC/,
  );
  assert.throws(() => loadBrokerConfig({ BROKER_MAX_PARTITIONS: "many" }), /BROKER_MAX_PARTITIONS/);
  assert.throws(
    () =>
      loadBrokerConfig({ BROKER_DEFAULT_PARTITIONS: "20", BROKER_MAX_PARTITIONS_PER_TOPIC: "10" }),
    /BROKER_DEFAULT_PARTITIONS 20: expected at most BROKER_MAX_PARTITIONS_PER_TOPIC \(10\)/,
  );
});
