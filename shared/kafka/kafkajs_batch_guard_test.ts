import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import fc from "fast-check";
import Decoder from "kafkajs/src/protocol/decoder.js";
import { buildRecordBatch, updateCrc } from "@trading/broker/record-batch";
import { applyKafkaJsBatchGuard, undecodableBatchError } from "./kafkajs_batch_guard.ts";

applyKafkaJsBatchGuard();
// Loaded after the guard, as kafkajs loads it at its first Fetch.
const { default: decodeMessages } = await import(
  "kafkajs/src/protocol/requests/fetch/v4/decodeMessages.js"
);

const seed = Number(Deno.env.get("FUZZ_SEED") ?? Date.now() % 2 ** 31);
// Printed up front, not only on a failure: a decoder that loops forever never fails.
console.error(
  `FUZZ_SEED=${seed} deno test -A --frozen shared/kafka/kafkajs_batch_guard_test.ts replays this run`,
);
const numRuns = Number(Deno.env.get("FUZZ_RUNS") ?? 300);
const encoder = new TextEncoder();

interface DecodedRecord {
  offset: string;
  value: Buffer | null;
}

/** Batches at consecutive offsets, as the records of one partition in a Fetch response. */
function recordSet(batches: Uint8Array[], counts: number[] = []): Buffer {
  let offset = 0n;
  const parts = batches.map((batch, i) => {
    const copy = batch.slice();
    const view = new DataView(copy.buffer);
    view.setBigInt64(0, offset);
    // As the broker assigned them, by the records the batch really holds.
    offset += BigInt(counts[i] ?? view.getInt32(57));
    return copy;
  });
  const size = parts.reduce((n, p) => n + p.length, 0);
  const out = Buffer.alloc(4 + size);
  out.writeInt32BE(size, 0);
  let at = 4;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

function decode(set: Buffer): Promise<DecodedRecord[]> {
  return decodeMessages(new Decoder(set)) as Promise<DecodedRecord[]>;
}

function batch(values: string[], compression?: "gzip" | "snappy" | "lz4" | "zstd"): Uint8Array {
  return buildRecordBatch(
    values.map((v) => ({ value: encoder.encode(v) })),
    undefined,
    compression === undefined ? {} : { compression },
  );
}

function forged(base: Uint8Array, change: (view: DataView) => void): Uint8Array {
  const copy = base.slice();
  change(new DataView(copy.buffer));
  updateCrc(copy, 0, copy.length);
  return copy;
}

const text = (r: DecodedRecord) => r.value === null ? null : new TextDecoder().decode(r.value);

Deno.test("applyKafkaJsBatchGuard() lets kafkajs read gzip, snappy, lz4 and zstd batches", async () => {
  const codecs = ["gzip", "snappy", "lz4", "zstd"] as const;
  const records = await decode(recordSet(codecs.map((c) => batch([`${c}-a`, `${c}-b`], c))));
  assert.deepEqual(records.map(text), codecs.flatMap((c) => [`${c}-a`, `${c}-b`]));
  assert.deepEqual(records.map((r) => r.offset), ["0", "1", "2", "3", "4", "5", "6", "7"]);
  assert.ok(records.every((r) => undecodableBatchError(r) === undefined));
});

Deno.test("applyKafkaJsBatchGuard() turns each batch kafkajs cannot read into one record at its last offset", async () => {
  const good = batch(["x", "y", "z"]);
  const lyingCount = forged(good, (v) => v.setInt32(57, 1000));
  const unknownCodec = forged(batch(["q"], "gzip"), (v) => v.setInt16(21, 7));
  const controlOutsideTransaction = forged(good, (v) => v.setInt16(21, 0x20));
  const corruptZstd = forged(
    batch(["w", "w"], "zstd"),
    (v) => v.setUint8(65, v.getUint8(65) ^ 0xff),
  );
  const records = await decode(
    recordSet(
      [good, lyingCount, unknownCodec, controlOutsideTransaction, corruptZstd, good],
      [3, 3, 1, 3, 2, 3],
    ),
  );
  assert.deepEqual(records.map((r) => r.offset), [
    "0",
    "1",
    "2",
    "5",
    "6",
    "9",
    "11",
    "12",
    "13",
    "14",
  ]);
  const reasons = records.map((r) => undecodableBatchError(r)?.message);
  assert.deepEqual(reasons.map((r) => r === undefined), [
    true,
    true,
    true,
    false,
    false,
    false,
    false,
    true,
    true,
    true,
  ]);
  assert.match(reasons[3]!, /^Undecodable record batch at offsets 3-5: /);
  assert.match(reasons[4]!, /^Undecodable record batch at offsets 6-6: unknown codec 7$/);
  assert.match(reasons[5]!, /^Undecodable record batch at offsets 7-9: a control batch outside/);
  assert.match(reasons[6]!, /^Undecodable record batch at offsets 10-11: /);
  // The stand-in carries the raw batch for whoever reads the dead letter.
  assert.deepEqual(new Uint8Array(records[3]!.value!).subarray(12), lyingCount.subarray(12));
  assert.equal(undecodableBatchError(records[3]!)?.kind, "undecodable");
});

Deno.test("applyKafkaJsBatchGuard() leaves a batch cut short at the end of a response to the next Fetch", async () => {
  const set = recordSet([batch(["a"]), batch(["b", "c"])]);
  const cut = Buffer.alloc(set.length - 5);
  set.copy(cut, 0, 0, cut.length);
  cut.writeInt32BE(cut.length - 4, 0);
  assert.deepEqual((await decode(cut)).map(text), ["a"]);
});

Deno.test("kafkajs with the guard never fails a Fetch on a mutated batch (fuzz)", async () => {
  const codec = fc.constantFrom(undefined, "gzip", "snappy", "lz4", "zstd" as const);
  const property = fc.asyncProperty(
    fc.array(fc.string({ maxLength: 40 }), { minLength: 1, maxLength: 6 }),
    codec,
    fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }),
    async (values, compression, mutations) => {
      const original = batch(values, compression);
      const mutated = original.slice();
      // Bytes 0-11 (offset, length) are the framing a broker writes itself.
      for (const [at, byte] of mutations) mutated[12 + (at % (mutated.length - 12))] = byte;
      const tail = batch(["after"]);
      const set = recordSet([mutated, tail], [values.length, 1]);
      const tailOffset = set.readBigInt64BE(4 + mutated.length);
      const records = await decode(set);
      // The batch after the mutated one is read now, or (a mutated magic byte sends the set to
      // kafkajs' legacy decoder) the set ends with a stand-in before it, and the next Fetch,
      // which starts after the stand-in, reads it.
      const last = records.at(-1)!;
      if (text(last) === "after") return;
      assert.ok(undecodableBatchError(last), "the set ends with a stand-in");
      assert.ok(BigInt(last.offset) < tailOffset, "the stand-in is before the next batch");
    },
  );
  try {
    await fc.assert(property, { seed, numRuns });
  } catch (error) {
    throw new Error(
      `${error instanceof Error ? `${error.message}\n${error.cause}` : error}\n` +
        `replay: FUZZ_SEED=${seed} deno test -A --frozen shared/kafka/kafkajs_batch_guard_test.ts`,
    );
  }
});
