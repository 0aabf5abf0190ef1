/**
 * The admin APIs a Kafka client relies on, through kafkajs's admin client over TCP:
 * CreatePartitions, DeleteRecords, DescribeConfigs and AlterConfigs with the topic configs
 * enforced (retention.ms deletes, max.message.bytes refuses) and durable across a restart;
 * IncrementalAlterConfigs (no kafkajs API) with raw requests.
 */
import assert from "node:assert/strict";
import { ConfigResourceTypes, Kafka, logLevel } from "kafkajs";
import { tempDir, waitFor } from "@trading/testing";
import { type BrokerOptions, startBroker } from "./broker.ts";
import { ErrorCode } from "./protocol/error_codes.ts";
import * as M from "./protocol/messages.ts";
import { RawKafkaClient } from "@trading/testing/raw-kafka-client";
import { withBroker } from "@trading/testing/with-broker";

function kafka(address: string): Kafka {
  return new Kafka({
    clientId: "admin-test",
    brokers: [address],
    logLevel: logLevel.NOTHING,
    retry: { retries: 2, initialRetryTime: 50 },
  });
}

/** Runs `fn` with a connected kafkajs admin client. */
async function withAdmin<T>(
  address: string,
  fn: (admin: ReturnType<Kafka["admin"]>) => Promise<T>,
) {
  const admin = kafka(address).admin();
  await admin.connect();
  try {
    return await fn(admin);
  } finally {
    await admin.disconnect();
  }
}

async function topicConfigs(address: string, topic: string) {
  return await withAdmin(address, async (admin) => {
    const described = await admin.describeConfigs({
      resources: [{ type: ConfigResourceTypes.TOPIC, name: topic }],
      includeSynonyms: false,
    });
    const entries = described.resources[0]!.configEntries;
    return new Map(entries.map((e) => [e.configName, e]));
  });
}

Deno.test("kafkajs createPartitions grows a topic whose new partitions take messages; fewer is refused", async () => {
  await withBroker({ createTopics: [{ name: "grow", partitions: 1 }] }, async (broker) => {
    await withAdmin(broker.address, async (admin) => {
      await admin.createPartitions({ topicPartitions: [{ topic: "grow", count: 3 }] });
      const metadata = await admin.fetchTopicMetadata({ topics: ["grow"] });
      assert.equal(metadata.topics[0]!.partitions.length, 3);
      await assert.rejects(
        admin.createPartitions({ topicPartitions: [{ topic: "grow", count: 2 }] }),
        (error: Error & { type?: string }) => error.type === "INVALID_PARTITIONS",
      );
      await assert.rejects(
        admin.createPartitions({ topicPartitions: [{ topic: "absent", count: 2 }] }),
        (error: Error & { type?: string }) => error.type === "UNKNOWN_TOPIC_OR_PARTITION",
      );
    });
    const producer = kafka(broker.address).producer();
    await producer.connect();
    try {
      const [sent] = await producer.send({
        topic: "grow",
        messages: [{ value: "to the new partition", partition: 2 }],
      });
      assert.equal(sent!.partition, 2);
    } finally {
      await producer.disconnect();
    }
    assert.equal(broker.topics.get("grow", 2)!.highWatermark, 1);
  });
});

Deno.test("kafkajs deleteTopicRecords moves the low watermark, consumers start there, and it survives a restart", async () => {
  await using dir = await tempDir("broker-test-");
  const options: BrokerOptions = {
    dataDir: dir.path,
    port: 0,
    createTopics: [{ name: "trim", partitions: 1 }],
  };
  let broker = await startBroker(options);
  try {
    const producer = kafka(broker.address).producer();
    await producer.connect();
    for (let i = 0; i < 10; i++) {
      await producer.send({ topic: "trim", messages: [{ value: `m${i}` }] });
    }
    await producer.disconnect();
    await withAdmin(broker.address, async (admin) => {
      // kafkajs's deleteTopicRecords reads the leaders from metadata it does not load itself.
      await admin.fetchTopicMetadata({ topics: ["trim"] });
      await admin.deleteTopicRecords({
        topic: "trim",
        partitions: [{ partition: 0, offset: "6" }],
      });
      const [offsets] = await admin.fetchTopicOffsets("trim");
      assert.equal(offsets!.low, "6");
      assert.equal(offsets!.high, "10");
      await assert.rejects(
        admin.deleteTopicRecords({ topic: "trim", partitions: [{ partition: 0, offset: "11" }] }),
      );
    });
    await broker.close();
    broker = await startBroker(options);
    const consumer = kafka(broker.address).consumer({ groupId: "trimmed", maxWaitTimeInMs: 100 });
    const seen: string[] = [];
    await consumer.connect();
    try {
      await consumer.subscribe({ topic: "trim", fromBeginning: true });
      await consumer.run({
        eachMessage: ({ message }) => {
          seen.push(message.value!.toString());
          return Promise.resolve();
        },
      });
      await waitFor("the 4 records after the deleted ones", () => seen.length >= 4, {
        timeoutMs: 20_000,
      });
    } finally {
      await consumer.disconnect();
    }
    assert.deepEqual(seen, ["m6", "m7", "m8", "m9"]);
  } finally {
    await broker.close();
  }
});

Deno.test("kafkajs alterConfigs sets topic configs that describeConfigs reports, that are enforced and survive a restart", async () => {
  await using dir = await tempDir("broker-test-");
  const options: BrokerOptions = {
    dataDir: dir.path,
    port: 0,
    createTopics: [{ name: "tuned", partitions: 1 }],
  };
  let broker = await startBroker(options);
  try {
    const before = await topicConfigs(broker.address, "tuned");
    assert.equal(before.get("cleanup.policy")!.configValue, "delete");
    assert.equal(before.get("retention.ms")!.isDefault, false, "the broker's own value");
    await withAdmin(broker.address, async (admin) => {
      await admin.alterConfigs({
        validateOnly: false,
        resources: [{
          type: ConfigResourceTypes.TOPIC,
          name: "tuned",
          configEntries: [
            { name: "max.message.bytes", value: "2000" },
            { name: "retention.ms", value: "3600000" },
          ],
        }],
      });
      await assert.rejects(
        admin.alterConfigs({
          validateOnly: false,
          resources: [{
            type: ConfigResourceTypes.TOPIC,
            name: "tuned",
            configEntries: [{ name: "retention.ms", value: "soon" }],
          }],
        }),
        (error: Error & { type?: string }) => error.type === "INVALID_CONFIG",
      );
    });
    await broker.close();
    broker = await startBroker(options);
    const after = await topicConfigs(broker.address, "tuned");
    assert.equal(after.get("max.message.bytes")!.configValue, "2000");
    assert.equal(after.get("retention.ms")!.configValue, "3600000");
    assert.equal(after.get("retention.ms")!.configSource, 1, "TOPIC_CONFIG");
    const producer = kafka(broker.address).producer();
    await producer.connect();
    try {
      await producer.send({ topic: "tuned", messages: [{ value: "x".repeat(100) }] });
      await assert.rejects(
        producer.send({ topic: "tuned", messages: [{ value: "x".repeat(5000) }] }),
        (error: Error & { type?: string }) => error.type === "MESSAGE_TOO_LARGE",
      );
    } finally {
      await producer.disconnect();
    }
  } finally {
    await broker.close();
  }
});

Deno.test("retention.ms set by alterConfigs deletes the segments it covers at the next retention check", async () => {
  const options = {
    createTopics: [{ name: "aging", partitions: 1 }],
    segmentBytes: 4096,
    retentionCheckIntervalMs: 100,
  };
  await withBroker(options, async (broker) => {
    const producer = kafka(broker.address).producer();
    await producer.connect();
    const hourAgo = String(Date.now() - 3_600_000);
    try {
      for (let i = 0; i < 6; i++) {
        await producer.send({
          topic: "aging",
          messages: [{ value: "o".repeat(3000), timestamp: hourAgo }],
        });
      }
      await producer.send({ topic: "aging", messages: [{ value: "fresh" }] });
    } finally {
      await producer.disconnect();
    }
    const plog = broker.topics.get("aging", 0)!;
    assert.ok(plog.segmentCount > 2);
    // The broker's 7-day retention keeps hour-old segments; a topic retention of a minute does not.
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(plog.logStartOffset, 0);
    await withAdmin(broker.address, async (admin) => {
      await admin.alterConfigs({
        validateOnly: false,
        resources: [{
          type: ConfigResourceTypes.TOPIC,
          name: "aging",
          configEntries: [{ name: "retention.ms", value: "60000" }],
        }],
      });
    });
    await waitFor("old segments deleted by the topic's retention", () => plog.logStartOffset >= 5, {
      timeoutMs: 10_000,
    });
  });
});

Deno.test("IncrementalAlterConfigs sets, appends, subtracts and deletes topic configs", async () => {
  await withBroker({ createTopics: [{ name: "inc", partitions: 1 }] }, async (broker) => {
    const client = await RawKafkaClient.connect(broker.address);
    const alter = (configs: { name: string; configOperation: number; value: string | null }[]) =>
      client.request(M.incrementalAlterConfigs, 1, {
        resources: [{ resourceType: 2, resourceName: "inc", configs }],
        validateOnly: false,
      });
    const describe = async (name: string) => {
      const response = await client.request(M.describeConfigs, 4, {
        resources: [{ resourceType: 2, resourceName: "inc", configurationKeys: [name] }],
        includeSynonyms: true,
        includeDocumentation: false,
      });
      return response.results[0]!.configs[0]!;
    };
    try {
      let answer = await alter([
        { name: "cleanup.policy", configOperation: 2, value: "compact" },
        { name: "retention.bytes", configOperation: 0, value: "1000000" },
      ]);
      assert.equal(answer.responses[0]!.errorCode, ErrorCode.NONE);
      assert.equal((await describe("cleanup.policy")).value, "delete,compact");
      assert.equal(broker.topics.effectiveConfig("inc").cleanupCompact, true);
      assert.equal(broker.topics.effectiveConfig("inc").retentionBytes, 1_000_000);
      answer = await alter([{ name: "cleanup.policy", configOperation: 3, value: "delete" }]);
      assert.equal(answer.responses[0]!.errorCode, ErrorCode.NONE);
      assert.equal((await describe("cleanup.policy")).value, "compact");
      assert.equal(broker.topics.effectiveConfig("inc").cleanupDelete, false);
      answer = await alter([{ name: "retention.bytes", configOperation: 1, value: null }]);
      const retention = await describe("retention.bytes");
      assert.equal(retention.value, "-1");
      assert.equal(retention.configSource, 4, "back to the broker's value");
      answer = await alter([{ name: "retention.ms", configOperation: 2, value: "5" }]);
      assert.equal(answer.responses[0]!.errorCode, ErrorCode.INVALID_CONFIG, "append on a long");
      answer = await alter([{ name: "no.such.config", configOperation: 0, value: "1" }]);
      assert.equal(answer.responses[0]!.errorCode, ErrorCode.INVALID_CONFIG);
      assert.equal(answer.responses[0]!.errorMessage, "Unknown topic config name: no.such.config");
    } finally {
      client.close();
    }
  });
});

Deno.test("kafkajs deleteGroups refuses a group with members, then deletes it and its offsets durably", async () => {
  await using dir = await tempDir("broker-test-");
  const options: BrokerOptions = {
    dataDir: dir.path,
    port: 0,
    createTopics: [{ name: "grouped", partitions: 1 }],
  };
  let broker = await startBroker(options);
  try {
    const consumer = kafka(broker.address).consumer({ groupId: "doomed", maxWaitTimeInMs: 100 });
    await consumer.connect();
    let joined = false;
    consumer.on(consumer.events.GROUP_JOIN, () => {
      joined = true;
    });
    await consumer.subscribe({ topic: "grouped" });
    await consumer.run({ eachMessage: () => Promise.resolve() });
    await waitFor("the consumer to join its group", () => joined, { timeoutMs: 20_000 });
    await withAdmin(broker.address, async (admin) => {
      await assert.rejects(
        admin.deleteGroups(["doomed"]),
        (error: Error & { groups?: unknown }) => {
          assert.match(JSON.stringify(error.groups), /NON_EMPTY_GROUP/);
          return true;
        },
      );
    });
    await consumer.disconnect();
    await withAdmin(broker.address, async (admin) => {
      await admin.setOffsets({
        groupId: "doomed",
        topic: "grouped",
        partitions: [{ partition: 0, offset: "3" }],
      });
      const [before] = await admin.fetchOffsets({ groupId: "doomed", topics: ["grouped"] });
      assert.equal(before!.partitions[0]!.offset, "3");
      const deleted = await admin.deleteGroups(["doomed"]);
      assert.deepEqual(deleted.map((g) => [g.groupId, g.errorCode]), [["doomed", 0]]);
      await assert.rejects(
        admin.deleteGroups(["doomed"]),
        (error: Error & { groups?: unknown }) => {
          assert.match(JSON.stringify(error.groups), /GROUP_ID_NOT_FOUND/);
          return true;
        },
      );
    });
    await broker.close();
    broker = await startBroker(options);
    await withAdmin(broker.address, async (admin) => {
      const { groups } = await admin.listGroups();
      assert.deepEqual(groups.filter((g) => g.groupId === "doomed"), []);
      const [after] = await admin.fetchOffsets({ groupId: "doomed", topics: ["grouped"] });
      assert.equal(after!.partitions[0]!.offset, "-1");
    });
  } finally {
    await broker.close();
  }
});

Deno.test("OffsetDelete removes the offsets of topics no member subscribes to and keeps the others", async () => {
  await withBroker({
    createTopics: [{ name: "kept", partitions: 1 }, { name: "gone", partitions: 1 }],
  }, async (broker) => {
    // Records to commit offsets within (kafkajs resets a consumer that starts past the end).
    const producer = kafka(broker.address).producer();
    await producer.connect();
    for (const topic of ["kept", "gone"]) {
      await producer.send({ topic, messages: [1, 2, 3, 4, 5].map((n) => ({ value: `v${n}` })) });
    }
    await producer.disconnect();
    await withAdmin(broker.address, async (admin) => {
      for (const topic of ["kept", "gone"]) {
        await admin.setOffsets({
          groupId: "og",
          topic,
          partitions: [{ partition: 0, offset: "3" }],
        });
      }
    });
    const consumer = kafka(broker.address).consumer({ groupId: "og", maxWaitTimeInMs: 100 });
    let joined = false;
    consumer.on(consumer.events.GROUP_JOIN, () => {
      joined = true;
    });
    const client = await RawKafkaClient.connect(broker.address);
    try {
      await consumer.connect();
      await consumer.subscribe({ topic: "kept" });
      await consumer.run({ eachMessage: () => Promise.resolve() });
      await waitFor("the consumer to join its group", () => joined, { timeoutMs: 20_000 });
      const answer = await client.request(M.offsetDelete, 0, {
        groupId: "og",
        topics: [{ name: "kept", partitions: [0] }, { name: "gone", partitions: [0] }],
      });
      assert.equal(answer.errorCode, ErrorCode.NONE);
      assert.deepEqual(answer.topics.map((t) => [t.name, t.partitions[0]!.errorCode]), [
        ["kept", ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC],
        ["gone", ErrorCode.NONE],
      ]);
      await withAdmin(broker.address, async (admin) => {
        const offsets = await admin.fetchOffsets({ groupId: "og", topics: ["kept", "gone"] });
        const offset = (topic: string) =>
          offsets.find((t) => t.topic === topic)!.partitions[0]!.offset;
        // kept: 3 or what the member has committed since; gone: deleted.
        assert.notEqual(offset("kept"), "-1");
        assert.equal(offset("gone"), "-1");
      });
      const unknown = await client.request(M.offsetDelete, 0, {
        groupId: "nobody",
        topics: [{ name: "gone", partitions: [0] }],
      });
      assert.equal(unknown.errorCode, ErrorCode.GROUP_ID_NOT_FOUND);
    } finally {
      client.close();
      await consumer.disconnect();
    }
  });
});
