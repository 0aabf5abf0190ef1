/**
 * The order-executor as a process against a real broker and a real 3-node Raft cluster:
 * crashes at every step between the Raft Apply and the offset commit (failpoints, the
 * process exits at once like a SIGKILL) and re-emitted commands never cost an order its
 * event nor give it two; bad commands go to the dead-letter topic without stopping it.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { DatabaseSync } from "node:sqlite";
import { Partitioners, type Producer } from "kafkajs";
import { OrderCommand } from "@trading/proto";
import { type Broker, startBroker } from "@trading/broker";
import { RaftCluster } from "@trading/testing/raft-cluster";
import { createKafka, TOPICS } from "@trading/shared/kafka";
import { resetLogging, setupLogging } from "@trading/shared/log";
import { tempDir, waitFor } from "@trading/testing";
import { FAILPOINT_EXIT_CODE } from "@trading/shared/failpoint";
import { PartitionReader } from "@trading/shared/partition-reader";
import { RoleProcess } from "@trading/testing";
import {
  command,
  encode,
  executorEnv,
  expectExactlyOnce,
  produceCommands,
  produceTicks,
  TOPIC_LIST,
} from "@trading/testing/order-flow";
import { DLQ_HEADERS } from "@trading/shared/dead-letter-queue";

/** A fresh broker (and executor data) per case; the Raft cluster is shared (ids differ per case). */
async function withBroker(
  raft: RaftCluster,
  fn: (
    parts: { broker: Broker; raft: RaftCluster; dataDir: string; producer: Producer },
  ) => Promise<void>,
): Promise<void> {
  await using dir = await tempDir();
  const broker = await startBroker({
    port: 0,
    dataDir: `${dir.path}/broker`,
    createTopics: TOPIC_LIST,
  });
  const kafka = createKafka({ clientId: "executor-test", brokers: [broker.address] });
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  try {
    await produceTicks(producer);
    await fn({ broker, raft, dataDir: dir.path, producer });
  } finally {
    await producer.disconnect();
    await broker.close();
  }
}

Deno.test({
  name: "order-executor against a real broker and Raft cluster",
  sanitizeOps: false, // grpc-js timers outlive its clients' close
  sanitizeResources: false,
  async fn(t) {
    await setupLogging("executor-test", "error");
    await using dir = await tempDir();
    const raft = await RaftCluster.start({ dir: dir.path });
    try {
      await cases(t, raft);
    } finally {
      await raft.stopAll();
      await resetLogging();
    }
  },
});

async function cases(t: Deno.TestContext, raft: RaftCluster): Promise<void> {
  // Every crash point with transactions (the default), and the two around the publish
  // without them (the fence is then an offset commit).
  const crashes = [
    "after-outbox-insert",
    "after-fence",
    "after-send",
    "before-txn-commit",
    "after-txn-commit",
    "after-mark-sent",
    "after-commit",
  ].map((point) => ({ point, transactions: true })).concat(
    ["after-send", "after-mark-sent"].map((point) => ({ point, transactions: false })),
  );
  for (const { point, transactions } of crashes) {
    const mode = transactions ? "" : " without transactions";
    await t.step(`crashing ${point}${mode} still gives every order exactly one event`, async () => {
      await withBroker(raft, async ({ broker, dataDir, producer }) => {
        const txn = { EXECUTOR_TRANSACTIONS: String(transactions) };
        await produceCommands(producer, point, 150);
        await using crashing = RoleProcess.spawn(
          "order-executor",
          executorEnv(broker, raft, dataDir, { TRADING_FAILPOINTS: `${point}:3`, ...txn }),
        );
        assert.equal(await crashing.exited(), FAILPOINT_EXIT_CODE, crashing.tail());
        await using restarted = RoleProcess.spawn(
          "order-executor",
          executorEnv(broker, raft, dataDir, txn),
        );
        await restarted.ready();
        await expectExactlyOnce(broker, 150);
        assert.equal(await restarted.metric("outbox_depth"), 0);
        // Each chunk of orders was recorded with one ApplyBatch call.
        let batches = 0;
        for (const node of raft.nodes) {
          const text = await raft.metrics(node.id);
          batches += Number(/^raft_apply_batches_total(?:\{[^}]*\})? (\d+)/m.exec(text)?.[1] ?? 0);
        }
        assert.ok(batches > 0, "the executor recorded its chunks with ApplyBatch");
      });
    });
  }

  await t.step(
    "commands redelivered after their outbox rows were pruned are found published, not resent",
    async () => {
      await withBroker(raft, async ({ broker, dataDir, producer }) => {
        await produceCommands(producer, "pruned", 60);
        const first = RoleProcess.spawn("order-executor", executorEnv(broker, raft, dataDir));
        try {
          await first.ready();
          await expectExactlyOnce(broker, 60);
          first.kill("SIGTERM");
          assert.equal(await first.exited(), 0, first.tail());
        } finally {
          await first[Symbol.asyncDispose]();
        }
        // Every row published a day and more ago, and the group's offsets back at the start.
        const db = new DatabaseSync(`${dataDir}/executor/order-executor.outbox.db`);
        assert.equal(
          Number(
            db.prepare("UPDATE outbox SET updated_at_ms = 0 WHERE state = 'sent'").run().changes,
          ),
          60,
        );
        db.close();
        const kafka = createKafka({ clientId: "executor-test-admin", brokers: [broker.address] });
        const admin = kafka.admin();
        await admin.connect();
        try {
          await admin.resetOffsets({
            groupId: "order-executor",
            topic: TOPICS.commands,
            earliest: true,
          });
        } finally {
          await admin.disconnect();
        }

        await using again = RoleProcess.spawn("order-executor", executorEnv(broker, raft, dataDir));
        await again.ready();
        // Pruned at start-up, before the group is joined; waited for rather than read once, as
        // one CI run read 0 here right after /readyz (not reproduced since).
        await waitFor(
          "the 60 aged rows pruned",
          async () => (await again.metric("outbox_pruned_total")) === 60,
          { timeoutMs: 30_000 },
        );
        // 80 commands (60 orders, 20 of them re-emitted) come again, and Raft knows them all.
        await waitFor(
          "the redelivered commands handled",
          async () =>
            (await again.metric("commands_duplicate_total")) === 80 &&
            (await again.metric("outbox_depth")) === 0,
          { timeoutMs: 30_000 },
        );
        // Each pruned order is settled by the relay's read-back of orders.events: as a pending
        // row found there, or as an event it read before the command came again.
        assert.ok((await again.metric("events_found_published_total")) > 0, again.tail());
        await expectExactlyOnce(broker, 60);
        assert.equal(await again.metric("events_published_total"), 0);
        assert.equal(await again.metric("outbox_depth"), 0);
      });
    },
  );

  await t.step(
    "two executors share the partitions; a frozen one and a killed one never publish twice",
    async () => {
      await withBroker(raft, async ({ broker, dataDir, producer }) => {
        const env = (id: string, extra: Record<string, string> = {}) =>
          executorEnv(broker, raft, dataDir, {
            EXECUTOR_ID: id,
            EXECUTOR_CHUNK_SIZE: "5",
            ...extra,
          });
        // a freezes itself in the middle of a chunk: its orders are recorded in Raft and in its
        // outbox, not yet published, and it has not noticed that the group moved on.
        await using a = RoleProcess.spawn(
          "order-executor",
          env("ex-a", { TRADING_FAILPOINTS: "before-fence:4:stop" }),
        );
        let b = RoleProcess.spawn("order-executor", env("ex-b"));
        try {
          await Promise.all([a.ready(), b.ready()]);
          let produced = 0;
          const feed = (async () => {
            for (let round = 0; round < 60; round++) {
              const batch = Array.from({ length: 5 }, (_, i) => command(`shared-${round}-${i}`, i));
              await producer.send({
                topic: TOPICS.commands,
                acks: -1,
                messages: batch.map((c) => ({
                  key: c.orderId,
                  value: encode(OrderCommand.encode(c)),
                })),
              });
              produced += batch.length;
              await new Promise((resolve) => setTimeout(resolve, 100));
            }
          })();
          await waitFor(
            "a to freeze",
            () => a.output.some((l) => l.includes("failpoint before-fence")),
          );
          // Past a's session timeout (2 s) b joins again, owning every partition, a's included.
          const seen = b.output.length;
          await waitFor(
            "b to own all three partitions",
            () =>
              b.output.slice(seen).some((l) =>
                l.includes("owning orders.commands partitions 0,1,2")
              ),
            { timeoutMs: 30_000 },
          );
          a.kill("SIGCONT");
          await waitFor(
            "a fenced off",
            () => a.output.some((l) => l.includes("fenced off")),
            {
              timeoutMs: 10_000,
            },
          );
          b.kill("SIGKILL");
          await b.exited();
          b = RoleProcess.spawn("order-executor", env("ex-b"));
          await feed;
          const report = await expectExactlyOnce(broker, produced);
          assert.deepEqual(Object.keys(report.executors).sort(), ["ex-a", "ex-b"]);
        } finally {
          await b[Symbol.asyncDispose]();
        }
      });
    },
  );

  await t.step(
    "dead-letters garbage and invalid commands with reason and origin, and goes on",
    async () => {
      await withBroker(raft, async ({ broker, dataDir, producer }) => {
        const garbage = Buffer.from([0xff, 0x01, 0x02, 0x03]);
        const invalid = encode(OrderCommand.encode({ ...command("bad-qty", 0), quantity: 0 }));
        await producer.send({
          topic: TOPICS.commands,
          acks: -1,
          messages: [
            { key: "garbage", value: garbage, partition: 0 },
            { key: "bad-qty", value: invalid, partition: 0 },
          ],
        });
        await produceCommands(producer, "good", 30);
        await using executor = RoleProcess.spawn(
          "order-executor",
          executorEnv(broker, raft, dataDir),
        );
        await executor.ready();
        await expectExactlyOnce(broker, 30);

        const kafka = createKafka({ clientId: "executor-test-dlq", brokers: [broker.address] });
        const reader = await PartitionReader.connect(kafka);
        try {
          const { records } = await reader.fetchMany(TOPICS.dlq, new Map([[0, 0], [1, 0], [2, 0]]));
          const headers = records.map((r) => r.headers).sort((a, b) =>
            a[DLQ_HEADERS.offset]!.localeCompare(b[DLQ_HEADERS.offset]!)
          );
          assert.equal(headers.length, 2);
          assert.deepEqual(
            headers.map((
              h,
            ) => [
              h[DLQ_HEADERS.reason],
              h[DLQ_HEADERS.topic],
              h[DLQ_HEADERS.partition],
              h[DLQ_HEADERS.offset],
            ]),
            [
              ["undecodable", TOPICS.commands, "0", "0"],
              ["invalid", TOPICS.commands, "0", "1"],
            ],
          );
          assert.match(headers[1]![DLQ_HEADERS.detail]!, /^Invalid command quantity: /);
          assert.equal(headers[0]![DLQ_HEADERS.service], "order-executor");
          assert.deepEqual(
            new Uint8Array(records.find((r) => r.headers[DLQ_HEADERS.offset] === "0")!.value!),
            new Uint8Array(garbage),
          );
        } finally {
          await reader.close();
        }
        assert.equal(await executor.metric('dead_letters_total{topic="orders.commands"'), 2);
        executor.kill("SIGTERM");
        assert.equal(await executor.exited(), 0, `SIGTERM stops it cleanly\n${executor.tail()}`);
      });
    },
  );
}
