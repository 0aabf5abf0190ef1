/**
 * Batches that librdkafka (kcat) writes with each of its codecs are read by our kafkajs
 * clients, the group consumer and the PartitionReader alike: kafkajs itself has only gzip,
 * and a Snappy batch from another client used to stop our consumers for good.
 */
import assert from "node:assert/strict";
import { requireTestTool, waitFor } from "@trading/testing";
import { withBroker } from "@trading/testing/with-broker";
import { createKafka, undecodableBatchError } from "./kafka.ts";
import { PartitionReader } from "./partition_reader.ts";

const CODECS = ["gzip", "snappy", "lz4", "zstd"] as const;

async function kcat(args: string[], input: string): Promise<void> {
  await requireTestTool("kcat");
  const child = new Deno.Command("kcat", {
    args,
    stdin: "piped",
    stdout: "null",
    stderr: "piped",
    signal: AbortSignal.timeout(30_000),
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(input));
  await writer.close();
  const out = await child.output();
  if (!out.success) {
    throw new Error(`kcat ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
}

Deno.test({
  name: "kafkajs clients read what kcat writes with gzip, snappy, lz4 and zstd",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withBroker({ createTopics: [{ name: "codecs", partitions: 1 }] }, async (broker) => {
      const expected: string[] = [];
      for (const codec of CODECS) {
        const lines = Array.from({ length: 50 }, (_, i) => `${codec} record ${i} `.repeat(8));
        expected.push(...lines);
        // Large batches, so that librdkafka really compresses them.
        await kcat([
          "-P",
          "-b",
          broker.address,
          "-t",
          "codecs",
          "-p",
          "0",
          "-z",
          codec,
          "-X",
          "linger.ms=100",
        ], lines.join("\n") + "\n");
      }
      const kafka = createKafka({ clientId: "codecs-test", brokers: [broker.address] });

      const reader = await PartitionReader.connect(kafka);
      const read: string[] = [];
      try {
        const { low, high } = (await reader.offsets("codecs"))[0]!;
        await reader.readRange("codecs", 0, low, high, (r) => {
          read.push(new TextDecoder().decode(r.value!));
        });
      } finally {
        await reader.close();
      }
      assert.deepEqual(read, expected, "PartitionReader");

      const consumer = kafka.consumer({ groupId: "codecs-test", maxWaitTimeInMs: 100 });
      const consumed: string[] = [];
      let standIns = 0;
      await consumer.connect();
      try {
        await consumer.subscribe({ topic: "codecs", fromBeginning: true });
        await consumer.run({
          eachMessage: ({ message }) => {
            if (undecodableBatchError(message) !== undefined) standIns++;
            else consumed.push(new TextDecoder().decode(message.value!));
            return Promise.resolve();
          },
        });
        await waitFor("every record consumed", () => consumed.length >= expected.length);
      } finally {
        await consumer.disconnect();
      }
      assert.deepEqual(consumed, expected, "group consumer");
      assert.equal(standIns, 0);
    });
  },
});
