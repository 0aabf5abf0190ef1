import assert from "node:assert/strict";
import { createKafka } from "@trading/shared/kafka";
import { getLogger, resetLogging, setupLogging } from "@trading/shared/log";
import { PartitionReader } from "@trading/shared/partition-reader";
import { withBroker } from "@trading/testing/with-broker";
import {
  isFencedError,
  PartitionTransactions,
  ProducerFencedError,
} from "./partition_transactions.ts";

const TOPICS = [{ name: "in", partitions: 2 }, { name: "out", partitions: 2 }];

Deno.test({
  name:
    "PartitionTransactions: a second owner of a partition fences the first, which refuses work until it owns the partition again",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await setupLogging("partition-transactions-test", "error");
    try {
      await withBroker({ createTopics: TOPICS }, async (broker) => {
        const kafka = createKafka({ clientId: "pt-test", brokers: [broker.address] });
        const options = {
          kafka,
          groupId: "g",
          topic: "in",
          timeoutMs: 10_000,
          log: getLogger("test"),
        };
        const zombie = new PartitionTransactions(options);
        const owner = new PartitionTransactions(options);
        const reader = await PartitionReader.connect(kafka);
        try {
          assert.equal(zombie.transactionalId(1), "g-in-1");
          await zombie.own(1);
          await zombie.run(1, async (txn) => {
            await txn.send({
              topic: "out",
              messages: [{ key: "a", value: "zombie-1", partition: 1 }],
            });
          });
          // The new owner's InitProducerId bumps the epoch of g-in-1.
          await owner.own(1);
          await assert.rejects(
            zombie.run(1, async (txn) => {
              await txn.send({
                topic: "out",
                messages: [{ key: "b", value: "zombie-2", partition: 1 }],
              });
            }),
            (error) => isFencedError(error),
          );
          assert.equal(zombie.fenced(1), true);
          // Fenced: it does not take the id back by itself (that would fence the new owner).
          await assert.rejects(zombie.run(1, () => Promise.resolve()), ProducerFencedError);
          await owner.run(1, async (txn) => {
            await txn.send({
              topic: "out",
              messages: [{ key: "c", value: "owner", partition: 1 }],
            });
          });
          // A failed work aborts its transaction: nothing of it is visible.
          await assert.rejects(
            owner.run(1, async (txn) => {
              await txn.send({
                topic: "out",
                messages: [{ key: "d", value: "aborted", partition: 1 }],
              });
              throw new Error("chunk failed");
            }),
            /chunk failed/,
          );
          await owner.run(1, async (txn) => {
            await txn.send({
              topic: "out",
              messages: [{ key: "e", value: "owner-2", partition: 1 }],
            });
          });
          const high = await reader.highWatermark("out", 1);
          const values: string[] = [];
          await reader.readRange("out", 1, 0, high, (r) => {
            values.push(new TextDecoder().decode(r.value!));
          });
          assert.deepEqual(values, ["zombie-1", "owner", "owner-2"]);
          // A new assignment without the partition forgets the fence.
          zombie.release([]);
          assert.equal(zombie.fenced(1), false);
        } finally {
          await reader.close();
          await zombie.close();
          await owner.close();
        }
      });
    } finally {
      await resetLogging();
    }
  },
});

Deno.test("isFencedError() recognises the broker's fencing errors, wrapped or not, and nothing else", () => {
  const protocol = (type: string) => Object.assign(new Error(type), { type });
  assert.equal(isFencedError(protocol("INVALID_PRODUCER_EPOCH")), true);
  assert.equal(isFencedError(protocol("PRODUCER_FENCED")), true);
  const wrapped = Object.assign(new Error("retries exceeded"), {
    originalError: protocol("INVALID_PRODUCER_EPOCH"),
  });
  assert.equal(isFencedError(wrapped), true);
  assert.equal(isFencedError(new Error("x", { cause: protocol("PRODUCER_FENCED") })), true);
  assert.equal(isFencedError(protocol("TRANSACTIONAL_ID_AUTHORIZATION_FAILED")), false);
  assert.equal(isFencedError(protocol("NOT_COORDINATOR")), false);
  assert.equal(isFencedError("PRODUCER_FENCED"), false);
});
