/**
 * The order flow's test fixtures: commands and ticks as the stream-processor and the ingestor
 * write them, an order-executor process's environment, and the verifier's exactly-once check.
 * Used by the executor's tests and the frozen-executor chaos scenario.
 *
 * @module
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import type { Producer } from "kafkajs";
import { OrderCommand, Side, Tick } from "@trading/proto";
import { createKafka, TOPICS } from "@trading/shared/kafka";
import { verifyPipeline } from "@trading/verifier/verify-pipeline";
import type { VerifyReport } from "@trading/verifier/pipeline-audit";
import { freePort } from "./free_port.ts";
import { waitFor } from "./wait_for.ts";

export const TOPIC_LIST = Object.values(TOPICS).map((name) => ({ name, partitions: 3 }));
const SYMBOLS = ["AAA", "BBB", "CCC", "DDD"];
const PRICE = 10_000;

export function encode(value: { finish(): Uint8Array }): Buffer {
  const bytes = value.finish();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function command(id: string, i: number): OrderCommand {
  return OrderCommand.fromPartial({
    orderId: id,
    symbol: SYMBOLS[i % SYMBOLS.length]!,
    side: i % 2 === 0 ? Side.SIDE_BUY : Side.SIDE_SELL,
    quantity: 1 + (i % 5),
    limitPrice: PRICE + (i % 3),
    strategyId: "test",
    tickSequence: 1,
    tickCreatedAtUs: Date.now() * 1000,
    createdAtUs: Date.now() * 1000 + i,
  });
}

export async function produceTicks(producer: Producer): Promise<void> {
  await producer.send({
    topic: TOPICS.ticks,
    acks: -1,
    messages: SYMBOLS.map((symbol) => ({
      key: symbol,
      value: encode(Tick.encode(Tick.fromPartial({
        symbol,
        sequence: 1,
        price: PRICE,
        size: 10,
        bid: PRICE - 1,
        ask: PRICE + 1,
        createdAtUs: Date.now() * 1000,
        source: "synthetic",
      }))),
    })),
  });
}

/** Produces `count` commands with ids `<prefix>-<i>`, then re-emits every third one. */
export async function produceCommands(
  producer: Producer,
  prefix: string,
  count: number,
): Promise<void> {
  const commands = Array.from({ length: count }, (_, i) => command(`${prefix}-${i}`, i));
  for (let i = 0; i < commands.length; i += 10) {
    await producer.send({
      topic: TOPICS.commands,
      acks: -1,
      messages: commands.slice(i, i + 10).map((c) => ({
        key: c.orderId,
        value: encode(OrderCommand.encode(c)),
      })),
    });
  }
  // Re-emitted after a stream-processor crash: same id and content, a later creation time.
  await producer.send({
    topic: TOPICS.commands,
    acks: -1,
    messages: commands.filter((_, i) => i % 3 === 0).map((c) => ({
      key: c.orderId,
      value: encode(OrderCommand.encode({ ...c, createdAtUs: c.createdAtUs + 1_000_000 })),
    })),
  });
}

/**
 * Sends `rounds` rounds of 5 new commands (ids `<prefix>-<round>-<i>`), 100 ms apart, as a
 * stream-processor feeds the executors while they run; returns how many it sent.
 */
export async function feedCommands(
  producer: Producer,
  prefix: string,
  rounds: number,
): Promise<number> {
  let produced = 0;
  for (let round = 0; round < rounds; round++) {
    const batch = Array.from({ length: 5 }, (_, i) => command(`${prefix}-${round}-${i}`, i));
    await producer.send({
      topic: TOPICS.commands,
      acks: -1,
      messages: batch.map((c) => ({ key: c.orderId, value: encode(OrderCommand.encode(c)) })),
    });
    produced += batch.length;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return produced;
}

/** The environment of an order-executor process against `broker` and `raft`. */
export function executorEnv(
  broker: { address: string },
  raft: { addresses: readonly string[] },
  dataDir: string,
  extra: Record<string, string> = {},
) {
  return {
    KAFKA_BROKERS: broker.address,
    RAFT_NODE_GRPC_ADDR: raft.addresses.join(","),
    EXECUTOR_DATA_DIR: `${dataDir}/executor`,
    EXECUTOR_SESSION_TIMEOUT_MS: "2000",
    EXECUTOR_CHUNK_SIZE: "20",
    PORT_GRPC: String(freePort()),
    ...extra,
  };
}

/**
 * Waits until the verifier finds `expectedOrders` commands on `broker` and an event for each,
 * and returns its report (duplicates not checked).
 */
export async function everyCommandAnswered(
  broker: { address: string },
  expectedOrders: number,
  timeoutMs = 45_000,
): Promise<VerifyReport> {
  const kafka = createKafka({
    clientId: "executor-test-verify",
    brokers: broker.address.split(","),
  });
  return await waitFor("every command answered", async () => {
    const r = await verifyPipeline({ kafka, timeoutMs: 5000, quietMs: 300, lostQuietMs: 300 });
    return r.lost === 0 && r.uniqueCommands === expectedOrders ? r : undefined;
  }, { timeoutMs, intervalMs: 200 });
}

/** Waits for every command's event and asserts exactly one per order id. */
export async function expectExactlyOnce(
  broker: { address: string },
  expectedOrders: number,
): Promise<VerifyReport> {
  const report = await everyCommandAnswered(broker, expectedOrders);
  assert.equal(report.duplicates, 0, `duplicates: ${report.duplicateIds}`);
  assert.equal(report.orphans, 0);
  assert.equal(report.uniqueOrderIds, expectedOrders);
  return report;
}
