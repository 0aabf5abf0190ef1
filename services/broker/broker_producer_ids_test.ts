/**
 * Producer ids only as the broker handed them out (issue 13): over TCP with the raw client, a
 * batch under a producer id InitProducerId never returned is refused with UNKNOWN_PRODUCER_ID,
 * so a forger who guesses the next id cannot make that producer's real batch be acked as a
 * duplicate; allocated ids survive a restart (raw client and the kafkajs idempotent producer).
 */
import assert from "node:assert/strict";
import { Kafka, logLevel } from "kafkajs";
import { tempDir } from "@trading/testing";
import { ErrorCode } from "./protocol/error_codes.ts";
import * as M from "./protocol/messages.ts";
import { buildRecordBatch, decodeRecords } from "./protocol/record_batch.ts";
import { RawKafkaClient, type ResponseBody } from "@trading/testing/raw-kafka-client";
import { startBroker } from "./broker.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function produceBody(topic: string, records: Uint8Array) {
  return {
    transactionalId: null,
    acks: -1,
    timeoutMs: 5000,
    topics: [{ name: topic, partitions: [{ index: 0, records }] }],
  };
}

async function initProducerId(
  client: RawKafkaClient,
): Promise<ResponseBody<typeof M.initProducerId>> {
  const init = await client.request(M.initProducerId, 1, {
    transactionalId: null,
    transactionTimeoutMs: 60_000,
  });
  assert.equal(init.errorCode, 0);
  return init;
}

async function produce(
  client: RawKafkaClient,
  topic: string,
  value: string,
  producer: { producerId: number; producerEpoch: number; baseSequence: number },
) {
  const response = await client.request(
    M.produce,
    7,
    produceBody(topic, buildRecordBatch([{ value: encoder.encode(value) }], producer)),
  );
  return response.responses[0]!.partitions[0]!;
}

async function readValues(client: RawKafkaClient, topic: string): Promise<string[]> {
  const response = await client.request(M.fetch, 11, {
    replicaId: -1,
    maxWaitMs: 0,
    minBytes: 0,
    maxBytes: 1 << 20,
    sessionEpoch: -1,
    topics: [{ topic, partitions: [{ partition: 0, fetchOffset: 0, partitionMaxBytes: 1 << 20 }] }],
  });
  const p = response.responses[0]!.partitions[0]!;
  assert.equal(p.errorCode, 0);
  return decodeRecords(p.records!).map((r) => decoder.decode(r.value!));
}

Deno.test("a batch under a producer id the broker never handed out is refused; the real holder's batch is written", async () => {
  await using dir = await tempDir();
  const broker = await startBroker({
    port: 0,
    dataDir: dir.path,
    createTopics: [{ name: "orders", partitions: 1 }],
  });
  const forger = await RawKafkaClient.connect(broker.address, "forger");
  const victim = await RawKafkaClient.connect(broker.address, "victim");
  try {
    const own = await initProducerId(forger);
    // Ids are handed out in order: the forger claims the next one before the victim gets it.
    const guessed = own.producerId + 1;
    const forged = await produce(forger, "orders", "forged", {
      producerId: guessed,
      producerEpoch: 0,
      baseSequence: 0,
    });
    assert.equal(forged.errorCode, ErrorCode.UNKNOWN_PRODUCER_ID);
    const made = await produce(forger, "orders", "made-up", {
      producerId: 987_654_321,
      producerEpoch: 0,
      baseSequence: 0,
    });
    assert.equal(made.errorCode, ErrorCode.UNKNOWN_PRODUCER_ID);
    assert.equal(broker.topics.get("orders", 0)!.highWatermark, 0);

    const mine = await initProducerId(victim);
    assert.equal(mine.producerId, guessed);
    const real = await produce(victim, "orders", "real", {
      producerId: mine.producerId,
      producerEpoch: mine.producerEpoch,
      baseSequence: 0,
    });
    assert.equal(real.errorCode, 0);
    assert.equal(real.baseOffset, 0);
    assert.deepEqual(await readValues(victim, "orders"), ["real"]);
    // A non-idempotent batch (producer id -1) is still accepted.
    const plain = await victim.request(
      M.produce,
      7,
      produceBody("orders", buildRecordBatch([{ value: encoder.encode("plain") }])),
    );
    assert.equal(plain.responses[0]!.partitions[0]!.errorCode, 0);
    assert.deepEqual(await readValues(victim, "orders"), ["real", "plain"]);
  } finally {
    forger.close();
    victim.close();
    await broker.close();
  }
});

Deno.test("producer ids handed out survive a broker restart (raw client and kafkajs idempotent producer)", async () => {
  await using dir = await tempDir();
  let broker = await startBroker({
    port: 0,
    dataDir: dir.path,
    createTopics: [{ name: "ledger", partitions: 1 }],
  });
  const port = broker.port;
  const kafka = new Kafka({
    clientId: "restart-test",
    brokers: [broker.address],
    logLevel: logLevel.NOTHING,
    retry: { retries: 10, initialRetryTime: 100 },
  });
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  let raw = await RawKafkaClient.connect(broker.address, "raw");
  try {
    await producer.connect();
    for (let i = 0; i < 5; i++) {
      await producer.send({ topic: "ledger", messages: [{ value: `a${i}` }] });
    }
    const init = await initProducerId(raw);
    const first = await produce(raw, "ledger", "raw0", { ...init, baseSequence: 0 });
    assert.equal(first.errorCode, 0);
    raw.close();

    await broker.close();
    broker = await startBroker({ port, dataDir: dir.path });
    raw = await RawKafkaClient.connect(broker.address, "raw");

    const second = await produce(raw, "ledger", "raw1", { ...init, baseSequence: 1 });
    assert.equal(second.errorCode, 0, "the restarted broker still knows the id it handed out");
    for (let i = 0; i < 5; i++) {
      await producer.send({ topic: "ledger", messages: [{ value: `b${i}` }] });
    }
    const values = await readValues(raw, "ledger");
    assert.deepEqual(values, [
      "a0",
      "a1",
      "a2",
      "a3",
      "a4",
      "raw0",
      "raw1",
      "b0",
      "b1",
      "b2",
      "b3",
      "b4",
    ]);
    // A made-up id is still refused after the restart.
    const made = await produce(raw, "ledger", "made-up", {
      producerId: init.producerId + 500,
      producerEpoch: 0,
      baseSequence: 0,
    });
    assert.equal(made.errorCode, ErrorCode.UNKNOWN_PRODUCER_ID);
  } finally {
    await producer.disconnect().catch(() => {});
    raw.close();
    await broker.close();
  }
});

Deno.test("InitProducerId v4 for a new transactional id accepts the expected id and epoch it is sent; a later one is fenced", async () => {
  // @platformatic/kafka sends producer id 0 and epoch 0 on its first InitProducerId; Kafka's
  // coordinator accepts any expected id and epoch for a transactional id that has no epoch yet
  // (TransactionMetadata.prepareIncrementProducerEpoch), since there is no one to fence.
  await using dir = await tempDir();
  const broker = await startBroker({ port: 0, dataDir: dir.path });
  const raw = await RawKafkaClient.connect(broker.address, "raw");
  const init = (transactionalId: string, producerId: number, producerEpoch: number) =>
    raw.request(M.initProducerId, 4, {
      transactionalId,
      transactionTimeoutMs: 60_000,
      producerId,
      producerEpoch,
    });
  try {
    const first = await init("fresh", 0, 0);
    assert.equal(first.errorCode, ErrorCode.NONE);
    assert.equal(first.producerEpoch, 0);
    // The same holder bumping its epoch (KIP-360) is accepted.
    const bumped = await init("fresh", first.producerId, first.producerEpoch);
    assert.equal(bumped.errorCode, ErrorCode.NONE);
    assert.deepEqual([bumped.producerId, bumped.producerEpoch], [first.producerId, 1]);
    // A stale epoch of the same id, or another id, is fenced now that the id has an epoch.
    assert.equal(
      (await init("fresh", first.producerId, 0)).errorCode,
      ErrorCode.PRODUCER_FENCED,
    );
    assert.equal(
      (await init("fresh", first.producerId + 1000, 0)).errorCode,
      ErrorCode.PRODUCER_FENCED,
    );
    // No expected id (-1, -1): a new holder, at the next epoch.
    const next = await init("fresh", -1, -1);
    assert.deepEqual([next.errorCode, next.producerEpoch], [ErrorCode.NONE, 2]);
  } finally {
    raw.close();
    await broker.close();
  }
});
