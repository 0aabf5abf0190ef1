/**
 * Hostile input for the pipeline's consumers (issue 13): record batches written with the raw
 * Kafka client straight into a topic of the real broker, as another client could write them.
 * Each case says whether the consumer must use it or dead-letter it, and why.
 *
 * @module
 */
import { type Broker, startBroker } from "@trading/broker";
import { buildRecordBatch, type RecordInput } from "@trading/broker/record-batch";
import assert from "node:assert/strict";
import { DLQ_HEADERS } from "@trading/shared/dead-letter-queue";
import { createKafka, type Kafka, TOPICS } from "@trading/shared/kafka";
import { PartitionReader, type PartitionRecord } from "@trading/shared/partition-reader";
import { RawKafkaClient } from "./raw_kafka_client.ts";
import type { RoleProcess } from "./role_process.ts";
import { waitFor } from "./wait_for.ts";

/** Bytes over the consumers' decompression cap (shared/kafka/kafkajs_batch_guard.ts, 64 MiB). */
export const OVER_CLIENT_CAP_BYTES = 65 * 1024 * 1024;

/** One batch to write and what the consumer must make of each of its records. */
export interface HostileBatch {
  /** What it is, for assertion messages. */
  name: string;
  batch: Uint8Array;
  /** Per record: "use", or the DLQ reason and a pattern its detail must match. */
  expect: Array<"use" | { reason: "undecodable" | "invalid"; detail: RegExp; valueCopied?: false }>;
}

/**
 * The hostile batches for a topic whose valid values `valid(i)` makes (distinct for every
 * `i`) and whose schema-invalid value is `invalid`. The last batch's record is valid: later
 * input must still be processed. One batch is readable by no client of ours: a zstd batch
 * that inflates past the consumers' 64 MiB cap (a broker started with a higher
 * `maxDecompressedBytes` takes it).
 */
export function hostileBatches(
  valid: (i: number) => Uint8Array,
  invalid: Uint8Array,
  name: string,
): HostileBatch[] {
  let n = 0;
  const use = (overrides: Partial<RecordInput> = {}): RecordInput => ({
    key: new TextEncoder().encode(`k${n}`),
    value: valid(n++),
    ...overrides,
  });
  const one = (record: RecordInput, compression?: "gzip" | "snappy" | "lz4" | "zstd") =>
    buildRecordBatch([record], undefined, compression === undefined ? {} : { compression });
  const garbageHeaders = Array.from({ length: 40 }, (_, i) => ({
    key: String.fromCharCode(0xfffd, 0, i),
    value: i % 3 === 0 ? null : crypto.getRandomValues(new Uint8Array(i * 7)),
  }));
  const compressed = (compression: "gzip" | "snappy" | "lz4" | "zstd"): HostileBatch => ({
    name: `${compression} batch`,
    batch: buildRecordBatch([use(), use(), use()], undefined, { compression }),
    expect: ["use", "use", "use"],
  });
  return [
    { name: `a valid ${name}`, batch: one(use()), expect: ["use"] },
    {
      name: "garbage bytes",
      batch: one({ value: new Uint8Array([0xde, 0xad, 0xbe, 0xef, 0x01]) }),
      expect: [{ reason: "undecodable", detail: new RegExp(`^Undecodable ${name}`, "i") }],
    },
    {
      name: "a schema-invalid value",
      batch: one({ value: invalid }),
      expect: [{ reason: "invalid", detail: new RegExp(`^Invalid ${name}`, "i") }],
    },
    {
      name: "a null value",
      batch: one({ value: null }),
      expect: [{ reason: "undecodable", detail: new RegExp(`^Empty ${name}`, "i") }],
    },
    {
      name: "garbage headers on garbage and on a valid value",
      batch: buildRecordBatch([
        { value: new Uint8Array([0xff, 0xff, 0xff]), headers: garbageHeaders },
        use({ headers: garbageHeaders }),
      ]),
      expect: [{ reason: "undecodable", detail: /./ }, "use"],
    },
    {
      name: "random bytes with every high bit set (a varint that never ends)",
      batch: one({ value: crypto.getRandomValues(new Uint8Array(65536)).map((b) => b | 0x80) }),
      expect: [{ reason: "undecodable", detail: /./ }],
    },
    {
      name: "a huge value",
      batch: one({ value: new Uint8Array(2 * 1024 * 1024).fill(0xff) }),
      expect: [{ reason: "undecodable", detail: /not copied/, valueCopied: false }],
    },
    compressed("gzip"),
    compressed("snappy"),
    compressed("lz4"),
    compressed("zstd"),
    {
      name: "a zstd batch over the consumers' decompression cap",
      batch: one({ value: new Uint8Array(OVER_CLIENT_CAP_BYTES) }, "zstd"),
      expect: [{
        reason: "undecodable",
        detail: /^Undecodable record batch at offsets \d+-\d+: Decompressed zstd data exceeds/,
      }],
    },
    { name: `a valid ${name} after all that`, batch: one(use()), expect: ["use"] },
  ];
}

/** Where a hostile batch's records landed. */
export interface WrittenBatch extends HostileBatch {
  baseOffset: number;
}

/** Writes `batches` to `topic`/`partition` of the broker at `address`, in order; throws on a refusal. */
export async function writeHostileBatches(
  address: string,
  topic: string,
  partition: number,
  batches: HostileBatch[],
): Promise<WrittenBatch[]> {
  const client = await RawKafkaClient.connect(address, "hostile-writer");
  const written: WrittenBatch[] = [];
  try {
    for (const batch of batches) {
      const result = await client.produce(topic, partition, batch.batch);
      if (result.errorCode !== 0) {
        throw new Error(
          `The broker refused ${batch.name}: error ${result.errorCode} ${
            result.errorMessage ?? ""
          }`,
        );
      }
      written.push({ ...batch, baseOffset: result.baseOffset });
    }
  } finally {
    client.close();
  }
  return written;
}

/** A record of a written batch that the consumer must dead-letter, and where it landed. */
export type ExpectedDeadLetter = Exclude<HostileBatch["expect"][number], "use"> & {
  batch: WrittenBatch;
  offset: number;
};

/** How many of the `written` records the consumer must use, and which it must dead-letter. */
export function expectedOutcomes(
  written: readonly WrittenBatch[],
): { used: number; dead: ExpectedDeadLetter[] } {
  return {
    used: written.flatMap((b) => b.expect).filter((e) => e === "use").length,
    dead: written.flatMap((b) =>
      b.expect.flatMap((e, i) => e === "use" ? [] : [{ ...e, batch: b, offset: b.baseOffset + i }])
    ),
  };
}

/**
 * Reads all of `orders.dlq` and asserts that it holds exactly one letter for every record of
 * `dead` (written to `topic`, partition 0), from `service`, with the expected reason and
 * detail, and without the value where it was too large to copy. Returns the letters.
 */
export async function assertDeadLetters(
  reader: PartitionReader,
  { topic, dead, service }: { topic: string; dead: readonly ExpectedDeadLetter[]; service: string },
): Promise<PartitionRecord[]> {
  const letters: PartitionRecord[] = [];
  for (const { partition, low, high } of await reader.offsets(TOPICS.dlq)) {
    await reader.readRange(TOPICS.dlq, partition, low, high, (r) => letters.push(r));
  }
  assert.equal(letters.length, dead.length);
  for (const expected of dead) {
    const letter = letters.find((l) =>
      l.headers[DLQ_HEADERS.topic] === topic &&
      l.headers[DLQ_HEADERS.partition] === "0" &&
      Number(l.headers[DLQ_HEADERS.offset]) === expected.offset
    );
    assert.ok(letter, `a dead letter for ${expected.batch.name} at ${expected.offset}`);
    assert.equal(letter.headers[DLQ_HEADERS.reason], expected.reason, expected.batch.name);
    assert.match(letter.headers[DLQ_HEADERS.detail]!, expected.detail, expected.batch.name);
    assert.equal(letter.headers[DLQ_HEADERS.service], service);
    if (expected.valueCopied === false) {
      assert.equal(letter.value, null);
      assert.ok(Number(letter.headers[DLQ_HEADERS.valueBytes]) > 1024 * 1024);
    }
  }
  return letters;
}

/** The broker of a hostile-input test, a client of it and a reader of its topics. */
export interface HostileBroker {
  readonly broker: Broker;
  readonly kafka: Kafka;
  readonly reader: PartitionReader;
  /** Closes the reader, then the broker. */
  close(): Promise<void>;
}

/**
 * Starts a broker on a free port in `dataDir` with every topic of the pipeline (3 partitions
 * each) that takes a batch inflating past the consumers' own cap, and connects a reader.
 */
export async function startHostileBroker(dataDir: string): Promise<HostileBroker> {
  const broker = await startBroker({
    port: 0,
    dataDir,
    createTopics: Object.values(TOPICS).map((name) => ({ name, partitions: 3 })),
    // Takes a batch that inflates past the consumers' own cap.
    maxDecompressedBytes: 128 * 1024 * 1024,
  });
  const kafka = createKafka({ clientId: "hostile-test", brokers: [broker.address] });
  const reader = await PartitionReader.connect(kafka);
  return {
    broker,
    kafka,
    reader,
    close: async () => {
      await reader.close();
      await broker.close();
    },
  };
}

/** A role process fed a hostile input, watched for an exit from the moment it is passed here. */
export interface WatchedRole {
  /** True once the process has exited. */
  readonly exited: boolean;
  /**
   * Waits until each metric (a prefix, as {@linkcode RoleProcess.metric} takes it) has its
   * value; fails at once if the process exits, and after 60 s, both with its last output.
   */
  waitForMetrics(what: string, expected: Readonly<Record<string, number>>): Promise<void>;
}

/** Watches `process` (see {@linkcode WatchedRole}). */
export function watchRole(process: RoleProcess): WatchedRole {
  let exited = false;
  void process.exited().then(() => (exited = true));
  return {
    get exited() {
      return exited;
    },
    async waitForMetrics(what, expected) {
      await waitFor(what, async () => {
        if (exited) throw new Error(`${process.role} exited:\n${process.tail()}`);
        for (const [prefix, value] of Object.entries(expected)) {
          if (await process.metric(prefix) !== value) return false;
        }
        return true;
      }, { timeoutMs: 60_000, intervalMs: 250 }).catch((error) => {
        throw new Error(`${error.message}\n${process.tail()}`);
      });
    },
  };
}
