/**
 * librdkafka (kcat, Debian's build) against the broker: keyed messages with headers go in
 * and come back byte-identical, with the timestamps and offsets the broker stored; gzip,
 * snappy, lz4 and zstd producers' batches are validated, stored and served as received.
 */
import assert from "node:assert/strict";
import * as M from "./protocol/messages.ts";
import { decodeRecords } from "./protocol/record_batch.ts";
import { RawKafkaClient } from "@trading/testing/raw-kafka-client";
import { requireTestTool } from "@trading/testing";
import { withBroker } from "@trading/testing/with-broker";

const KCAT = "kcat";

async function kcat(args: string[], input?: string): Promise<string> {
  await requireTestTool(KCAT);
  const child = new Deno.Command(KCAT, {
    args,
    stdin: input === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(30_000),
  }).spawn();
  if (input !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(input));
    await writer.close();
  }
  const out = await child.output();
  if (!out.success) {
    throw new Error(`kcat ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  return new TextDecoder().decode(out.stdout);
}

/** Reads every stored record of a partition with a raw Fetch, as the broker holds them. */
async function storedRecords(address: string, topic: string) {
  const client = await RawKafkaClient.connect(address);
  try {
    const response = await client.request(M.fetch, 11, {
      replicaId: -1,
      maxWaitMs: 0,
      minBytes: 0,
      maxBytes: 64 << 20,
      sessionEpoch: -1,
      topics: [{
        topic,
        partitions: [{ partition: 0, fetchOffset: 0, partitionMaxBytes: 64 << 20 }],
      }],
    });
    return decodeRecords(response.responses[0]!.partitions[0]!.records!);
  } finally {
    client.close();
  }
}

Deno.test({
  name: "kcat produces keyed messages with headers and consumes them back byte-identical",
  fn: async () => {
    await withBroker({ createTopics: [{ name: "kc", partitions: 1 }] }, async (broker) => {
      const n = 200;
      const messages = Array.from({ length: n }, (_, i) => ({
        key: `key-${i % 13}`,
        value: `value ${i} ünïcödé ${"x".repeat(i % 50)}`,
      }));
      const before = Date.now();
      await kcat(
        [
          "-b",
          broker.address,
          "-t",
          "kc",
          "-P",
          "-K",
          "\t",
          "-H",
          "trace=abc",
          "-H",
          "origin=kcat",
        ],
        messages.map((m) => `${m.key}\t${m.value}\n`).join(""),
      );
      const after = Date.now();
      const out = await kcat([
        "-b",
        broker.address,
        "-t",
        "kc",
        "-C",
        "-o",
        "beginning",
        "-e",
        "-q",
        "-f",
        "%k\\t%s\\t%h\\t%T\\t%o\\n",
      ]);
      const lines = out.split("\n").filter((l) => l !== "");
      assert.equal(lines.length, n);
      const stored = await storedRecords(broker.address, "kc");
      assert.equal(stored.length, n);
      const decoder = new TextDecoder();
      lines.forEach((line, i) => {
        const [key, value, headers, timestamp, offset] = line.split("\t");
        assert.equal(key, messages[i]!.key);
        assert.equal(value, messages[i]!.value);
        assert.equal(headers, "trace=abc,origin=kcat");
        assert.equal(Number(offset), i);
        const record = stored[i]!;
        assert.equal(record.offset, i);
        assert.equal(Number(timestamp), record.timestamp, "served timestamp is the stored one");
        assert.ok(record.timestamp >= before - 1000 && record.timestamp <= after + 1000);
        assert.equal(decoder.decode(record.key!), key);
        assert.equal(decoder.decode(record.value!), value);
        assert.deepEqual(record.headers.map((h) => `${h.key}=${decoder.decode(h.value!)}`), [
          "trace=abc",
          "origin=kcat",
        ]);
      });
    });
  },
});

for (const codec of ["gzip", "snappy", "lz4", "zstd"] as const) {
  Deno.test({
    name: `kcat ${codec}-compressed batches are validated, stored as received and consumed intact`,
    fn: async () => {
      await withBroker({ createTopics: [{ name: codec, partitions: 1 }] }, async (broker) => {
        const values = Array.from(
          { length: 100 },
          (_, i) => `compressible ${"abc".repeat(20)} ${i}`,
        );
        // One batch on a slow machine too: librdkafka fills a batch for up to linger.ms (5 ms by
        // default, in which a loaded machine's kcat reads only part of its input).
        await kcat(
          ["-b", broker.address, "-t", codec, "-P", "-z", codec, "-X", "linger.ms=1000"],
          values.map((v) => `${v}\n`).join(""),
        );
        const out = await kcat([
          "-b",
          broker.address,
          "-t",
          codec,
          "-C",
          "-o",
          "beginning",
          "-e",
          "-q",
          "-f",
          "%s\\n",
        ]);
        assert.deepEqual(out.split("\n").filter((l) => l !== ""), values);
        assert.ok(
          broker.topics.get(codec, 0)!.sizeBytes < values.join("").length / 2,
          "stored compressed",
        );
        // Our own decoder (the broker's validation, our consumers) reads librdkafka's bytes.
        const stored = await storedRecords(broker.address, codec);
        assert.deepEqual(stored.map((r) => new TextDecoder().decode(r.value!)), values);
      });
    },
  });
}
