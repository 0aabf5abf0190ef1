/**
 * Crash safety of the broker process: SIGKILL during an acks=-1 produce load, restart on the
 * same data dir, and every acknowledged message is there exactly once and in order; what a
 * metadata write killed half-way leaves behind is removed on start.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { freePorts, tempDir } from "@trading/testing";
import { RoleProcess } from "@trading/testing";
import * as M from "./protocol/messages.ts";
import { buildRecordBatch, decodeRecords } from "./protocol/record_batch.ts";
import { type ProducePartitionAnswer, RawKafkaClient } from "@trading/testing/raw-kafka-client";
import { startBroker } from "./broker.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** One producer connection: sends batches of 5 with acks=-1 until stopped; returns what was acknowledged. */
async function produceUntilKilled(
  address: string,
  producer: number,
  partition: number,
  stopAt: () => boolean,
) {
  const acked: string[] = [];
  const client = await RawKafkaClient.connect(address, `crash-${producer}`);
  try {
    for (let i = 0; !stopAt(); i++) {
      const values = Array.from({ length: 5 }, (_, j) => `p${producer}-${i}-${j}`);
      let answer: ProducePartitionAnswer;
      try {
        answer = await client.produce(
          "crash",
          partition,
          buildRecordBatch(values.map((v) => ({ value: encoder.encode(v) }))),
        );
      } catch {
        break; // The broker died mid-request: this batch was not acknowledged.
      }
      assert.equal(answer.errorCode, 0);
      acked.push(...values);
    }
  } finally {
    client.close();
  }
  return acked;
}

async function readAll(address: string, partition: number): Promise<string[]> {
  const client = await RawKafkaClient.connect(address);
  const values: string[] = [];
  try {
    for (let offset = 0;;) {
      const response = await client.request(M.fetch, 11, {
        replicaId: -1,
        maxWaitMs: 0,
        minBytes: 0,
        maxBytes: 8 << 20,
        sessionEpoch: -1,
        topics: [{
          topic: "crash",
          partitions: [{ partition, fetchOffset: offset, partitionMaxBytes: 8 << 20 }],
        }],
      });
      const p = response.responses[0]!.partitions[0]!;
      assert.equal(p.errorCode, 0);
      const records = decodeRecords(p.records!);
      if (records.length === 0) break;
      for (const r of records) {
        assert.equal(r.offset, offset, "offsets are contiguous");
        values.push(decoder.decode(r.value!));
        offset++;
      }
    }
  } finally {
    client.close();
  }
  return values;
}

Deno.test("broker killed with SIGKILL under acks=-1 load keeps every acknowledged message exactly once, in order", async () => {
  await using dir = await tempDir("broker-crash-");
  const [kafkaPort, httpPort] = freePorts(2) as [number, number];
  const address = `127.0.0.1:${kafkaPort}`;
  const env = {
    BROKER_PORT: String(kafkaPort),
    BROKER_DATA_DIR: dir.path,
    BROKER_CREATE_TOPICS: "crash:2",
    PORT_HTTP: String(httpPort),
  };
  await using first = RoleProcess.spawn("broker", env);
  await first.ready();
  let killed = false;
  const producers = Array.from(
    { length: 4 },
    (_, i) => produceUntilKilled(address, i, i % 2, () => killed),
  );
  await new Promise((resolve) => setTimeout(resolve, 1500));
  first.kill("SIGKILL");
  killed = true;
  const acked = await Promise.all(producers);
  await first.exited();
  const total = acked.reduce((n, a) => n + a.length, 0);
  assert.ok(total > 100, `the load got ${total} acknowledgements before the kill`);

  await using second = RoleProcess.spawn("broker", env);
  await second.ready();
  try {
    const stored = [await readAll(address, 0), await readAll(address, 1)];
    for (const [partition, values] of stored.entries()) {
      assert.equal(new Set(values).size, values.length, `no duplicates in partition ${partition}`);
    }
    for (const [producer, values] of acked.entries()) {
      const log = stored[producer % 2]!;
      const positions = values.map((v) => log.indexOf(v));
      assert.ok(
        positions.every((p) => p >= 0),
        `every acknowledged message of producer ${producer} survived`,
      );
      assert.deepEqual(
        positions,
        [...positions].sort((a, b) => a - b),
        `producer ${producer} stays in order`,
      );
    }
    // The reopened log takes new writes after the recovered tail.
    const after = await produceUntilKilled(
      address,
      9,
      0,
      (() => {
        let n = 0;
        return () => n++ >= 1;
      })(),
    );
    assert.equal(after.length, 5);
    assert.equal((await readAll(address, 0)).length, stored[0]!.length + 5);
  } finally {
    second.kill("SIGTERM");
  }
  assert.equal(await second.exited(), 0, "graceful shutdown exits 0");
  assert.doesNotMatch(second.output.join("\n"), /"level":"error"/);
});

Deno.test("startBroker() removes staging files a killed metadata write left and keeps the cluster id", async () => {
  await using dir = await tempDir();
  const meta = join(dir.path, "_meta");
  await Deno.mkdir(meta, { recursive: true });
  await Deno.writeTextFile(join(meta, "cluster_id"), "kept-cluster-id-000000\n");
  // What a writer killed between creating and renaming its staging files leaves behind.
  await Deno.writeTextFile(join(meta, "cluster_id.tmp"), "torn-");
  await Deno.writeTextFile(join(meta, "producer_id_block.tmp"), "99");
  await Deno.writeTextFile(join(meta, "topic_configs.json.tmp"), '{"half');
  const broker = await startBroker({ dataDir: dir.path, port: 0 });
  try {
    const client = await RawKafkaClient.connect(broker.address);
    try {
      const metadata = await client.request(M.metadata, 9, {
        topics: [],
        allowAutoTopicCreation: false,
      });
      assert.equal(metadata.clusterId, "kept-cluster-id-000000");
    } finally {
      client.close();
    }
    const left: string[] = [];
    for await (const entry of Deno.readDir(meta)) left.push(entry.name);
    assert.deepEqual(left.filter((name) => name.endsWith(".tmp")), []);
  } finally {
    await broker.close();
  }
});
