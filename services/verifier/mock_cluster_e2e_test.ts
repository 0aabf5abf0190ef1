/**
 * The whole pipeline on a Kafka cluster that nobody here wrote: librdkafka's 3-broker mock
 * cluster (brokers 1..3 on ephemeral ports, partition leaders spread over them, and a
 * controller id it does not list), started by the test with the pipeline's topics. The
 * supervisor runs with `KAFKA_BROKERS` set to it (no embedded broker). While the feed runs,
 * every partition's leader moves to the next broker, and then one broker is taken down (its
 * connections closed, new ones refused) for a few seconds and brought up again; then the
 * verifier must find every command with exactly one event.
 *
 * Quick mode: one 10 s phase with one round of leader moves and one broker down for 3 s;
 * `TEST_MODE=long`: 60 s with a round every 10 s, each taking the next broker down.
 */
import assert from "node:assert/strict";
import { createKafka, TOPIC_PARTITIONS } from "@trading/shared/kafka";
import { resetLogging, setupLogging } from "@trading/shared/log";
import { sleep } from "@trading/shared/retry";
import { KafkaMockCluster, longMode, tempDir } from "@trading/testing";
import { SupervisedPipeline } from "@trading/testing/supervised-pipeline";
import { verifyPipeline } from "./verify_pipeline.ts";

const PHASE_MS = (longMode() ? 60 : 10) * 1000;
const MOVE_EVERY_MS = 10_000;
/** How long a broker stays down in each round: below the 6 s session timeout of the groups. */
const DOWN_MS = 3000;

/** True when a broker at `address` refuses a new connection, or closes it before any byte. */
async function refusesConnections(address: string): Promise<boolean> {
  const [hostname, port] = address.split(":");
  let conn: Deno.TcpConn;
  try {
    conn = await Deno.connect({ hostname: hostname!, port: Number(port) });
  } catch (error) {
    if (error instanceof Deno.errors.ConnectionRefused) return true;
    throw error;
  }
  try {
    // A live broker never speaks first, so only a close ends this read; it is bounded.
    const read = conn.read(new Uint8Array(1));
    const timeout = sleep(5000).then(() => "open" as const);
    return (await Promise.race([read, timeout])) === null;
  } catch {
    return true; // reset by the peer
  } finally {
    try {
      conn.close();
    } catch {
      // already closed
    }
  }
}

Deno.test({
  name:
    "pipeline on librdkafka's 3-broker mock cluster gives every command exactly one event while partition leaders move and a broker goes down and up",
  sanitizeOps: false, // grpc-js keeps timers of its own after close
  sanitizeResources: false,
  async fn() {
    await setupLogging("mock-cluster-e2e", "error");
    await using cluster = await KafkaMockCluster.start({ brokers: 3, topics: TOPIC_PARTITIONS });
    await using dir = await tempDir();
    await using pipeline = await SupervisedPipeline.start({
      dataDir: dir.path,
      kafkaBrokers: cluster.bootstrap,
      env: {
        INGESTOR_RATE: "100",
        EXECUTOR_SESSION_TIMEOUT_MS: "6000",
        STREAM_PROCESSOR_SESSION_TIMEOUT_MS: "6000",
      },
    });
    const kafka = createKafka({ clientId: "mock-e2e", brokers: cluster.bootstrap.split(",") });
    const admin = kafka.admin();
    await admin.connect();
    const leaders = async () => {
      const { topics } = await admin.fetchTopicMetadata({ topics: Object.keys(TOPIC_PARTITIONS) });
      return new Map(
        topics.flatMap((t) => t.partitions.map((p) => [`${t.name}/${p.partitionId}`, p.leader])),
      );
    };
    try {
      const before = await leaders();
      assert.ok(
        new Set(before.values()).size > 1,
        `leaders on several brokers: ${JSON.stringify([...before])}`,
      );
      assert.ok(![...before.values()].includes(0), "no broker has id 0");
      await pipeline.resume();
      const started = Date.now();
      let round = 0;
      const brokersDown: number[] = [];
      const refusedWhileDown: boolean[] = [];
      while (Date.now() - started < PHASE_MS) {
        await sleep(Math.min(MOVE_EVERY_MS / 2, PHASE_MS / 2));
        round++;
        for (const [topic, partitions] of Object.entries(TOPIC_PARTITIONS)) {
          for (let partition = 0; partition < partitions; partition++) {
            const current = before.get(`${topic}/${partition}`) ?? 1;
            await cluster.moveLeader(topic, partition, ((current - 1 + round) % 3) + 1);
          }
        }
        // The mock does not fail over: the down broker's partitions (and any group or
        // transaction coordinator on it) are unavailable until it is up again.
        const down = ((round - 1) % 3) + 1;
        await cluster.setBrokerUp(down, false);
        brokersDown.push(down);
        refusedWhileDown.push(await refusesConnections(cluster.bootstrap.split(",")[down - 1]!));
        await sleep(DOWN_MS);
        await cluster.setBrokerUp(down, true);
        await sleep(Math.max(0, Math.min(MOVE_EVERY_MS / 2, PHASE_MS / 2) - DOWN_MS));
      }
      const after = await leaders();
      assert.notDeepEqual([...after], [...before], "the leaders moved");
      assert.ok(
        refusedWhileDown.length > 0 && refusedWhileDown.every((refused) => refused),
        `each down broker refused a new connection: ${JSON.stringify(refusedWhileDown)}`,
      );
      await pipeline.pause();
      const report = await verifyPipeline({
        kafka,
        timeoutMs: 90_000,
        quietMs: 1500,
        lostQuietMs: 30_000,
      });
      const summary = `mock cluster, ${round} leader move rounds, brokers ${brokersDown} down ` +
        `for ${DOWN_MS} ms each: ${report.uniqueCommands} ` +
        `orders, ${report.duplicates} duplicates ${JSON.stringify(report.duplicateIds)}, ` +
        `${report.lost} lost ${JSON.stringify(report.lostIds)}`;
      console.log(summary);
      assert.equal(report.duplicates, 0, `${summary}\n${pipeline.tail()}`);
      assert.equal(report.lost, 0, `${summary}\n${pipeline.tail()}`);
      assert.ok(report.complete, "the verifier read both topics to the end");
      assert.ok(report.uniqueCommands > 0, `the pipeline made orders (${summary})`);
    } finally {
      await admin.disconnect();
      await pipeline.stop();
      await resetLogging();
    }
  },
});
