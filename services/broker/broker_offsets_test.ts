/**
 * Offsets as Kafka serves them, checked with real clients over TCP: ListOffsets by timestamp
 * finds the record (not only its batch) for kafkajs and kcat; OffsetCommit metadata comes
 * back from OffsetFetch for kafka-python; a fetch from an offset inside a batch returns the
 * whole batch, and the clients skip the records before the offset they asked for; a
 * standalone commit (generation -1, as an admin client's) into a group with an active member
 * gets UNKNOWN_MEMBER_ID from librdkafka's point of view, as from Kafka.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { Kafka, logLevel } from "kafkajs";
import { DEBIAN_PYTHON, requireTestTool, waitFor } from "@trading/testing";
import * as M from "./protocol/messages.ts";
import { decodeRecords } from "./protocol/record_batch.ts";
import { RawKafkaClient } from "@trading/testing/raw-kafka-client";
import { withBroker } from "@trading/testing/with-broker";

const COMMIT_METADATA = fileURLToPath(
  new URL("./testdata/kafka_python_commit_metadata.py", import.meta.url),
);
const FETCH_MAX_BYTES = fileURLToPath(
  new URL("./testdata/confluent_fetch_max_bytes.py", import.meta.url),
);
const COMMIT_ACTIVE_GROUP = fileURLToPath(
  new URL("./testdata/confluent_admin_commit_active_group.py", import.meta.url),
);

async function run(command: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(command, {
    args,
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(60_000),
  }).output();
  if (!out.success) {
    throw new Error(`${command} ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  return new TextDecoder().decode(out.stdout);
}

function kafka(address: string): Kafka {
  return new Kafka({
    clientId: "offsets-test",
    brokers: [address],
    logLevel: logLevel.NOTHING,
    retry: { retries: 2, initialRetryTime: 50 },
  });
}

/** Produces one batch of five records, offsets 0-4, with timestamps 1000, 2000, ... 5000. */
async function produceOneBatch(address: string, topic: string): Promise<void> {
  const producer = kafka(address).producer();
  await producer.connect();
  try {
    await producer.send({
      topic,
      acks: -1,
      messages: [1, 2, 3, 4, 5].map((n) => ({
        value: `v${n - 1}`,
        timestamp: String(n * 1000),
        partition: 0,
      })),
    });
  } finally {
    await producer.disconnect();
  }
}

Deno.test("kafkajs finds the first record at or after a timestamp inside a batch", async () => {
  await withBroker({ createTopics: [{ name: "times", partitions: 1 }] }, async (broker) => {
    await produceOneBatch(broker.address, "times");
    const admin = kafka(broker.address).admin();
    await admin.connect();
    try {
      const at = async (ts: number) =>
        (await admin.fetchTopicOffsetsByTimestamp("times", ts))[0]!.offset;
      assert.equal(await at(2500), "2");
      assert.equal(await at(3001), "3");
      assert.equal(await at(0), "0");
      // Past every record: Kafka answers -1 and kafkajs falls back to the latest offset.
      assert.equal(await at(9000), "5");
    } finally {
      await admin.disconnect();
    }
  });
});

Deno.test("kcat queries the offset of a timestamp", async () => {
  await requireTestTool("kcat");
  await withBroker({ createTopics: [{ name: "times", partitions: 1 }] }, async (broker) => {
    await produceOneBatch(broker.address, "times");
    const out = await run("kcat", ["-Q", "-b", broker.address, "-t", "times:0:3500"]);
    assert.match(out, /times \[0\] offset 3\b/);
  });
});

Deno.test("kafka-python reads back the metadata it committed with an offset", async () => {
  await requireTestTool("kafka-python");
  await withBroker({ createTopics: [{ name: "meta", partitions: 1 }] }, async (broker) => {
    const out = await run(DEBIAN_PYTHON, [COMMIT_METADATA, broker.address, "meta"]);
    assert.deepEqual(JSON.parse(out.trim().split("\n").pop()!), {
      offset: 3,
      metadata: "checkpoint-a",
    });
  });
});

Deno.test("a standalone commit into a group with an active member gets UNKNOWN_MEMBER_ID (librdkafka)", async () => {
  await requireTestTool("confluent-kafka-python");
  await withBroker({ createTopics: [{ name: "active", partitions: 1 }] }, async (broker) => {
    const out = await run(DEBIAN_PYTHON, [COMMIT_ACTIVE_GROUP, broker.address, "active"]);
    assert.deepEqual(JSON.parse(out.trim().split("\n").pop()!), { error: "UNKNOWN_MEMBER_ID" });
  });
});

Deno.test("a fetch stays within fetch.max.bytes but for the first batch (librdkafka)", async () => {
  await requireTestTool("confluent-kafka-python");
  await withBroker({ createTopics: [{ name: "big", partitions: 3 }] }, async (broker) => {
    const out = await run(DEBIAN_PYTHON, [FETCH_MAX_BYTES, broker.address, "big"]);
    assert.deepEqual(JSON.parse(out.trim().split("\n").pop()!), { consumed: 9, errors: [] });
  });
});

Deno.test("a fetch from an offset inside a batch returns the whole batch and clients start at that offset", async () => {
  await withBroker({ createTopics: [{ name: "mid", partitions: 1 }] }, async (broker) => {
    await produceOneBatch(broker.address, "mid");
    const client = await RawKafkaClient.connect(broker.address);
    try {
      const response = await client.request(M.fetch, 11, {
        replicaId: -1,
        maxWaitMs: 0,
        minBytes: 0,
        maxBytes: 1 << 20,
        isolationLevel: 0,
        sessionEpoch: -1,
        topics: [{
          topic: "mid",
          partitions: [{ partition: 0, fetchOffset: 2, partitionMaxBytes: 1 << 20 }],
        }],
      });
      const records = decodeRecords(response.responses[0]!.partitions[0]!.records!);
      assert.deepEqual(records.map((r) => r.offset), [0, 1, 2, 3, 4]);
    } finally {
      client.close();
    }
    {
      await requireTestTool("kcat");
      const out = await run("kcat", [
        "-C",
        "-b",
        broker.address,
        "-t",
        "mid",
        "-p",
        "0",
        "-o",
        "2",
        "-e",
        "-f",
        "%o:%s\\n",
      ]);
      assert.deepEqual(out.trim().split("\n"), ["2:v2", "3:v3", "4:v4"]);
    }
    const consumer = kafka(broker.address).consumer({ groupId: "mid", maxWaitTimeInMs: 100 });
    const seen: string[] = [];
    await consumer.connect();
    try {
      await consumer.subscribe({ topic: "mid" });
      await consumer.run({
        eachMessage: ({ message }) => {
          seen.push(`${message.offset}:${message.value}`);
          return Promise.resolve();
        },
      });
      consumer.seek({ topic: "mid", partition: 0, offset: "3" });
      await waitFor("kafkajs consumes from offset 3", () => seen.length >= 2, {
        timeoutMs: 20_000,
      });
    } finally {
      await consumer.disconnect();
    }
    assert.deepEqual(seen, ["3:v3", "4:v4"]);
  });
});
