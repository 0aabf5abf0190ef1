/**
 * The broker's own cap on a Fetch response (Kafka's broker `fetch.max.bytes`, issue 13): a
 * request's maxBytes beyond it, or a request that names one partition many times, gets at
 * most `fetchMaxBytes` of batches; the variable is validated by name.
 */
import assert from "node:assert/strict";
import { withBroker } from "@trading/testing/with-broker";
import { RawKafkaClient } from "@trading/testing/raw-kafka-client";
import { loadBrokerConfig } from "./config.ts";
import * as M from "./protocol/messages.ts";
import { buildRecordBatch } from "./protocol/record_batch.ts";

async function fetchBytes(
  client: RawKafkaClient,
  maxBytes: number,
  copies: number,
): Promise<number> {
  const response = await client.request(M.fetch, 11, {
    replicaId: -1,
    maxWaitMs: 0,
    minBytes: 0,
    maxBytes,
    isolationLevel: 0,
    sessionId: 0,
    sessionEpoch: -1,
    topics: [{
      topic: "t",
      partitions: Array.from({ length: copies }, () => ({
        partition: 0,
        fetchOffset: 0,
        partitionMaxBytes: 0x7fffffff,
      })),
    }],
    forgottenTopicsData: [],
    rackId: "",
  });
  return response.responses.flatMap((t) => t.partitions).reduce(
    (sum, p) => sum + (p.records?.length ?? 0),
    0,
  );
}

Deno.test("Fetch answers at most fetchMaxBytes, whatever maxBytes asks and however often a partition is named", async () => {
  await withBroker(
    { fetchMaxBytes: 64 * 1024, createTopics: [{ name: "t", partitions: 1 }] },
    async (broker) => {
      const client = await RawKafkaClient.connect(broker.address);
      try {
        for (let i = 0; i < 8; i++) {
          const produced = await client.produce(
            "t",
            0,
            buildRecordBatch([{ value: new Uint8Array(16 * 1024).fill(i) }]),
          );
          assert.equal(produced.errorCode, 0);
        }
        // 8 batches of about 16 KiB: 128 KiB in the log.
        const asked = await fetchBytes(client, 0x7fffffff, 1);
        assert.ok(asked > 16 * 1024 && asked <= 64 * 1024, `${asked} bytes for maxBytes 2^31-1`);
        const repeated = await fetchBytes(client, 0x7fffffff, 32);
        assert.ok(repeated <= 64 * 1024, `${repeated} bytes for one partition named 32 times`);
        // Below the cap, the request's own maxBytes still rules.
        assert.ok((await fetchBytes(client, 20 * 1024, 1)) <= 20 * 1024);
      } finally {
        client.close();
      }
    },
  );
});

Deno.test("BROKER_FETCH_MAX_BYTES defaults to Kafka's 55 MiB and is validated by name", () => {
  assert.equal(loadBrokerConfig({}).broker.fetchMaxBytes, 57_671_680);
  assert.equal(
    loadBrokerConfig({ BROKER_FETCH_MAX_BYTES: "1048576" }).broker.fetchMaxBytes,
    1 << 20,
  );
  assert.throws(() => loadBrokerConfig({ BROKER_FETCH_MAX_BYTES: "10" }), /BROKER_FETCH_MAX_BYTES/);
});
