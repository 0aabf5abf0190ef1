/**
 * Topic auto-creation as Kafka's `auto.create.topics.enable` (on by default): a client that
 * produces to or asks Metadata for a topic nobody created gets it, with the default
 * partition count; a Metadata request that does not allow it, or a broker with the switch
 * off, leaves the topic unknown.
 */
import assert from "node:assert/strict";
import { Kafka, logLevel } from "kafkajs";
import { ErrorCode } from "./protocol/error_codes.ts";
import * as M from "./protocol/messages.ts";
import { RawKafkaClient } from "@trading/testing/raw-kafka-client";
import { withBroker } from "@trading/testing/with-broker";

function kafka(address: string): Kafka {
  return new Kafka({
    clientId: "auto-create-test",
    brokers: [address],
    logLevel: logLevel.NOTHING,
    retry: { retries: 2, initialRetryTime: 50 },
  });
}

Deno.test("broker creates a topic that kafkajs produces to without creating it, by default", async () => {
  await withBroker({ defaultPartitions: 3 }, async (broker) => {
    const producer = kafka(broker.address).producer();
    await producer.connect();
    try {
      const [sent] = await producer.send({
        topic: "never.created",
        messages: [{ value: "first" }],
        acks: -1,
      });
      assert.equal(sent!.errorCode, 0);
    } finally {
      await producer.disconnect();
    }
    assert.equal(broker.topics.partitions("never.created")?.length, 3);
  });
});

Deno.test("broker with autoCreateTopics false leaves an unknown topic unknown to kafkajs", async () => {
  await withBroker({ autoCreateTopics: false }, async (broker) => {
    const producer = kafka(broker.address).producer();
    await producer.connect();
    try {
      await assert.rejects(
        producer.send({ topic: "never.created", messages: [{ value: "first" }] }),
        /does not host this topic-partition|unknown topic/i,
      );
    } finally {
      await producer.disconnect();
    }
    assert.equal(broker.topics.has("never.created"), false);
  });
});

Deno.test("Metadata creates an unknown topic only when the request allows it", async () => {
  await withBroker({}, async (broker) => {
    const client = await RawKafkaClient.connect(broker.address);
    try {
      const refused = await client.request(M.metadata, 9, {
        topics: [{ name: "lazy" }],
        allowAutoTopicCreation: false,
      });
      assert.equal(refused.topics[0]!.errorCode, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
      assert.equal(broker.topics.has("lazy"), false);
      // An all-topics request never creates anything (Kafka: !metadataRequest.isAllTopics).
      await client.request(M.metadata, 9, {
        topics: null,
        allowAutoTopicCreation: true,
      });
      assert.equal(broker.topics.has("lazy"), false);
      const created = await client.request(M.metadata, 9, {
        topics: [{ name: "lazy" }],
        allowAutoTopicCreation: true,
      });
      assert.equal(created.topics[0]!.errorCode, ErrorCode.NONE);
      assert.equal(created.topics[0]!.partitions.length, 1);
      // Metadata v0-v3 have no allowAutoTopicCreation field: Kafka creates for them.
      const v1 = await client.request(M.metadata, 1, {
        topics: [{ name: "lazy.v1" }],
      });
      assert.equal(v1.topics[0]!.errorCode, ErrorCode.NONE);
      assert.equal(broker.topics.has("lazy.v1"), true);
    } finally {
      client.close();
    }
  });
});
