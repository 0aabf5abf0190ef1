import assert from "node:assert/strict";
import { join } from "node:path";
import { tempDir } from "@trading/testing";
import { ErrorCode } from "../protocol/error_codes.ts";
import { buildRecordBatch, isProblem, parseBatches } from "../protocol/record_batch.ts";
import { Flusher } from "./flusher.ts";
import { type LogOptions, PartitionLog } from "./partition_log.ts";
import { segmentName } from "./segment.ts";

const OPTIONS: LogOptions = {
  segmentBytes: 1024 * 1024,
  segmentMs: 7 * 24 * 3600 * 1000,
  retentionBytes: -1,
  retentionMs: -1,
  cleanupDelete: true,
  cleanupCompact: false,
  maxMessageBytes: 1024 * 1024,
  durableHighWatermark: true,
};

function batchOf(
  values: string[],
  producer?: { producerId: number; producerEpoch: number; baseSequence: number },
) {
  return buildRecordBatch(values.map((v) => ({ value: new TextEncoder().encode(v) })), producer);
}

async function appendDurably(plog: PartitionLog, bytes: Uint8Array) {
  const batches = parseBatches(bytes);
  assert.ok(!isProblem(batches));
  const result = plog.append(bytes, batches[0]!);
  assert.ok(result.ok, "append accepted");
  await plog.waitDurable(result.endOffset);
  return result;
}

async function withLog(
  options: Partial<LogOptions>,
  body: (plog: PartitionLog, dir: string, flusher: Flusher) => Promise<void>,
) {
  await using dir = await tempDir();
  const flusher = new Flusher();
  const plog = await PartitionLog.open(dir.path, "t", 0, { ...OPTIONS, ...options }, flusher);
  try {
    await body(plog, dir.path, flusher);
  } finally {
    await plog.close();
    await flusher.close();
  }
}

Deno.test("PartitionLog assigns consecutive offsets and reads whole batches back", async () => {
  await withLog({}, async (plog) => {
    const first = await appendDurably(plog, batchOf(["a", "b", "c"]));
    const second = await appendDurably(plog, batchOf(["d"]));
    assert.ok(first.ok && second.ok);
    assert.equal(first.baseOffset, 0);
    assert.equal(second.baseOffset, 3);
    assert.equal(plog.highWatermark, 4);
    const read = await plog.read(1, 1_000_000);
    const batches = parseBatches(read.records!);
    assert.ok(!isProblem(batches));
    assert.deepEqual(batches.map((b) => b.baseOffset), [0, 3]);
    const tail = await plog.read(4, 1000);
    assert.equal(tail.records!.length, 0);
    assert.equal((await plog.read(5, 1000)).errorCode, ErrorCode.OFFSET_OUT_OF_RANGE);
  });
});

Deno.test("PartitionLog returns at least one batch even when it exceeds maxBytes (KIP-74)", async () => {
  await withLog({}, async (plog) => {
    await appendDurably(plog, batchOf(["x".repeat(500)]));
    await appendDurably(plog, batchOf(["y".repeat(500)]));
    const read = await plog.read(0, 10);
    const batches = parseBatches(read.records!);
    assert.ok(!isProblem(batches));
    assert.equal(batches.length, 1);
  });
});

for (const damage of ["torn", "crc"] as const) {
  Deno.test(`PartitionLog truncates a ${damage === "torn" ? "torn tail" : "corrupt CRC"} to the last valid batch on recovery`, async () => {
    await using dir = await tempDir();
    const flusher = new Flusher();
    let plog = await PartitionLog.open(dir.path, "t", 0, OPTIONS, flusher);
    for (let i = 0; i < 5; i++) await appendDurably(plog, batchOf([`m${i}`, `n${i}`]));
    await plog.close();
    const path = join(dir.path, "t-0", `${segmentName(0)}.log`);
    const bytes = await Deno.readFile(path);
    const batches = parseBatches(bytes);
    assert.ok(!isProblem(batches));
    const lastStart = batches[4]!.position;
    if (damage === "torn") {
      await Deno.writeFile(path, bytes.subarray(0, lastStart + 20));
    } else {
      bytes[bytes.length - 3] = bytes[bytes.length - 3]! ^ 0xff; // A flipped bit inside the last batch's records.
      await Deno.writeFile(path, bytes);
    }
    plog = await PartitionLog.open(dir.path, "t", 0, OPTIONS, flusher);
    try {
      assert.equal(plog.highWatermark, 8, "four whole batches of two records remain");
      assert.equal((await Deno.stat(path)).size, lastStart);
      const appended = await appendDurably(plog, batchOf(["after"]));
      assert.ok(appended.ok);
      assert.equal(appended.baseOffset, 8, "appends continue after the truncation point");
    } finally {
      await plog.close();
      await flusher.close();
    }
  });
}

Deno.test("PartitionLog acknowledges a retried idempotent batch without appending it twice", async () => {
  await withLog({}, async (plog) => {
    const producer = { producerId: 42, producerEpoch: 0, baseSequence: 0 };
    const first = await appendDurably(plog, batchOf(["a", "b"], producer));
    const retry = await appendDurably(plog, batchOf(["a", "b"], producer));
    assert.ok(first.ok && retry.ok);
    assert.equal(retry.baseOffset, first.baseOffset);
    assert.equal(retry.duplicate, true);
    assert.equal(plog.highWatermark, 2);
    const gap = batchOf(["c"], { ...producer, baseSequence: 5 });
    const parsed = parseBatches(gap);
    assert.ok(!isProblem(parsed));
    const rejected = plog.append(gap, parsed[0]!);
    assert.ok(!rejected.ok);
    assert.equal(rejected.errorCode, ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER);
  });
});

Deno.test("PartitionLog rebuilds producer sequences from the log after a restart", async () => {
  await using dir = await tempDir();
  const flusher = new Flusher();
  const producer = { producerId: 7, producerEpoch: 0, baseSequence: 0 };
  let plog = await PartitionLog.open(dir.path, "t", 0, OPTIONS, flusher);
  await appendDurably(plog, batchOf(["a"], producer));
  await plog.close();
  plog = await PartitionLog.open(dir.path, "t", 0, OPTIONS, flusher);
  try {
    const retry = await appendDurably(plog, batchOf(["a"], producer));
    assert.ok(retry.ok);
    assert.equal(retry.duplicate, true);
    assert.equal(plog.highWatermark, 1);
  } finally {
    await plog.close();
    await flusher.close();
  }
});

Deno.test("PartitionLog rolls segments by size and retention deletes the oldest by size", async () => {
  await withLog({ segmentBytes: 300, retentionBytes: 700 }, async (plog) => {
    for (let i = 0; i < 10; i++) await appendDurably(plog, batchOf(["z".repeat(150)]));
    assert.ok(plog.segmentCount >= 5, `rolled into ${plog.segmentCount} segments`);
    const deleted = await plog.enforceRetention();
    assert.ok(deleted > 0);
    assert.ok(plog.sizeBytes <= 700 + 300, `kept ${plog.sizeBytes} bytes`);
    assert.ok(plog.logStartOffset > 0);
    assert.equal((await plog.read(0, 1000)).errorCode, ErrorCode.OFFSET_OUT_OF_RANGE);
    const kept = await plog.read(plog.logStartOffset, 100_000);
    assert.equal(kept.errorCode, ErrorCode.NONE);
    assert.ok(kept.records!.length > 0);
  });
});

Deno.test("PartitionLog retention deletes segments older than retentionMs", async () => {
  await withLog({ segmentBytes: 200, retentionMs: 60_000 }, async (plog) => {
    const old = Date.now() - 3_600_000;
    for (let i = 0; i < 3; i++) {
      await appendDurably(plog, buildRecordBatch([{ value: new Uint8Array(150), timestamp: old }]));
    }
    await appendDurably(plog, batchOf(["fresh".repeat(30)]));
    const deleted = await plog.enforceRetention();
    assert.equal(deleted, 3);
    assert.equal(plog.logStartOffset, 3);
  });
});

Deno.test("PartitionLog finds offsets by timestamp", async () => {
  await withLog({}, async (plog) => {
    for (const ts of [1000, 2000, 3000]) {
      await appendDurably(plog, buildRecordBatch([{ value: new Uint8Array(1), timestamp: ts }]));
    }
    assert.deepEqual(await plog.offsetForTimestamp(1500), { offset: 1, timestamp: 2000 });
    assert.deepEqual(await plog.offsetForTimestamp(-2), { offset: 0, timestamp: -1 });
    assert.deepEqual(await plog.offsetForTimestamp(-1), { offset: 3, timestamp: -1 });
    assert.equal((await plog.offsetForTimestamp(9999)).offset, -1);
  });
});

Deno.test("PartitionLog finds the record, not only the batch, at or after a timestamp", async () => {
  await withLog({}, async (plog) => {
    await appendDurably(
      plog,
      buildRecordBatch([1000, 2000, 3000, 2500].map((timestamp) => ({
        value: new Uint8Array(1),
        timestamp,
      }))),
    );
    assert.deepEqual(await plog.offsetForTimestamp(1500), { offset: 1, timestamp: 2000 });
    assert.deepEqual(await plog.offsetForTimestamp(2600), { offset: 2, timestamp: 3000 });
    assert.deepEqual(await plog.offsetForTimestamp(-3), { offset: 2, timestamp: 3000 });
  });
});

Deno.test("PartitionLog retention keeps every segment of a compact-only topic", async () => {
  await withLog(
    { segmentBytes: 200, retentionMs: 60_000, cleanupDelete: false, cleanupCompact: true },
    async (plog) => {
      const old = Date.now() - 3_600_000;
      for (let i = 0; i < 3; i++) {
        await appendDurably(
          plog,
          buildRecordBatch([{ value: new Uint8Array(150), timestamp: old }]),
        );
      }
      assert.equal(await plog.enforceRetention(), 0);
      assert.equal(plog.logStartOffset, 0);
    },
  );
});

Deno.test("PartitionLog deleteRecordsBefore() moves the log start offset durably and refuses past the high watermark", async () => {
  await using dir = await tempDir();
  const flusher = new Flusher();
  const options = { ...OPTIONS, segmentBytes: 200 };
  let plog = await PartitionLog.open(dir.path, "t", 0, options, flusher);
  for (let i = 0; i < 4; i++) await appendDurably(plog, batchOf(["x".repeat(150)]));
  assert.deepEqual(await plog.deleteRecordsBefore(5), {
    errorCode: ErrorCode.OFFSET_OUT_OF_RANGE,
    lowWatermark: -1,
  });
  assert.deepEqual(await plog.deleteRecordsBefore(2), { errorCode: 0, lowWatermark: 2 });
  assert.equal((await plog.read(1, 1 << 20)).errorCode, ErrorCode.OFFSET_OUT_OF_RANGE);
  assert.equal(plog.segmentCount, 2, "segments wholly below offset 2 are deleted");
  await plog.close();
  plog = await PartitionLog.open(dir.path, "t", 0, options, flusher);
  try {
    assert.equal(plog.logStartOffset, 2, "the log start offset survives a restart");
    assert.deepEqual(await plog.deleteRecordsBefore(-1), { errorCode: 0, lowWatermark: 4 });
  } finally {
    await plog.close();
    await flusher.close();
  }
});

Deno.test("PartitionLog in interval mode acknowledges acks=-1 after the write, before the timed sync", async () => {
  await using dir = await tempDir();
  const flusher = new Flusher(60_000);
  const plog = await PartitionLog.open(dir.path, "t", 0, {
    ...OPTIONS,
    durableHighWatermark: false,
  }, flusher);
  try {
    const bytes = batchOf(["a"]);
    const batches = parseBatches(bytes);
    assert.ok(!isProblem(batches));
    const result = plog.append(bytes, batches[0]!);
    assert.ok(result.ok);
    await plog.waitAcknowledgeable(result.endOffset, -1);
    assert.equal(plog.highWatermark, 1);
    assert.equal(plog.durableOffset, 0, "not yet synced");
  } finally {
    await plog.close();
    await flusher.close();
  }
});

Deno.test("PartitionLog removes staging files an interrupted metadata write left, keeping the files", async () => {
  await using dir = await tempDir();
  const flusher = new Flusher();
  let plog = await PartitionLog.open(dir.path, "t", 0, OPTIONS, flusher);
  await appendDurably(plog, batchOf(["a"]));
  await plog.close();
  const partitionDir = join(dir.path, "t-0");
  await Deno.writeTextFile(join(partitionDir, "partition.metadata.tmp"), "version: 0\ntopic_");
  await Deno.writeTextFile(join(partitionDir, "log_start.tmp"), "9");
  plog = await PartitionLog.open(dir.path, "t", 0, OPTIONS, flusher);
  try {
    assert.equal(plog.highWatermark, 1);
    assert.equal(plog.logStartOffset, 0);
    const names: string[] = [];
    for await (const entry of Deno.readDir(partitionDir)) names.push(entry.name);
    assert.deepEqual(names.filter((name) => name.endsWith(".tmp")), []);
  } finally {
    await plog.close();
    await flusher.close();
  }
});
