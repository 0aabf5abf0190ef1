/**
 * Crash safety of the broker process: SIGKILL during an acks=-1 produce load, restart on the
 * same data dir, and every acknowledged message is there exactly once and in order.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { freePorts, tempDir, waitFor } from "@trading/shared/testing";
import { ApiKey } from "./protocol/messages.ts";
import { buildRecordBatch, decodeRecords } from "./protocol/record_batch.ts";
import type { FetchResponse, ProduceResponse } from "./protocol/types.ts";
import { RawKafkaClient } from "./raw_client.ts";

const MAIN = fileURLToPath(new URL("../../main.ts", import.meta.url));
const encoder = new TextEncoder();
const decoder = new TextDecoder();

interface BrokerProcess {
  child: Deno.ChildProcess;
  output: Promise<string>;
  address: string;
}

async function spawnBroker(
  dataDir: string,
  kafkaPort: number,
  httpPort: number,
): Promise<BrokerProcess> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "broker"],
    env: {
      BROKER_PORT: String(kafkaPort),
      PORT_HTTP: String(httpPort),
      BROKER_DATA_DIR: dataDir,
      BROKER_CREATE_TOPICS: "crash:2",
      LOG_LEVEL: "info",
    },
    stdin: "piped", // the shared shutdown treats a closed stdin as "supervisor gone"
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const collect = async (stream: ReadableStream<Uint8Array>) => {
    let text = "";
    for await (const chunk of stream) text += decoder.decode(chunk);
    return text;
  };
  const output = Promise.all([collect(child.stdout), collect(child.stderr)]).then(([a, b]) =>
    a + b
  );
  await waitFor("broker ready", async () => {
    const response = await fetch(`http://127.0.0.1:${httpPort}/readyz`).catch(() => undefined);
    await response?.body?.cancel();
    return response?.status === 200;
  }, { timeoutMs: 30_000 });
  return { child, output, address: `127.0.0.1:${kafkaPort}` };
}

async function stop(proc: BrokerProcess, signal: Deno.Signal): Promise<string> {
  try {
    proc.child.kill(signal);
  } catch {
    // Already gone.
  }
  await proc.child.stdin.close().catch(() => {});
  await proc.child.status;
  return await proc.output;
}

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
      let response: ProduceResponse;
      try {
        response = await client.request<ProduceResponse>(ApiKey.Produce, 7, {
          transactionalId: null,
          acks: -1,
          timeoutMs: 5000,
          topics: [{
            name: "crash",
            partitions: [{
              index: partition,
              records: buildRecordBatch(values.map((v) => ({ value: encoder.encode(v) }))),
            }],
          }],
        });
      } catch {
        break; // The broker died mid-request: this batch was not acknowledged.
      }
      assert.equal(response.responses[0]!.partitions[0]!.errorCode, 0);
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
      const response = await client.request<FetchResponse>(ApiKey.Fetch, 11, {
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
  const first = await spawnBroker(dir.path, kafkaPort, httpPort);
  let killed = false;
  const producers = Array.from(
    { length: 4 },
    (_, i) => produceUntilKilled(first.address, i, i % 2, () => killed),
  );
  await new Promise((resolve) => setTimeout(resolve, 1500));
  first.child.kill("SIGKILL");
  killed = true;
  const acked = await Promise.all(producers);
  await stop(first, "SIGKILL");
  const total = acked.reduce((n, a) => n + a.length, 0);
  assert.ok(total > 100, `the load got ${total} acknowledgements before the kill`);

  const second = await spawnBroker(dir.path, kafkaPort, httpPort);
  let output = "";
  try {
    const stored = [await readAll(second.address, 0), await readAll(second.address, 1)];
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
      second.address,
      9,
      0,
      (() => {
        let n = 0;
        return () => n++ >= 1;
      })(),
    );
    assert.equal(after.length, 5);
    assert.equal((await readAll(second.address, 0)).length, stored[0]!.length + 5);
  } finally {
    output = await stop(second, "SIGTERM");
  }
  assert.equal((await second.child.status).code, 0, "graceful shutdown exits 0");
  assert.doesNotMatch(output, /"level":"error"/);
});
