/** The `verify` role as a process: its exit codes and output, against a real broker. */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { join } from "node:path";
import { Partitioners } from "kafkajs";
import { OrderCommand, OrderEvent, OrderStatus, Side } from "@trading/proto";
import { startBroker } from "@trading/broker";
import { createKafka, TOPICS } from "@trading/shared/kafka";
import { resetLogging, setupLogging } from "@trading/shared/log";
import { tempDir } from "@trading/testing";
import { RoleProcess } from "@trading/testing";

function bytes(value: Uint8Array): Buffer {
  return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}

async function verify(
  args: string[],
): Promise<{ code: number; output: string; stdout: string }> {
  const { code, stdout, stderr } = await RoleProcess.run("verify", args, { KAFKA_BROKERS: "" });
  return { code, stdout, output: stdout + stderr };
}

Deno.test("verify exits 0 for exactly one event per command and 1 for a duplicate or a lost one", async () => {
  await setupLogging("verify-test", "error");
  await using dir = await tempDir();
  const broker = await startBroker({
    port: 0,
    dataDir: join(dir.path, "broker"),
    createTopics: Object.values(TOPICS).map((name) => ({ name, partitions: 3 })),
  });
  const kafka = createKafka({ clientId: "verify-test", brokers: [broker.address] });
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  const send = async (topic: string, id: string, value: Uint8Array) => {
    await producer.send({ topic, acks: -1, messages: [{ key: id, value: bytes(value) }] });
  };
  const command = (id: string) =>
    OrderCommand.encode(OrderCommand.fromPartial({
      orderId: id,
      symbol: "AAA",
      side: Side.SIDE_SELL,
      quantity: 3,
      limitPrice: 100,
      strategyId: "mac",
      tickSequence: 4,
      tickCreatedAtUs: 1_000_000,
      createdAtUs: 1_001_000,
    })).finish();
  const event = (id: string) =>
    OrderEvent.encode(OrderEvent.fromPartial({
      orderId: id,
      status: OrderStatus.ORDER_STATUS_ACCEPTED,
      executorId: "ex",
      raftIndex: 1,
      tickCreatedAtUs: 1_000_000,
      commandCreatedAtUs: 1_001_000,
      createdAtUs: 1_004_000,
    })).finish();
  try {
    for (const id of ["o1", "o2", "o3"]) {
      await send(TOPICS.commands, id, command(id));
      await send(TOPICS.events, id, event(id));
    }
    const clean = await verify(["20", broker.address, "--json"]);
    assert.equal(clean.code, 0, clean.output);
    const report = JSON.parse(clean.stdout);
    assert.equal(report.uniqueOrderIds, 3);
    assert.deepEqual(report.latencyMs, { p50: 4, p99: 4, max: 4 });
    assert.equal(report.complete, true);

    await send(TOPICS.events, "o2", event("o2"));
    const duplicate = await verify(["20", broker.address]);
    assert.equal(duplicate.code, 1);
    assert.match(duplicate.output, /duplicate order ids\s+1\s+\(o2\)/);

    await send(TOPICS.commands, "o4", command("o4"));
    const lost = await verify(["3", broker.address]);
    assert.equal(lost.code, 1);
    assert.match(lost.output, /commands without event 1\s+\(o4\)/);
  } finally {
    await producer.disconnect();
    await broker.close();
    await resetLogging();
  }
});

Deno.test("verify exits 2 with the usage for missing or bad arguments", async () => {
  const none = await verify([]);
  assert.equal(none.code, 2);
  assert.match(none.output, /Usage: main.ts verify <seconds> \[brokers\] \[--json\]/);
  const bad = await verify(["soon"]);
  assert.equal(bad.code, 2);
  assert.match(bad.output, /Invalid seconds "soon": expected a number > 0/);
  const brokers = await verify(["1", "nohost"]);
  assert.equal(brokers.code, 2);
  assert.match(
    brokers.output,
    /Invalid KAFKA_BROKERS "nohost": expected a comma-separated list of host:port/,
  );
});
