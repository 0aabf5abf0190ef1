/**
 * Topic ids (KIP-516) over TCP with the raw client: Metadata v12 hands out a topic's id and
 * finds a topic by id alone, Fetch v13+ (flexible, v17 here) reads a topic by id, an id is
 * kept across a restart (in each partition's `partition.metadata`, as Kafka keeps it) and a
 * topic deleted and created again gets a new one, whose old id is then UNKNOWN_TOPIC_ID.
 * Produce v11 (flexible) writes what the Fetch reads.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { tempDir } from "@trading/testing";
import { startBroker } from "./broker.ts";
import { RawKafkaClient, type ResponseBody } from "@trading/testing/raw-kafka-client";
import { ErrorCode } from "./protocol/error_codes.ts";
import * as M from "./protocol/messages.ts";
import { buildRecordBatch, decodeRecords } from "./protocol/record_batch.ts";
import { PARTITION_METADATA_FILE, topicIdToString } from "./storage/topic_id.ts";

const ZERO = new Uint8Array(16);

type MetadataResponse = ResponseBody<typeof M.metadata>;
type FetchResponse = ResponseBody<typeof M.fetch>;

function metadataByName(raw: RawKafkaClient, name: string): Promise<MetadataResponse> {
  return raw.request(M.metadata, 12, {
    topics: [{ topicId: ZERO, name }],
    allowAutoTopicCreation: false,
    includeTopicAuthorizedOperations: false,
  });
}

function metadataById(raw: RawKafkaClient, topicId: Uint8Array): Promise<MetadataResponse> {
  return raw.request(M.metadata, 12, {
    topics: [{ topicId, name: null }],
    allowAutoTopicCreation: false,
    includeTopicAuthorizedOperations: false,
  });
}

function fetchById(raw: RawKafkaClient, topicId: Uint8Array, version = 17): Promise<FetchResponse> {
  return raw.request(M.fetch, version, {
    maxWaitMs: 0,
    minBytes: 0,
    maxBytes: 1 << 20,
    isolationLevel: 0,
    sessionId: 0,
    sessionEpoch: -1,
    topics: [{
      topicId,
      partitions: [{ partition: 0, fetchOffset: 0, partitionMaxBytes: 1 << 20 }],
    }],
    forgottenTopicsData: [],
    rackId: "",
  });
}

async function produceV11(raw: RawKafkaClient, topic: string, values: string[]) {
  const response = await raw.request(M.produce, 11, {
    transactionalId: null,
    acks: -1,
    timeoutMs: 5_000,
    topics: [{
      name: topic,
      partitions: [{
        index: 0,
        records: buildRecordBatch(values.map((v) => ({ value: new TextEncoder().encode(v) }))),
      }],
    }],
  });
  return response.responses[0]!.partitions[0]!;
}

function fetchedValues(response: FetchResponse): string[] {
  const records = response.responses[0]!.partitions[0]!.records;
  if (records === null || records.length === 0) return [];
  return decodeRecords(records).map((r) => new TextDecoder().decode(r.value!));
}

Deno.test("Metadata v12 gives each topic a non-zero id and finds the topic by that id alone", async () => {
  await using dir = await tempDir();
  const broker = await startBroker({
    port: 0,
    dataDir: dir.path,
    createTopics: [{ name: "alpha", partitions: 2 }, { name: "beta", partitions: 1 }],
  });
  const raw = await RawKafkaClient.connect(broker.address);
  try {
    const alpha = (await metadataByName(raw, "alpha")).topics[0]!;
    const beta = (await metadataByName(raw, "beta")).topics[0]!;
    assert.equal(alpha.errorCode, ErrorCode.NONE);
    assert.notDeepEqual(alpha.topicId, ZERO);
    assert.notDeepEqual(alpha.topicId, beta.topicId);

    const found = (await metadataById(raw, alpha.topicId)).topics[0]!;
    assert.equal(found.errorCode, ErrorCode.NONE);
    assert.equal(found.name, "alpha");
    assert.deepEqual(found.topicId, alpha.topicId);
    assert.equal(found.partitions.length, 2);

    const unknown = (await metadataById(raw, new Uint8Array(16).fill(7))).topics[0]!;
    assert.equal(unknown.errorCode, ErrorCode.UNKNOWN_TOPIC_ID);
    assert.equal(unknown.name, null);
  } finally {
    raw.close();
    await broker.close();
  }
});

Deno.test("Fetch v13+ reads a topic by its id what Produce v11 wrote", async () => {
  await using dir = await tempDir();
  const broker = await startBroker({
    port: 0,
    dataDir: dir.path,
    createTopics: [{ name: "ledger", partitions: 1 }],
  });
  const raw = await RawKafkaClient.connect(broker.address);
  try {
    const produced = await produceV11(raw, "ledger", ["one", "two"]);
    assert.equal(produced.errorCode, ErrorCode.NONE);
    const { topicId } = (await metadataByName(raw, "ledger")).topics[0]!;
    for (const version of [13, 15, 17]) {
      const fetched = await fetchById(raw, topicId, version);
      const partition = fetched.responses[0]!.partitions[0]!;
      assert.equal(partition.errorCode, ErrorCode.NONE, `v${version}`);
      assert.equal(partition.highWatermark, 2, `v${version}`);
      assert.deepEqual(fetched.responses[0]!.topicId, topicId, `v${version}`);
      assert.deepEqual(fetchedValues(fetched), ["one", "two"], `v${version}`);
    }
    const unknown = await fetchById(raw, new Uint8Array(16).fill(9));
    assert.equal(unknown.responses[0]!.partitions[0]!.errorCode, ErrorCode.UNKNOWN_TOPIC_ID);
  } finally {
    raw.close();
    await broker.close();
  }
});

Deno.test("a topic keeps its id across a restart, in every partition's partition.metadata", async () => {
  await using dir = await tempDir();
  let broker = await startBroker({
    port: 0,
    dataDir: dir.path,
    createTopics: [{ name: "kept", partitions: 2 }],
  });
  const port = broker.port;
  let raw = await RawKafkaClient.connect(broker.address);
  let before: Uint8Array;
  try {
    before = (await metadataByName(raw, "kept")).topics[0]!.topicId;
  } finally {
    raw.close();
    await broker.close();
  }
  for (const p of [0, 1]) {
    const text = await Deno.readTextFile(join(dir.path, `kept-${p}`, PARTITION_METADATA_FILE));
    assert.equal(text, `version: 0\ntopic_id: ${topicIdToString(before)}\n`);
  }
  // A partition whose file was lost (a crash before it was written) gets the topic's id back.
  await Deno.remove(join(dir.path, "kept-1", PARTITION_METADATA_FILE));
  broker = await startBroker({ port, dataDir: dir.path });
  raw = await RawKafkaClient.connect(broker.address);
  try {
    assert.deepEqual((await metadataByName(raw, "kept")).topics[0]!.topicId, before);
    const text = await Deno.readTextFile(join(dir.path, "kept-1", PARTITION_METADATA_FILE));
    assert.equal(text, `version: 0\ntopic_id: ${topicIdToString(before)}\n`);
  } finally {
    raw.close();
    await broker.close();
  }
});

Deno.test("a topic deleted and created again gets a new id, and its old id is UNKNOWN_TOPIC_ID", async () => {
  await using dir = await tempDir();
  const broker = await startBroker({
    port: 0,
    dataDir: dir.path,
    createTopics: [{ name: "reborn", partitions: 1 }],
  });
  const raw = await RawKafkaClient.connect(broker.address);
  try {
    assert.equal((await produceV11(raw, "reborn", ["old"])).errorCode, ErrorCode.NONE);
    const old = (await metadataByName(raw, "reborn")).topics[0]!.topicId;
    await raw.request(M.deleteTopics, 4, { topicNames: ["reborn"], timeoutMs: 5_000 });
    await raw.request(M.createTopics, 5, {
      topics: [{
        name: "reborn",
        numPartitions: 1,
        replicationFactor: 1,
        assignments: [],
        configs: [],
      }],
      timeoutMs: 5_000,
      validateOnly: false,
    });
    const fresh = (await metadataByName(raw, "reborn")).topics[0]!.topicId;
    assert.notDeepEqual(fresh, old);
    const stale = await fetchById(raw, old);
    assert.equal(stale.responses[0]!.partitions[0]!.errorCode, ErrorCode.UNKNOWN_TOPIC_ID);
    assert.equal((await metadataById(raw, old)).topics[0]!.errorCode, ErrorCode.UNKNOWN_TOPIC_ID);
    const current = await fetchById(raw, fresh);
    assert.equal(current.responses[0]!.partitions[0]!.errorCode, ErrorCode.NONE);
    assert.deepEqual(fetchedValues(current), []);
  } finally {
    raw.close();
    await broker.close();
  }
});
