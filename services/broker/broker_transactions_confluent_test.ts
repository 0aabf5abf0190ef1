/**
 * Transactions with librdkafka (Debian's python3-confluent-kafka) against the broker:
 * init_transactions, commit and abort, send_offsets_to_transaction (TxnOffsetCommit v3 with
 * the consumer's generation), fencing by a second producer with the same transactional.id,
 * and read_committed versus read_uncommitted consumers.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { DEBIAN_PYTHON, requireTestTool } from "@trading/testing";
import { withBroker } from "@trading/testing/with-broker";

const SCRIPT = fileURLToPath(new URL("./testdata/confluent_transactions.py", import.meta.url));

Deno.test("librdkafka's transactional producer commits, aborts, sends offsets and is fenced by its successor", async () => {
  await requireTestTool("confluent-kafka-python");
  await withBroker({
    createTopics: [{ name: "rd-in", partitions: 1 }, { name: "rd-out", partitions: 1 }],
  }, async (broker) => {
    const output = await new Deno.Command(DEBIAN_PYTHON, {
      args: [SCRIPT, broker.address, "rd"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(output.stderr);
    assert.equal(output.code, 0, `the script failed:\n${stderr}`);
    const result = JSON.parse(new TextDecoder().decode(output.stdout)) as {
      committed: string[];
      uncommitted: string[];
      groupOffset: number;
      fenced: boolean;
    };
    assert.deepEqual(result.committed, ["c1", "c2", "out-in-0", "out-in-1", "out-in-2", "c3"]);
    // read_uncommitted also sees the aborted record, and nothing of the fenced producer.
    assert.deepEqual(result.uncommitted, [
      "c1",
      "c2",
      "x1",
      "out-in-0",
      "out-in-1",
      "out-in-2",
      "c3",
    ]);
    assert.equal(result.groupOffset, 3, "the input offsets committed with the transaction");
    assert.equal(result.fenced, true);
  });
});
