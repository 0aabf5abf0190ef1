/**
 * Transactions with kafkajs 2.2.4 against the broker over TCP: commit and abort as a
 * read_committed consumer sees them, offsets committed inside a transaction (sendOffsets),
 * a zombie fenced by its successor's InitProducerId, the timeout validation and the
 * coordinator's abort of an expired transaction.
 */
import assert from "node:assert/strict";
import { type Consumer, Kafka, type KafkaMessage, logLevel } from "kafkajs";
import { waitFor } from "@trading/testing";
import { withBroker } from "@trading/testing/with-broker";

function client(address: string, clientId = "kafkajs-txn-test"): Kafka {
  return new Kafka({
    clientId,
    brokers: [address],
    logLevel: logLevel.NOTHING,
    retry: { retries: 3, initialRetryTime: 50 },
  });
}

function transactionalProducer(kafka: Kafka, transactionalId: string, transactionTimeout = 30_000) {
  return kafka.producer({
    transactionalId,
    idempotent: true,
    maxInFlightRequests: 1,
    transactionTimeout,
    allowAutoTopicCreation: false,
  });
}

/** A consumer of `topics` from the start at `isolation`, collecting values until stopped. */
async function collect(
  kafka: Kafka,
  groupId: string,
  topic: string,
  readUncommitted = false,
): Promise<{ consumer: Consumer; values: string[]; messages: KafkaMessage[] }> {
  const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 100, readUncommitted });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const values: string[] = [];
  const messages: KafkaMessage[] = [];
  await consumer.run({
    eachMessage: ({ message }) => {
      messages.push(message);
      values.push(message.value!.toString());
      return Promise.resolve();
    },
  });
  return { consumer, values, messages };
}

Deno.test("kafkajs transaction: a read_committed consumer sees committed records and never aborted ones", async () => {
  await withBroker({ createTopics: [{ name: "txn", partitions: 2 }] }, async (broker) => {
    const kafka = client(broker.address);
    const producer = transactionalProducer(kafka, "txn-commit-abort");
    await producer.connect();
    try {
      const committed = await producer.transaction();
      await committed.send({
        topic: "txn",
        messages: [{ key: "a", value: "c1" }, { key: "b", value: "c2" }],
      });
      await committed.send({ topic: "txn", messages: [{ key: "c", value: "c3" }] });
      await committed.commit();
      const aborted = await producer.transaction();
      await aborted.send({
        topic: "txn",
        messages: [{ key: "a", value: "x1" }, { key: "b", value: "x2" }],
      });
      await aborted.abort();
      const last = await producer.transaction();
      await last.send({ topic: "txn", messages: [{ key: "a", value: "c4" }] });
      await last.commit();
    } finally {
      await producer.disconnect();
    }

    const committedReader = await collect(kafka, "committed-reader", "txn");
    const uncommittedReader = await collect(kafka, "uncommitted-reader", "txn", true);
    try {
      await waitFor("4 committed records", () => committedReader.values.length >= 4, {
        timeoutMs: 20_000,
      });
      await waitFor("6 records in all", () => uncommittedReader.values.length >= 6, {
        timeoutMs: 20_000,
      });
      // Let the consumers read on past the last marker: nothing else may show up.
      await new Promise((resolve) => setTimeout(resolve, 500));
      assert.deepEqual(committedReader.values.sort(), ["c1", "c2", "c3", "c4"]);
      assert.deepEqual(uncommittedReader.values.sort(), ["c1", "c2", "c3", "c4", "x1", "x2"]);
    } finally {
      await committedReader.consumer.disconnect();
      await uncommittedReader.consumer.disconnect();
    }
  });
});

Deno.test("kafkajs transaction: an open transaction holds back read_committed readers at its first offset", async () => {
  await withBroker({ createTopics: [{ name: "open", partitions: 1 }] }, async (broker) => {
    const kafka = client(broker.address);
    const plain = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    const producer = transactionalProducer(kafka, "txn-open");
    await plain.connect();
    await producer.connect();
    const reader = await collect(kafka, "open-reader", "open");
    try {
      await plain.send({ topic: "open", messages: [{ value: "before" }] });
      const txn = await producer.transaction();
      await txn.send({ topic: "open", messages: [{ value: "in-txn" }] });
      await plain.send({ topic: "open", messages: [{ value: "after" }] });
      await waitFor("the record before the txn", () => reader.values.length >= 1, {
        timeoutMs: 20_000,
      });
      await new Promise((resolve) => setTimeout(resolve, 500));
      assert.deepEqual(reader.values, ["before"], "nothing past the open transaction's start");
      const admin = kafka.admin();
      await admin.connect();
      try {
        const [committed] = await admin.fetchTopicOffsets("open");
        // kafkajs asks ListOffsets with read_committed: the end is the last stable offset.
        assert.equal(committed!.high, "1", "the latest offset stops at the open transaction");
      } finally {
        await admin.disconnect();
      }
      await txn.commit();
      await waitFor("every record after the commit", () => reader.values.length >= 3, {
        timeoutMs: 20_000,
      });
      assert.deepEqual(reader.values, ["before", "in-txn", "after"]);
    } finally {
      await reader.consumer.disconnect();
      await plain.disconnect();
      await producer.disconnect();
    }
  });
});

Deno.test("kafkajs transaction: sendOffsets commits the input offsets only with the transaction", async () => {
  await withBroker({
    createTopics: [{ name: "input", partitions: 1 }, { name: "output", partitions: 1 }],
  }, async (broker) => {
    const kafka = client(broker.address);
    const producer = transactionalProducer(kafka, "txn-offsets");
    await producer.connect();
    const admin = kafka.admin();
    await admin.connect();
    try {
      const groupOffset = async () =>
        (await admin.fetchOffsets({ groupId: "processor", topics: ["input"] }))[0]!
          .partitions[0]!.offset;
      const aborted = await producer.transaction();
      await aborted.send({ topic: "output", messages: [{ value: "o1" }] });
      await aborted.sendOffsets({
        consumerGroupId: "processor",
        topics: [{ topic: "input", partitions: [{ partition: 0, offset: "5" }] }],
      });
      await aborted.abort();
      assert.equal(await groupOffset(), "-1", "an aborted transaction commits no offset");

      const committed = await producer.transaction();
      await committed.send({ topic: "output", messages: [{ value: "o2" }] });
      await committed.sendOffsets({
        consumerGroupId: "processor",
        topics: [{ topic: "input", partitions: [{ partition: 0, offset: "7" }] }],
      });
      assert.equal(await groupOffset(), "-1", "not before the commit");
      await committed.commit();
      assert.equal(await groupOffset(), "7");
    } finally {
      await admin.disconnect();
      await producer.disconnect();
    }
  });
});

Deno.test("kafkajs transaction: a second producer with the same transactional id fences the first and aborts its transaction", async () => {
  await withBroker({ createTopics: [{ name: "fence", partitions: 2 }] }, async (broker) => {
    const kafka = client(broker.address);
    const zombie = transactionalProducer(kafka, "txn-fence");
    const successor = transactionalProducer(kafka, "txn-fence");
    await zombie.connect();
    await successor.connect();
    const reader = await collect(kafka, "fence-reader", "fence");
    try {
      const zombieTxn = await zombie.transaction();
      await zombieTxn.send({ topic: "fence", messages: [{ key: "k", value: "zombie-1" }] });
      // The successor's InitProducerId bumps the epoch and aborts the zombie's transaction.
      const txn = await successor.transaction();
      await txn.send({ topic: "fence", messages: [{ key: "k", value: "successor" }] });
      // The zombie resumes: whatever it does next is refused by the broker.
      await assert.rejects(
        zombieTxn.send({ topic: "fence", messages: [{ key: "k", value: "zombie-2" }] }),
        (error: Error) => /epoch|fenced/i.test(error.message),
      );
      await assert.rejects(zombieTxn.commit());
      await txn.commit();
      await waitFor("the successor's record", () => reader.values.length >= 1, {
        timeoutMs: 20_000,
      });
      await new Promise((resolve) => setTimeout(resolve, 500));
      assert.deepEqual(reader.values, ["successor"]);
      assert.equal(broker.transactions.describe("txn-fence")?.state, "CompleteCommit");
    } finally {
      await reader.consumer.disconnect();
      await zombie.disconnect().catch(() => {});
      await successor.disconnect();
    }
  });
});

Deno.test("kafkajs transaction: a transaction.timeout.ms above the broker's maximum is refused with INVALID_TRANSACTION_TIMEOUT", async () => {
  await withBroker({ transactionMaxTimeoutMs: 60_000 }, async (broker) => {
    const producer = transactionalProducer(client(broker.address), "txn-timeout", 120_000);
    await producer.connect();
    try {
      await assert.rejects(
        producer.transaction(),
        (error: Error & { type?: string }) =>
          error.type === "INVALID_TRANSACTION_TIMEOUT" ||
          /transaction timeout/i.test(error.message),
      );
    } finally {
      await producer.disconnect();
    }
  });
});

Deno.test("kafkajs transaction: the coordinator aborts a transaction older than its timeout and fences its producer", async () => {
  await withBroker({
    createTopics: [{ name: "expire", partitions: 1 }],
    transactionAbortCheckMs: 50,
  }, async (broker) => {
    const kafka = client(broker.address);
    const producer = transactionalProducer(kafka, "txn-expire", 300);
    await producer.connect();
    const reader = await collect(kafka, "expire-reader", "expire");
    try {
      const txn = await producer.transaction();
      await txn.send({ topic: "expire", messages: [{ value: "late" }] });
      await waitFor(
        "the coordinator's abort of the expired transaction",
        () => broker.transactions.describe("txn-expire")?.state === "CompleteAbort",
        { timeoutMs: 20_000 },
      );
      await assert.rejects(txn.commit());
      assert.equal(broker.transactions.timedOut, 1);
      // The partition is readable again past the aborted transaction.
      const plain = kafka.producer();
      await plain.connect();
      await plain.send({ topic: "expire", messages: [{ value: "next" }] });
      await plain.disconnect();
      await waitFor("the record after the abort", () => reader.values.length >= 1, {
        timeoutMs: 20_000,
      });
      assert.deepEqual(reader.values, ["next"]);
    } finally {
      await reader.consumer.disconnect();
      await producer.disconnect().catch(() => {});
    }
  });
});
