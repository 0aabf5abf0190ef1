/**
 * Hostile produce requests against the real broker over TCP (issue 13's probes): a batch
 * that is CRC-valid but that no consumer could read is refused with Kafka's error code and
 * leaves the partition untouched; the four codecs are accepted and served back intact; and a
 * fuzzer checks that every batch the broker accepts decodes.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { compress } from "@trading/shared/record-compression";
import { ErrorCode } from "./protocol/error_codes.ts";
import * as M from "./protocol/messages.ts";
import {
  BATCH_HEADER_SIZE,
  buildRecordBatch,
  decodeRecords,
  type RecordInput,
  updateCrc,
} from "./protocol/record_batch.ts";
import { RawKafkaClient } from "@trading/testing/raw-kafka-client";
import { type Broker } from "./broker.ts";
import { withBroker } from "@trading/testing/with-broker";

const encoder = new TextEncoder();
const TOPIC = "hostile";
const seed = Number(Deno.env.get("FUZZ_SEED") ?? Date.now() % 2 ** 31);
// Printed up front, not only on a failure: a decoder that loops forever never fails.
console.error(
  `FUZZ_SEED=${seed} deno test -A --frozen services/broker/broker_hostile_produce_test.ts replays this run`,
);
const numRuns = Number(Deno.env.get("FUZZ_RUNS") ?? 150);

function records(n: number): RecordInput[] {
  return Array.from({ length: n }, (_, i) => ({
    key: encoder.encode(`k${i}`),
    value: encoder.encode(`order ${i} `.repeat(5)),
    headers: [{ key: "h", value: encoder.encode(String(i)) }],
  }));
}

/** Changes header fields of a built batch and fixes its CRC, as a forger would. */
function forge(batch: Uint8Array, change: (view: DataView) => void): Uint8Array {
  const copy = batch.slice();
  change(new DataView(copy.buffer));
  updateCrc(copy, 0, copy.length);
  return copy;
}

/** A batch whose record bytes are `payload` as they are, with `codec` in its attributes. */
function withPayload(template: Uint8Array, codecId: number, payload: Uint8Array): Uint8Array {
  const batch = new Uint8Array(BATCH_HEADER_SIZE + payload.length);
  batch.set(template.subarray(0, BATCH_HEADER_SIZE));
  batch.set(payload, BATCH_HEADER_SIZE);
  const view = new DataView(batch.buffer);
  view.setInt32(8, batch.length - 12);
  view.setInt16(21, codecId);
  updateCrc(batch, 0, batch.length);
  return batch;
}

async function produce(
  client: RawKafkaClient,
  batch: Uint8Array,
): Promise<{ errorCode: number; errorMessage?: string | null; baseOffset: number }> {
  return await client.produce(TOPIC, 0, batch);
}

async function fetchAll(client: RawKafkaClient, from = 0): Promise<Uint8Array> {
  const response = await client.request(M.fetch, 11, {
    replicaId: -1,
    maxWaitMs: 0,
    minBytes: 0,
    maxBytes: 64 * 1024 * 1024,
    isolationLevel: 0,
    sessionId: 0,
    sessionEpoch: -1,
    topics: [{
      topic: TOPIC,
      partitions: [{
        partition: 0,
        currentLeaderEpoch: -1,
        fetchOffset: from,
        logStartOffset: -1,
        partitionMaxBytes: 64 * 1024 * 1024,
      }],
    }],
    forgottenTopicsData: [],
    rackId: "",
  });
  return response.responses[0]!.partitions[0]!.records ?? new Uint8Array(0);
}

async function withHostileBroker(fn: (broker: Broker, client: RawKafkaClient) => Promise<void>) {
  await withBroker({ createTopics: [{ name: TOPIC, partitions: 1 }] }, async (broker) => {
    const client = await RawKafkaClient.connect(broker.address);
    try {
      await fn(broker, client);
    } finally {
      client.close();
    }
  });
}

/** Asserts `batch` is refused with `errorCode`, nothing is stored, and the connection lives. */
async function assertRefused(
  broker: Broker,
  client: RawKafkaClient,
  batch: Uint8Array,
  errorCode: number,
  what: string,
): Promise<void> {
  const before = broker.topics.get(TOPIC, 0)!.highWatermark;
  const answer = await produce(client, batch);
  assert.equal(answer.errorCode, errorCode, `${what}: ${answer.errorMessage}`);
  assert.ok(answer.errorMessage, `${what}: a message says why`);
  assert.equal(broker.topics.get(TOPIC, 0)!.highWatermark, before, `${what}: nothing stored`);
}

Deno.test("Produce refuses a record count that lies, in either direction, with INVALID_RECORD", async () => {
  await withHostileBroker(async (broker, client) => {
    const batch = buildRecordBatch(records(3));
    const fewer = forge(batch, (v) => {
      v.setInt32(23, 1); // lastOffsetDelta
      v.setInt32(57, 2); // recordCount
    });
    const more = forge(batch, (v) => {
      v.setInt32(23, 4);
      v.setInt32(57, 5);
    });
    const mismatch = forge(batch, (v) => v.setInt32(57, 2)); // count != delta + 1
    await assertRefused(broker, client, fewer, ErrorCode.INVALID_RECORD, "count 2 of 3");
    await assertRefused(broker, client, more, ErrorCode.INVALID_RECORD, "count 5 of 3");
    await assertRefused(broker, client, mismatch, ErrorCode.INVALID_RECORD, "count != delta + 1");
    assert.equal((await produce(client, batch)).errorCode, ErrorCode.NONE);
  });
});

Deno.test("Produce refuses a 2^31 offset gap (last offset delta 2^31-1 with one record)", async () => {
  await withHostileBroker(async (broker, client) => {
    const gap = forge(buildRecordBatch(records(1)), (v) => v.setInt32(23, 2 ** 31 - 1));
    await assertRefused(broker, client, gap, ErrorCode.INVALID_RECORD, "2^31 gap");
    const inner = buildRecordBatch(records(2));
    // The second record's own offset delta says 7 instead of 1.
    const skewed = forge(inner, (v) => {
      // Each record here is under 64 bytes: a one-byte zig-zag length, then attributes, a
      // one-byte timestamp delta (0) and the offset delta.
      const first = BATCH_HEADER_SIZE;
      const second = first + 1 + (v.getUint8(first) >> 1);
      v.setUint8(second + 3, 7 << 1);
    });
    await assertRefused(broker, client, skewed, ErrorCode.INVALID_RECORD, "offset delta 7");
  });
});

Deno.test("Produce refuses a control batch from a client and unknown codec 7", async () => {
  await withHostileBroker(async (broker, client) => {
    const batch = buildRecordBatch(records(2));
    const control = forge(batch, (v) => v.setInt16(21, 0x20));
    await assertRefused(broker, client, control, ErrorCode.INVALID_RECORD, "control batch");
    for (const codec of [5, 6, 7]) {
      const unknown = forge(batch, (v) => v.setInt16(21, codec));
      await assertRefused(
        broker,
        client,
        unknown,
        ErrorCode.UNSUPPORTED_COMPRESSION_TYPE,
        `codec ${codec}`,
      );
    }
  });
});

Deno.test("Produce refuses a gzip bomb (256 MiB from about 254 KiB) with MESSAGE_TOO_LARGE", async () => {
  await withHostileBroker(async (broker, client) => {
    const template = buildRecordBatch(records(1));
    const bomb = compress("gzip", new Uint8Array(256 * 1024 * 1024));
    assert.ok(bomb.length < 300 * 1024, `the bomb is ${bomb.length} bytes`);
    const batch = withPayload(template, 1, bomb);
    await assertRefused(broker, client, batch, ErrorCode.MESSAGE_TOO_LARGE, "gzip bomb");
  });
});

Deno.test("Produce refuses compressed bytes that do not decode with CORRUPT_MESSAGE", async () => {
  await withHostileBroker(async (broker, client) => {
    const template = buildRecordBatch(records(1));
    const garbage = encoder.encode("not compressed at all, whatever the attributes say");
    for (const codecId of [1, 2, 3, 4]) {
      await assertRefused(
        broker,
        client,
        withPayload(template, codecId, garbage),
        ErrorCode.CORRUPT_MESSAGE,
        `codec ${codecId}`,
      );
    }
    // A snappy literal whose 32-bit length is negative: snappyjs alone loops on it for ever,
    // which would stall the broker's event loop (shared/kafka/record_compression.ts).
    const looping = Uint8Array.from([10, 0xfc, 0xf0, 0xff, 0xff, 0xff, 1, 2, 3]);
    await assertRefused(
      broker,
      client,
      withPayload(template, 2, looping),
      ErrorCode.CORRUPT_MESSAGE,
      "looping snappy literal",
    );
  });
});

Deno.test("Produce refuses a producer's LogAppendTime bit and timestamps an hour ahead with INVALID_TIMESTAMP", async () => {
  await withHostileBroker(async (broker, client) => {
    const batch = buildRecordBatch(records(1));
    const appendTime = forge(batch, (v) => v.setInt16(21, 0x08));
    await assertRefused(broker, client, appendTime, ErrorCode.INVALID_TIMESTAMP, "LogAppendTime");
    const future = buildRecordBatch([{
      value: encoder.encode("x"),
      timestamp: Date.now() + 2 * 3_600_000,
    }]);
    await assertRefused(broker, client, future, ErrorCode.INVALID_TIMESTAMP, "2 h ahead");
  });
});

Deno.test("Produce rewrites a maxTimestamp that is not the largest record timestamp", async () => {
  await withHostileBroker(async (_broker, client) => {
    const now = Date.now();
    const batch = forge(
      buildRecordBatch([{ value: encoder.encode("a"), timestamp: now - 5000 }, {
        value: encoder.encode("b"),
        timestamp: now - 1000,
      }]),
      (v) => v.setBigInt64(35, BigInt(now + 3_000_000)), // a lie far ahead
    );
    assert.equal((await produce(client, batch)).errorCode, ErrorCode.NONE);
    const stored = await fetchAll(client);
    assert.equal(
      Number(new DataView(stored.buffer, stored.byteOffset).getBigInt64(35)),
      now - 1000,
    );
    assert.equal(decodeRecords(stored).length, 2, "the CRC was fixed too");
  });
});

Deno.test("Produce accepts and Fetch serves back batches in each of the four codecs", async () => {
  await withHostileBroker(async (broker, client) => {
    const sent = records(20);
    let offset = 0;
    for (const compression of ["gzip", "snappy", "lz4", "zstd"] as const) {
      const batch = buildRecordBatch(sent, undefined, { compression });
      const answer = await produce(client, batch);
      assert.equal(answer.errorCode, ErrorCode.NONE, `${compression}: ${answer.errorMessage}`);
      assert.equal(answer.baseOffset, offset);
      const served = decodeRecords(await fetchAll(client, offset));
      assert.deepEqual(served.map((r) => r.value), sent.map((r) => r.value), compression);
      assert.deepEqual(served.map((r) => r.offset), sent.map((_, i) => offset + i));
      offset += sent.length;
    }
    assert.equal(broker.topics.get(TOPIC, 0)!.highWatermark, 80);
  });
});

Deno.test("Produce acknowledges only batches that decode (fuzzed record bytes, CRC fixed)", async () => {
  await withHostileBroker(async (broker, client) => {
    const property = fc.asyncProperty(
      fc.integer({ min: 1, max: 6 }),
      fc.constantFrom("none", "gzip", "snappy", "lz4", "zstd" as const),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), {
        minLength: 1,
        maxLength: 6,
      }),
      async (count, compression, flips) => {
        const plain = buildRecordBatch(records(count));
        // Flip bytes of the uncompressed records, then compress: the codec decodes, the records
        // inside are what is wrong.
        const body = plain.slice(BATCH_HEADER_SIZE);
        for (const [at, value] of flips) body[at % body.length] = value;
        const batch = compression === "none" ? withPayload(plain, 0, body) : withPayload(
          plain,
          { gzip: 1, snappy: 2, lz4: 3, zstd: 4 }[compression],
          compress(compression, body),
        );
        const before = broker.topics.get(TOPIC, 0)!.highWatermark;
        const answer = await produce(client, batch);
        if (answer.errorCode !== ErrorCode.NONE) {
          assert.equal(broker.topics.get(TOPIC, 0)!.highWatermark, before);
          return;
        }
        const stored = await fetchAll(client, answer.baseOffset);
        const decoded = decodeRecords(stored);
        assert.ok(decoded.length >= count, "an accepted batch decodes with all its records");
      },
    );
    try {
      await fc.assert(property, { seed, numRuns });
    } catch (error) {
      console.error(
        `replay: FUZZ_SEED=${seed} deno test -A services/broker/broker_hostile_produce_test.ts`,
      );
      throw error;
    }
  });
});
