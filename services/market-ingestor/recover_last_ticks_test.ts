import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { join } from "node:path";
import { Partitioners } from "kafkajs";
import { Tick } from "@trading/proto";
import { startBroker } from "@trading/broker";
import { createKafka } from "@trading/shared/kafka";
import { resetLogging, setupLogging } from "@trading/shared/log";
import { tempDir } from "@trading/testing";
import { PartitionReader } from "@trading/shared/partition-reader";
import { hostileBatches, writeHostileBatches } from "@trading/testing/hostile-records";
import { recoverLastTicks } from "./recover_last_ticks.ts";

function tick(symbol: string, sequence: number, price: number) {
  const bytes = Tick.encode(Tick.fromPartial({
    symbol,
    sequence,
    price,
    size: 1,
    bid: price,
    ask: price,
    createdAtUs: 1,
    source: "synthetic",
  })).finish();
  return { key: symbol, value: Buffer.from(bytes) };
}

Deno.test("recoverLastTicks() finds each symbol's last tick, also far back behind other symbols", async () => {
  await setupLogging("recover-test", "error");
  await using dir = await tempDir();
  const broker = await startBroker({
    port: 0,
    dataDir: join(dir.path, "broker"),
    createTopics: [{ name: "ticks", partitions: 1 }],
  });
  const kafka = createKafka({ clientId: "recover-test", brokers: [broker.address] });
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  const reader = await PartitionReader.connect(kafka);
  try {
    await producer.connect();
    await producer.send({
      topic: "ticks",
      acks: -1,
      messages: [1, 2, 3].map((s) => tick("OLD", s, 100 + s)),
    });
    await producer.send({
      topic: "ticks",
      acks: -1,
      messages: Array.from({ length: 700 }, (_, i) => tick("NEW", i + 1, 500)),
    });
    await producer.send({
      topic: "ticks",
      acks: -1,
      messages: [{ key: "NEW", value: Buffer.from([1, 2]) }],
    });
    const found = await recoverLastTicks(reader, "ticks", ["OLD", "NEW", "NEVER"], {
      initialWindow: 10,
    });
    assert.deepEqual(Object.fromEntries(found), {
      OLD: { sequence: 3, price: 103 },
      NEW: { sequence: 700, price: 500 },
    });
  } finally {
    await producer.disconnect();
    await reader.close();
    await broker.close();
    await resetLogging();
  }
});

Deno.test("recoverLastTicks() reads past hostile batches another client wrote", async () => {
  await setupLogging("recover-test", "error");
  await using dir = await tempDir();
  const broker = await startBroker({
    port: 0,
    dataDir: join(dir.path, "broker"),
    createTopics: [{ name: "ticks", partitions: 1 }],
    maxDecompressedBytes: 128 * 1024 * 1024,
  });
  const kafka = createKafka({ clientId: "recover-test", brokers: [broker.address] });
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  const reader = await PartitionReader.connect(kafka);
  try {
    await producer.connect();
    await producer.send({
      topic: "ticks",
      acks: -1,
      messages: [1, 2, 3].map((s) => tick("AAA", s, 100 + s)),
    });
    // Null header values, garbage, the four codecs, a batch over the client's cap.
    const invalid = Tick.encode(Tick.fromPartial({ symbol: "", sequence: 0 })).finish();
    await writeHostileBatches(
      broker.address,
      "ticks",
      0,
      hostileBatches((i) => tick("BBB", i + 1, 7).value, invalid, "tick"),
    );
    const found = await recoverLastTicks(reader, "ticks", ["AAA"], { initialWindow: 4 });
    assert.deepEqual(Object.fromEntries(found), { AAA: { sequence: 3, price: 103 } });
  } finally {
    await producer.disconnect();
    await reader.close();
    await broker.close();
    await resetLogging();
  }
});
