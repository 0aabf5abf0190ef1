/**
 * The pipeline end to end with every process real, under the supervisor: embedded broker,
 * three raft-nodes, market-ingestor at 200 ticks/s, stream-processor, order-executor. Each
 * phase runs the feed, pauses it, and runs the verifier, which must find every command with
 * exactly one event: first undisturbed, then while the supervisor SIGKILLs (and restarts)
 * the stream-processor, the order-executor, the broker, the Raft leader and the ingestor,
 * and while garbage and schema-violating messages arrive on both input topics (they must end
 * up in orders.dlq).
 * At the end every symbol's tick sequences must run 1..n without a gap or a reuse.
 *
 * The undisturbed phase runs 30 s in both modes; the others 10 s (quick mode) or 30 s
 * (`TEST_MODE=long`).
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { Partitioners } from "kafkajs";
import { OrderCommand, Tick } from "@trading/proto";
import { decodeTick } from "@trading/shared/tick-schema";
import { DLQ_HEADERS } from "@trading/shared/dead-letter-queue";
import { createKafka, TOPICS } from "@trading/shared/kafka";
import { resetLogging, setupLogging } from "@trading/shared/log";
import { sleep } from "@trading/shared/retry";
import { longMode, tempDir } from "@trading/testing";
import { PartitionReader, type PartitionRecord } from "@trading/shared/partition-reader";
import { SupervisedPipeline } from "@trading/testing/supervised-pipeline";
import type { VerifyReport } from "./pipeline_audit.ts";
import { verifyPipeline } from "./verify_pipeline.ts";

const PHASE_MS = (longMode() ? 30 : 10) * 1000;
const UNDISTURBED_MS = 30_000;

Deno.test({
  name:
    "pipeline gives every command exactly one event at 200 ticks/s through SIGKILLs of each service, the broker and the Raft leader",
  sanitizeOps: false, // grpc-js keeps timers of its own after close
  sanitizeResources: false,
  async fn() {
    await setupLogging("pipeline-e2e", "error");
    await using dir = await tempDir();
    await using pipeline = await SupervisedPipeline.start({
      dataDir: dir.path,
      env: {
        INGESTOR_RATE: "200",
        EXECUTOR_SESSION_TIMEOUT_MS: "6000",
        STREAM_PROCESSOR_SESSION_TIMEOUT_MS: "6000",
      },
    });
    const kafka = createKafka({ clientId: "e2e-verifier", brokers: [pipeline.brokers] });
    let previous: VerifyReport | undefined;

    const phase = async (name: string, disrupt?: () => Promise<void>, phaseMs = PHASE_MS) => {
      await pipeline.resume();
      const started = Date.now();
      if (disrupt) {
        await sleep(phaseMs / 2);
        await disrupt();
      }
      await sleep(Math.max(0, phaseMs - (Date.now() - started)));
      await pipeline.pause();
      const report = await verifyPipeline({
        kafka,
        timeoutMs: 90_000,
        quietMs: 1500,
        lostQuietMs: 30_000,
      });
      const summary = `${name}: ${report.uniqueCommands} orders, ${report.duplicates} duplicates ` +
        `${JSON.stringify(report.duplicateIds)}, ${report.lost} lost ${
          JSON.stringify(report.lostIds)
        }, ` +
        `latency ${JSON.stringify(report.latencyMs)}`;
      console.log(summary);
      assert.equal(report.duplicates, 0, `${summary}\n${pipeline.tail()}`);
      assert.equal(report.lost, 0, `${summary}\n${pipeline.tail()}`);
      assert.equal(report.orphans, 0, summary);
      assert.ok(report.complete, `${name}: the verifier read both topics to the end`);
      assert.ok(
        report.uniqueCommands > (previous?.uniqueCommands ?? 0),
        `${name}: the pipeline made new orders (${report.uniqueCommands})`,
      );
      previous = report;
    };

    try {
      await phase("undisturbed", undefined, UNDISTURBED_MS);
      await phase(
        "stream-processor SIGKILLed",
        () => pipeline.killAndAwaitRestart("stream-processor"),
      );
      await phase("order-executor SIGKILLed", () => pipeline.killAndAwaitRestart("order-executor"));
      await phase("broker SIGKILLed", () => pipeline.killAndAwaitRestart("broker"));
      await phase("Raft leader SIGKILLed", () => pipeline.killAndAwaitRestart("leader"));
      await phase(
        "market-ingestor SIGKILLed",
        () => pipeline.killAndAwaitRestart("market-ingestor"),
      );
      await phase("bad input on market.ticks and orders.commands", async () => {
        const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
        await producer.connect();
        const invalidTick = Tick.encode(Tick.fromPartial({ symbol: "AAPL", sequence: 0 })).finish();
        const invalidCommand = OrderCommand.encode(
          OrderCommand.fromPartial({ orderId: "bad-1", quantity: -5 }),
        )
          .finish();
        for (const topic of [TOPICS.ticks, TOPICS.commands]) {
          await producer.send({
            topic,
            acks: -1,
            messages: [
              { key: "garbage", value: Buffer.from([0xff, 0xfe, 0x00, 0x42]) },
              {
                key: "AAPL",
                value: Buffer.from(topic === TOPICS.ticks ? invalidTick : invalidCommand),
              },
            ],
          });
        }
        await producer.disconnect();
      });
      const dlqReader = await PartitionReader.connect(kafka);
      const dead: PartitionRecord[] = [];
      try {
        for (const { partition, low, high } of await dlqReader.offsets(TOPICS.dlq)) {
          await dlqReader.readRange(TOPICS.dlq, partition, low, high, (r) => dead.push(r));
        }
      } finally {
        await dlqReader.close();
      }
      const reasons = dead.map((d) =>
        `${d.headers[DLQ_HEADERS.topic]} ${d.headers[DLQ_HEADERS.reason]}`
      ).sort();
      assert.deepEqual([...new Set(reasons)], [
        "market.ticks invalid",
        "market.ticks undecodable",
        "orders.commands invalid",
        "orders.commands undecodable",
      ]);

      // Tick sequences: per symbol exactly 1..n, each number one tick.
      const reader = await PartitionReader.connect(kafka);
      const sequences = new Map<string, Map<number, string>>();
      try {
        for (const { partition, low, high } of await reader.offsets(TOPICS.ticks)) {
          await reader.readRange(TOPICS.ticks, partition, low, high, (record) => {
            let tick: Tick;
            try {
              tick = decodeTick(record.value);
            } catch {
              return; // the bad input of the last phase
            }
            const seen = sequences.get(tick.symbol) ?? new Map<number, string>();
            const content = `${tick.price}/${tick.createdAtUs}`;
            const earlier = seen.get(tick.sequence);
            assert.ok(
              earlier === undefined || earlier === content,
              `${tick.symbol} #${tick.sequence} reused`,
            );
            seen.set(tick.sequence, content);
            sequences.set(tick.symbol, seen);
          });
        }
      } finally {
        await reader.close();
      }
      assert.ok(sequences.size >= 5);
      for (const [symbol, seen] of sequences) {
        const max = Math.max(...seen.keys());
        assert.equal(seen.size, max, `${symbol}: sequences 1..${max} without gaps`);
      }
    } finally {
      await resetLogging();
    }
  },
});
