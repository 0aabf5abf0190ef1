/**
 * The stream-processor as a process against the real broker, fed hostile record batches on
 * `market.ticks` by a raw client (testing/hostile_records.ts): every record it cannot use
 * goes to `orders.dlq` with its reason and is counted, every valid one (compressed with any
 * of the four codecs too) is processed, and the process never stops: no crash, no loop.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Tick } from "@trading/proto";
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

function tick(i: number): Uint8Array {
  return Tick.encode(Tick.fromPartial({
    symbol: "AAA",
    sequence: i + 1,
    price: 10_000 + i,
    size: 10,
    bid: 9_999 + i,
    ask: 10_001 + i,
    createdAtUs: Date.now() * 1000,
    source: "synthetic",
  })).finish();
}

Deno.test({
  name:
    "stream-processor dead-letters every unusable record of a hostile feed, processes the rest, never stops",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using dir = await tempDir();
    const hostile = await startHostileBroker(join(dir.path, "broker"));
    const { broker, reader } = hostile;
    let processor: RoleProcess | undefined;
    try {
      const invalid = Tick.encode(Tick.fromPartial({ symbol: "", sequence: 0 })).finish();
      const written = await writeHostileBatches(
        broker.address,
        TOPICS.ticks,
        0,
        hostileBatches(tick, invalid, "tick"),
      );
      const { used, dead } = expectedOutcomes(written);
      processor = RoleProcess.spawn("stream-processor", {
        KAFKA_BROKERS: broker.address,
        STREAM_PROCESSOR_DATA_DIR: join(dir.path, "processor"),
        STREAM_PROCESSOR_SESSION_TIMEOUT_MS: "2000",
        PORT_GRPC: String(freePort()),
      });
      const running = watchRole(processor);
      await running.waitForMetrics("every record processed or dead-lettered", {
        "ticks_in_total": used,
        'dead_letters_total{topic="market.ticks"': dead.length,
      });

      await assertDeadLetters(reader, { topic: TOPICS.ticks, dead, service: "stream-processor" });
      for (const [reason, count] of [["undecodable", 6], ["invalid", 1]] as const) {
        assert.equal(
          await processor.metric(`dead_letters_total{topic="market.ticks",reason="${reason}"`),
          count,
          reason,
        );
      }
      assert.equal(running.exited, false, "the stream-processor never stopped");
    } finally {
      await processor?.[Symbol.asyncDispose]();
      await hostile.close();
    }
  },
});
