/**
 * The order-executor as a process against the real broker and a real 3-node Raft cluster,
 * fed hostile record batches by a raw client on both its inputs (testing/hostile_records.ts):
 * on `orders.commands` every command it cannot use goes to `orders.dlq` with its reason and
 * is counted, every valid one (compressed with any of the four codecs too) gets exactly one
 * event; the same batches on `market.ticks` (its price feed) stop nothing; the process never
 * stops, and the verifier reads both topics and finds nothing lost.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { OrderCommand, Side, Tick } from "@trading/proto";
import { RaftCluster } from "@trading/testing/raft-cluster";
import { TOPICS } from "@trading/shared/kafka";
import { freePort, RoleProcess, tempDir } from "@trading/testing";
import {
  assertDeadLetters,
  expectedOutcomes,
  hostileBatches,
  startHostileBroker,
  watchRole,
  writeHostileBatches,
} from "@trading/testing/hostile-records";
import { verifyPipeline } from "@trading/verifier/verify-pipeline";

function tick(i: number): Uint8Array {
  return Tick.encode(Tick.fromPartial({
    symbol: "AAA",
    sequence: i + 1,
    price: 10_000,
    size: 10,
    bid: 9_999,
    ask: 10_001,
    createdAtUs: Date.now() * 1000,
    source: "synthetic",
  })).finish();
}

function command(i: number): Uint8Array {
  return OrderCommand.encode(OrderCommand.fromPartial({
    orderId: `hostile-${i}`,
    symbol: "AAA",
    side: i % 2 === 0 ? Side.SIDE_BUY : Side.SIDE_SELL,
    quantity: 1,
    limitPrice: 10_000,
    strategyId: "test",
    tickSequence: 1,
    tickCreatedAtUs: Date.now() * 1000,
    createdAtUs: Date.now() * 1000 + i,
  })).finish();
}

Deno.test({
  name:
    "order-executor dead-letters every unusable command of a hostile feed, executes the rest, never stops",
  sanitizeOps: false, // grpc-js timers outlive its clients' close
  sanitizeResources: false,
  async fn() {
    await using dir = await tempDir();
    const raft = await RaftCluster.start({ dir: join(dir.path, "raft") });
    const hostile = await startHostileBroker(join(dir.path, "broker"));
    const { broker, kafka, reader } = hostile;
    let executor: RoleProcess | undefined;
    try {
      const invalidTick = Tick.encode(Tick.fromPartial({ symbol: "", sequence: 0 })).finish();
      await writeHostileBatches(
        broker.address,
        TOPICS.ticks,
        0,
        hostileBatches(tick, invalidTick, "tick"),
      );
      const invalidCommand = OrderCommand.encode(OrderCommand.fromPartial({ orderId: "" }))
        .finish();
      const written = await writeHostileBatches(
        broker.address,
        TOPICS.commands,
        0,
        hostileBatches(command, invalidCommand, "command"),
      );
      const { used, dead } = expectedOutcomes(written);
      executor = RoleProcess.spawn("order-executor", {
        KAFKA_BROKERS: broker.address,
        RAFT_NODE_GRPC_ADDR: raft.addresses.join(","),
        EXECUTOR_DATA_DIR: join(dir.path, "executor"),
        EXECUTOR_SESSION_TIMEOUT_MS: "2000",
        PORT_GRPC: String(freePort()),
      });
      const running = watchRole(executor);
      await running.waitForMetrics("every command executed or dead-lettered", {
        "events_published_total": used,
        'dead_letters_total{topic="orders.commands"': dead.length,
      });
      await executor.ready();

      await assertDeadLetters(reader, { topic: TOPICS.commands, dead, service: "order-executor" });
      assert.equal(running.exited, false, "the order-executor never stopped");

      // The verifier reads the same hostile topics: every valid command has its event.
      const report = await verifyPipeline({
        kafka,
        timeoutMs: 5000,
        quietMs: 300,
        lostQuietMs: 300,
      });
      assert.equal(report.uniqueCommands, used);
      assert.equal(report.lost, 0);
      assert.equal(report.duplicates, 0);
      assert.equal(report.invalidCommands, dead.length);
    } finally {
      await executor?.[Symbol.asyncDispose]();
      await hostile.close();
      await raft.stopAll();
    }
  },
});
