// Chaos scenario 7, the frozen executor, on a multi-broker Kafka that nobody here wrote:
// librdkafka's 3-broker mock cluster (testing/kafka_mock_cluster.py, Debian's librdkafka
// 2.0.2). Executor a owns every command partition and freezes (SIGSTOP by a failpoint) between
// its fence and its publish; past its 6 s session the mock expels it, and only then executor b
// starts and joins the group alone (the mock cannot rebalance two live kafkajs members: it
// answers a SyncGroup that comes while the group is Up with INVALID_REQUEST,
// rd_kafka_mock_cgrp_check_state, which kafkajs treats as fatal); b owns every partition and
// publishes a's orders; then a resumes and goes on with its send. a is killed once its late
// send is seen, before it rejoins (the same two-member rebalance), and b takes more orders.
//
// Without transactions the window shows on the mock as on the embedded broker: a's events land
// a second time (asserted). With transactions the scenario needs the broker to fence a's
// transactional producer once b initialized the same transactional id, and librdkafka's mock
// does not (rdkafka_mock_handlers.c at v2.0.2): InitProducerId without a current producer id
// (kafkajs sends v0/v1, which has none) mints a new random producer id at epoch 0
// (rd_kafka_mock_pid_new) instead of bumping the id's epoch, and AddPartitionsToTxn,
// TxnOffsetCommit, EndTxn and Produce check a producer only against its own epoch
// (rd_kafka_mock_pid_check, rd_kafka_mock_validate_records), so a's old producer stays valid.
// EndTxn writes no marker and Fetch answers LastStableOffset = high watermark with no aborted
// transactions, so even a refused commit would leave a's records visible. The first step
// probes this on the cluster itself; the with-transactions steps run only when the mock fences
// (a later librdkafka) or when CHAOS_MOCK_TRANSACTIONS=run forces them, and then they must
// give 0 duplicates, 0 lost (forced on librdkafka 2.0.2 they fail with a's duplicates).
//
// Runs in `deno task test` and `deno task test:chaos --scenario 7 --kafka=mock`; CHAOS_SEED
// picks which of a's chunks freezes (default 1).
import assert from "node:assert/strict";
import { Partitioners } from "kafkajs";
import {
  createKafka,
  createTransactionalProducer,
  TOPIC_PARTITIONS,
  TOPICS,
} from "@trading/shared/kafka";
import { PartitionReader } from "@trading/shared/partition-reader";
import { SeededRandom } from "@trading/shared/seeded-random";
import { resetLogging, setupLogging } from "@trading/shared/log";
import { sleep } from "@trading/shared/retry";
import { KafkaMockCluster, RoleProcess, tempDir, waitFor } from "@trading/testing";
import { RaftCluster } from "@trading/testing/raft-cluster";
import { verifyPipeline } from "@trading/verifier/verify-pipeline";
import {
  everyCommandAnswered,
  executorEnv,
  feedCommands,
  produceTicks,
} from "@trading/testing/order-flow";

const seed = Number(Deno.env.get("CHAOS_SEED") ?? "1");
const selected = (Deno.env.get("CHAOS_SCENARIOS") ?? "").split(",").filter((s) => s !== "");
const kafkaSelected = Deno.env.get("CHAOS_KAFKA") ?? "";
const forceTransactions = Deno.env.get("CHAOS_MOCK_TRANSACTIONS") === "run";
const replay = `deno task test:chaos --scenario 7 --kafka=mock --seed ${seed}`;
/** The mock's group.min.session.timeout.ms. */
const SESSION_MS = 6000;

/**
 * Whether the mock fences a transactional producer once a successor initialized its
 * transactional id: the zombie's send and commit after that are refused, and nothing it sent
 * is readable with read_committed. Throws on any other outcome.
 */
async function mockFencesZombies(): Promise<{ fences: boolean; detail: string }> {
  await using cluster = await KafkaMockCluster.start({ brokers: 3, topics: TOPIC_PARTITIONS });
  const kafka = createKafka({
    clientId: "mock-fence-probe",
    brokers: cluster.bootstrap.split(","),
  });
  const transactionalId = "mock-fence-probe-orders.commands-0";
  const zombie = createTransactionalProducer(kafka, transactionalId, 10_000);
  const successor = createTransactionalProducer(kafka, transactionalId, 10_000);
  const reader = await PartitionReader.connect(kafka);
  try {
    await zombie.connect();
    const transaction = await zombie.transaction();
    const record = (value: string) => ({
      topic: TOPICS.events,
      messages: [{ key: "probe", value, partition: 0 }],
    });
    await transaction.send(record("before the successor"));
    await successor.connect();
    await (await successor.transaction()).abort(); // its InitProducerId
    const outcome: string[] = [];
    for (
      const [step, run] of [
        ["send", () => transaction.send(record("after the successor"))],
        ["commit", () => transaction.commit()],
      ] as const
    ) {
      try {
        await run();
        outcome.push(`${step} accepted`);
      } catch (error) {
        // Kafka's two answers to a fenced producer (the executor's FENCED_TYPES).
        const type = (error as { type?: unknown }).type;
        if (type !== "INVALID_PRODUCER_EPOCH" && type !== "PRODUCER_FENCED") throw error;
        outcome.push(`${step} fenced`);
      }
    }
    const readable: string[] = [];
    const high = await reader.highWatermark(TOPICS.events, 0);
    await reader.readRange(TOPICS.events, 0, 0, high, (r) => {
      readable.push(new TextDecoder().decode(r.value ?? new Uint8Array()));
    });
    const fences = outcome.every((o) => o.endsWith("fenced")) && readable.length === 0;
    return {
      fences,
      detail: `zombie ${outcome.join(", ")}; read_committed reads ${JSON.stringify(readable)}`,
    };
  } finally {
    await reader.close().catch(() => {});
    await zombie.disconnect().catch(() => {});
    await successor.disconnect().catch(() => {});
  }
}

/**
 * Runs the scenario with `freezeAt` (a failpoint) on a fresh mock cluster; returns the
 * verifier's figures once every command has its event.
 */
async function frozenExecutorOnMock(
  raft: RaftCluster,
  options: { transactions: boolean; freezeAt: string; chunk: number },
): Promise<{ orders: number; duplicates: number; lost: number; late: string; seconds: number }> {
  const started = Date.now();
  await using dir = await tempDir("trading-chaos-frozen-mock-");
  await using cluster = await KafkaMockCluster.start({ brokers: 3, topics: TOPIC_PARTITIONS });
  const brokers = { address: cluster.bootstrap };
  const kafka = createKafka({
    clientId: "chaos-frozen-mock",
    brokers: cluster.bootstrap.split(","),
  });
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  try {
    await produceTicks(producer);
    const env = (id: string, extra: Record<string, string> = {}) =>
      executorEnv(brokers, raft, `${dir.path}/${id}`, {
        EXECUTOR_ID: id,
        EXECUTOR_CHUNK_SIZE: "5",
        EXECUTOR_SESSION_TIMEOUT_MS: String(SESSION_MS),
        EXECUTOR_TRANSACTIONS: String(options.transactions),
        ...extra,
      });
    await using a = RoleProcess.spawn(
      "order-executor",
      env("ex-a", { TRADING_FAILPOINTS: `${options.freezeAt}:${options.chunk}:stop` }),
    );
    await a.ready(60_000);
    const prefix = `mock-${options.freezeAt}-${options.transactions}`;
    const feeding = feedCommands(producer, prefix, 40);
    await waitFor(
      "a to freeze",
      () => a.output.some((l) => l.includes(`failpoint ${options.freezeAt}`)),
      { timeoutMs: 60_000 },
    );
    // Past a's session the mock has expelled it, so b's join is a group of one.
    await sleep(SESSION_MS + 1000);
    await using b = RoleProcess.spawn("order-executor", env("ex-b"));
    await b.ready(60_000);
    await waitFor(
      "b to own all three partitions",
      () => b.output.some((l) => l.includes("owning orders.commands partitions 0,1,2")),
      { timeoutMs: 60_000 },
    );
    const produced = await feeding;
    await everyCommandAnswered(brokers, produced, 90_000);
    // a resumes where it froze: past its fence, about to send (or to commit).
    a.kill("SIGCONT");
    const late = await waitFor("a fenced off, or a's late events", async () => {
      if (a.output.some((l) => l.includes("fenced off"))) return "a fenced off";
      const r = await verifyPipeline({ kafka, timeoutMs: 5000, quietMs: 300, lostQuietMs: 300 });
      return r.duplicates > 0 ? `a's late events: ${r.duplicates} duplicates` : undefined;
    }, { timeoutMs: 30_000, intervalMs: 300 });
    // Before a rejoins: a second live member is the rebalance the mock cannot do.
    a.kill("SIGKILL");
    await a.exited();
    const more = await feedCommands(producer, `${prefix}-after`, 10);
    const report = await everyCommandAnswered(brokers, produced + more, 90_000);
    return {
      orders: report.uniqueOrderIds,
      duplicates: report.duplicates,
      lost: report.lost,
      late,
      seconds: Math.round((Date.now() - started) / 1000),
    };
  } finally {
    await producer.disconnect();
  }
}

Deno.test({
  name: `chaos scenario 7 on librdkafka's 3-broker mock cluster (seed ${seed})`,
  ignore: (selected.length > 0 && !selected.includes("7")) ||
    (kafkaSelected !== "" && kafkaSelected !== "mock"),
  sanitizeOps: false, // grpc-js timers outlive its clients' close
  sanitizeResources: false,
  async fn(t) {
    await setupLogging("chaos-frozen-mock", "error");
    await using dir = await tempDir("trading-chaos-frozen-mock-raft-");
    const raft = await RaftCluster.start({ dir: dir.path });
    // Which of a's publishes freezes: the 2nd to the 5th.
    const chunk = 2 + new SeededRandom(seed).int(0, 3);
    try {
      let fences = false;
      await t.step("probe: does the mock fence a zombie transactional producer?", async () => {
        const probe = await mockFencesZombies();
        fences = probe.fences;
        console.log(`mock cluster ${fences ? "fences" : "does not fence"}: ${probe.detail}`);
      });
      await t.step(
        "without transactions a's late send publishes its chunk twice (the window)",
        async () => {
          const run = await frozenExecutorOnMock(raft, {
            transactions: false,
            freezeAt: "after-fence",
            chunk,
          });
          console.log(
            `scenario 7 on the mock without transactions (after-fence, chunk ${chunk}): ` +
              `${run.orders} orders, ${run.duplicates} duplicates, ${run.lost} lost, ` +
              `${run.seconds} s (${run.late})`,
          );
          assert.ok(
            run.duplicates > 0,
            `expected a's late send to duplicate its chunk without transactions; replay: ${replay}`,
          );
          assert.equal(run.lost, 0);
        },
      );
      for (const freezeAt of ["after-fence", "before-txn-commit"]) {
        await t.step({
          name: `with transactions, frozen at ${freezeAt}: 0 duplicates, 0 lost` +
            (fences || forceTransactions ? "" : " (the mock does not fence: not run)"),
          ignore: !fences && !forceTransactions,
          fn: async () => {
            const run = await frozenExecutorOnMock(raft, { transactions: true, freezeAt, chunk });
            const summary = `scenario 7 on the mock with transactions (${freezeAt}, chunk ` +
              `${chunk}): ${run.orders} orders, ${run.duplicates} duplicates, ${run.lost} lost, ` +
              `${run.seconds} s (${run.late})`;
            console.log(summary);
            assert.equal(run.duplicates, 0, `${summary}; replay: ${replay}`);
            assert.equal(run.lost, 0, summary);
          },
        });
      }
    } finally {
      await raft.stopAll();
      await resetLogging();
    }
  },
});
