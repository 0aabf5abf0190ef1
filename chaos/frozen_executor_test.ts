// Chaos scenario 7, the frozen-executor window: two order-executors share the command
// partitions; a failpoint freezes executor a (SIGSTOP) right after its own fence passed and
// before its publish; past a's session timeout executor b takes every partition over and
// publishes a's orders; then a resumes and goes on with its send. With Kafka transactions
// (the default) b's InitProducerId fenced a's transactional ids, so a's writes are refused:
// 0 duplicates, 0 lost. Without them (EXECUTOR_TRANSACTIONS=false) the same run reproduces
// the window: a's events land a second time, and the verifier reports the duplicates.
//
// Runs in `deno task test` and `deno task test:chaos` (`--scenario 7`); CHAOS_SEED picks
// which of a's chunks freezes (default 1).
import assert from "node:assert/strict";
import { Partitioners } from "kafkajs";
import { startBroker } from "@trading/broker";
import { createKafka } from "@trading/shared/kafka";
import { SeededRandom } from "@trading/shared/seeded-random";
import { resetLogging, setupLogging } from "@trading/shared/log";
import { RoleProcess, tempDir, waitFor } from "@trading/testing";
import { RaftCluster } from "@trading/testing/raft-cluster";
import {
  everyCommandAnswered,
  executorEnv,
  feedCommands,
  produceTicks,
  TOPIC_LIST,
} from "@trading/testing/order-flow";

const seed = Number(Deno.env.get("CHAOS_SEED") ?? "1");
const selected = (Deno.env.get("CHAOS_SCENARIOS") ?? "").split(",").filter((s) => s !== "");
const replay = `deno task test:chaos --scenario 7 --seed ${seed}`;

/**
 * Runs the scenario with `freezeAt` (a failpoint) on a fresh broker; returns the verifier's
 * duplicates once every command has its event, and a's output.
 */
async function frozenExecutorRun(
  raft: RaftCluster,
  options: { transactions: boolean; freezeAt: string; chunk: number },
): Promise<{ duplicates: number; orders: number; a: string[] }> {
  await using dir = await tempDir("trading-chaos-frozen-");
  const broker = await startBroker({
    port: 0,
    dataDir: `${dir.path}/broker`,
    createTopics: TOPIC_LIST,
  });
  const kafka = createKafka({
    clientId: "chaos-frozen-executor",
    brokers: broker.address.split(","),
  });
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  try {
    await produceTicks(producer);
    const env = (id: string, extra: Record<string, string> = {}) =>
      executorEnv(broker, raft, dir.path, {
        EXECUTOR_ID: id,
        EXECUTOR_CHUNK_SIZE: "5",
        EXECUTOR_TRANSACTIONS: String(options.transactions),
        ...extra,
      });
    await using a = RoleProcess.spawn(
      "order-executor",
      env("ex-a", { TRADING_FAILPOINTS: `${options.freezeAt}:${options.chunk}:stop` }),
    );
    await using b = RoleProcess.spawn("order-executor", env("ex-b"));
    await Promise.all([a.ready(), b.ready()]);
    const prefix = `${options.freezeAt}-${options.transactions}`;
    const feeding = feedCommands(producer, prefix, 40);
    await waitFor(
      "a to freeze",
      () => a.output.some((l) => l.includes(`failpoint ${options.freezeAt}`)),
      {
        timeoutMs: 60_000,
      },
    );
    // Past a's session timeout (2 s) b joins again, owning every partition, a's included,
    // and publishes every order, a's frozen chunk included.
    const seen = b.output.length;
    await waitFor(
      "b to own all three partitions",
      () => b.output.slice(seen).some((l) => l.includes("owning orders.commands partitions 0,1,2")),
      { timeoutMs: 30_000 },
    );
    const produced = await feeding;
    await everyCommandAnswered(broker, produced, 60_000);
    // a resumes where it froze: past its fence, about to send.
    a.kill("SIGCONT");
    if (options.transactions) {
      await waitFor("a fenced off", () => a.output.some((l) => l.includes("fenced off")), {
        timeoutMs: 30_000,
      });
    } else {
      await waitFor(
        "a's late send",
        () =>
          b.output.some((l) => l.includes("got writes from another producer")) ||
          a.output.some((l) => l.includes("got writes from another producer")),
        { timeoutMs: 30_000 },
      ).catch(() => {});
    }
    // Both run on: more orders, and a rebalance back to two members.
    const more = await feedCommands(producer, `${prefix}-after`, 10);
    const report = await everyCommandAnswered(broker, produced + more, 60_000);
    return { duplicates: report.duplicates, orders: report.uniqueOrderIds, a: a.output };
  } finally {
    await producer.disconnect();
    await broker.close();
  }
}

Deno.test({
  name: `chaos scenario 7: an executor frozen between its fence and its publish (seed ${seed})`,
  ignore: selected.length > 0 && !selected.includes("7"),
  sanitizeOps: false, // grpc-js timers outlive its clients' close
  sanitizeResources: false,
  async fn(t) {
    await setupLogging("chaos-frozen-executor", "error");
    await using dir = await tempDir("trading-chaos-frozen-raft-");
    const raft = await RaftCluster.start({ dir: dir.path });
    // Which of a's publishes freezes: the 2nd to the 5th.
    const chunk = 2 + new SeededRandom(seed).int(0, 3);
    try {
      for (const freezeAt of ["after-fence", "before-txn-commit"]) {
        await t.step(`with transactions, frozen at ${freezeAt}: 0 duplicates, 0 lost`, async () => {
          const run = await frozenExecutorRun(raft, { transactions: true, freezeAt, chunk });
          console.log(
            `scenario 7 (${freezeAt}, chunk ${chunk}): ${run.orders} orders, ${run.duplicates} duplicates`,
          );
          assert.equal(run.duplicates, 0, `duplicates with transactions; replay: ${replay}`);
        });
      }
      await t.step(
        "without transactions the same freeze publishes twice (the window)",
        async () => {
          const run = await frozenExecutorRun(raft, {
            transactions: false,
            freezeAt: "after-fence",
            chunk,
          });
          console.log(
            `scenario 7 without transactions: ${run.orders} orders, ${run.duplicates} duplicates`,
          );
          assert.ok(
            run.duplicates > 0,
            `expected a's late send to duplicate its chunk without transactions; replay: ${replay}`,
          );
        },
      );
    } finally {
      await raft.stopAll();
      await resetLogging();
    }
  },
});
