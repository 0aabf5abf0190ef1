/**
 * RecordBatch v2 (Kafka message format v2): header parsing and validation for produce and
 * recovery, and a builder for tests and the raw load generator.
 *
 * Layout of the 61-byte header: baseOffset int64, batchLength int32, partitionLeaderEpoch
 * int32, magic int8, crc uint32, attributes int16, lastOffsetDelta int32, baseTimestamp
 * int64, maxTimestamp int64, producerId int64, producerEpoch int16, baseSequence int32,
 * recordCount int32. The CRC (CRC32C) covers attributes to the end of the batch, so the
 * broker rewrites baseOffset and partitionLeaderEpoch without recomputing it.
 *
 * @module
 */
import {
  codecOf,
  compress,
  type CompressionCodec,
  decompress,
} from "@trading/shared/record-compression";
import { crc32c } from "./crc32c.ts";
import { Reader, Writer } from "./wire.ts";

/** Size of the RecordBatch v2 header. */
export const BATCH_HEADER_SIZE = 61;
/** Bytes before batchLength's payload: baseOffset + batchLength. */
export const LOG_OVERHEAD = 12;
const CRC_OFFSET = 17;
const ATTRIBUTES_OFFSET = 21;

/** The fields of a batch header that the broker acts on. */
export interface BatchHeader {
  /** Byte position of the batch within the buffer it was parsed from. */
  position: number;
  /** Total size of the batch, header included. */
  size: number;
  baseOffset: number;
  lastOffsetDelta: number;
  maxTimestamp: number;
  baseTimestamp: number;
  producerId: number;
  producerEpoch: number;
  baseSequence: number;
  recordCount: number;
  attributes: number;
}

/** Why a batch was rejected. */
export type BatchProblem =
  | { kind: "truncated"; position: number }
  | { kind: "magic"; position: number; magic: number }
  | { kind: "crc"; position: number }
  | { kind: "invalid"; position: number; reason: string };

function readInt64(view: DataView, at: number): number {
  return view.getInt32(at) * 0x1_0000_0000 + view.getUint32(at + 4);
}

/**
 * Parses the batch at `position`: checks length, magic and (unless `checkCrc` is false)
 * CRC. Returns the header or the problem found.
 */
export function parseBatchAt(
  bytes: Uint8Array,
  position: number,
  end = bytes.length,
  checkCrc = true,
): BatchHeader | BatchProblem {
  if (end - position < LOG_OVERHEAD) return { kind: "truncated", position };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const batchLength = view.getInt32(position + 8);
  const size = LOG_OVERHEAD + batchLength;
  if (batchLength < BATCH_HEADER_SIZE - LOG_OVERHEAD) {
    return {
      kind: "invalid",
      position,
      reason: `batch length ${batchLength} below the header size`,
    };
  }
  if (end - position < size) return { kind: "truncated", position };
  const magic = bytes[position + 16]!;
  if (magic !== 2) return { kind: "magic", position, magic };
  if (checkCrc) {
    const expected = view.getUint32(position + CRC_OFFSET);
    if (crc32c(bytes, position + ATTRIBUTES_OFFSET, position + size) !== expected) {
      return { kind: "crc", position };
    }
  }
  const lastOffsetDelta = view.getInt32(position + 23);
  const recordCount = view.getInt32(position + 57);
  if (lastOffsetDelta < 0 || recordCount < 0 || recordCount > lastOffsetDelta + 1) {
    return {
      kind: "invalid",
      position,
      reason: `record count ${recordCount} / last offset delta ${lastOffsetDelta}`,
    };
  }
  return {
    position,
    size,
    baseOffset: readInt64(view, position),
    attributes: view.getInt16(position + ATTRIBUTES_OFFSET),
    lastOffsetDelta,
    baseTimestamp: readInt64(view, position + 27),
    maxTimestamp: readInt64(view, position + 35),
    producerId: readInt64(view, position + 43),
    producerEpoch: view.getInt16(position + 51),
    baseSequence: view.getInt32(position + 53),
    recordCount,
  };
}

/** True when `parsed` is a problem rather than a header. */
export function isProblem(
  parsed: BatchHeader | BatchHeader[] | BatchProblem,
): parsed is BatchProblem {
  return !Array.isArray(parsed) && "kind" in parsed;
}

/** Counts the records in consecutive whole batches (reads only their headers). */
export function countRecords(bytes: Uint8Array): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let count = 0;
  let position = 0;
  while (position + BATCH_HEADER_SIZE <= bytes.length) {
    count += view.getInt32(position + 57);
    position += LOG_OVERHEAD + view.getInt32(position + 8);
  }
  return count;
}

/** Parses every batch of a produce request's records; stops at the first problem. */
export function parseBatches(bytes: Uint8Array): BatchHeader[] | BatchProblem {
  const batches: BatchHeader[] = [];
  let position = 0;
  while (position < bytes.length) {
    const parsed = parseBatchAt(bytes, position);
    if (isProblem(parsed)) return parsed;
    batches.push(parsed);
    position += parsed.size;
  }
  return batches;
}

/** Rewrites the base offset (and zeroes the leader epoch) of the batch at `position`. */
export function setBaseOffset(bytes: Uint8Array, position: number, baseOffset: number): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const high = Math.floor(baseOffset / 0x1_0000_0000);
  view.setInt32(position, high);
  view.setUint32(position + 4, baseOffset - high * 0x1_0000_0000);
  view.setInt32(position + 12, 0);
}

/** A record to put in a batch built by {@linkcode buildRecordBatch}. */
export interface RecordInput {
  key?: Uint8Array | null;
  value: Uint8Array | null;
  headers?: { key: string; value: Uint8Array | null }[];
  timestamp?: number;
}

/** Producer identity of an idempotent batch. */
export interface ProducerInput {
  producerId: number;
  producerEpoch: number;
  baseSequence: number;
}

/** Attribute bit of a batch whose records are compressed with codec id `attributes & 7`. */
const CODEC_IDS: Record<CompressionCodec, number> = {
  none: 0,
  gzip: 1,
  snappy: 2,
  lz4: 3,
  zstd: 4,
};

/**
 * Recomputes the CRC of the batch at `position` after a field it covers was changed (the
 * broker rewrites a lying maxTimestamp, as Kafka's `setMaxTimestamp` does).
 */
export function updateCrc(bytes: Uint8Array, position: number, size: number): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  view.setUint32(
    position + CRC_OFFSET,
    crc32c(bytes, position + ATTRIBUTES_OFFSET, position + size),
  );
}

/** Options of {@linkcode buildRecordBatch}. */
export interface BuildBatchOptions {
  /** Codec of the records. Default none. */
  compression?: CompressionCodec;
  /** Mark the batch as written inside a transaction (attribute bit 4). Default false. */
  transactional?: boolean;
}

/**
 * Builds a RecordBatch v2 with base offset 0 (the broker assigns offsets), compressed with
 * `compression`. Used by tests and the raw load generator, never on the broker's produce path.
 */
export function buildRecordBatch(
  records: RecordInput[],
  producer: ProducerInput = { producerId: -1, producerEpoch: -1, baseSequence: -1 },
  { compression = "none", transactional = false }: BuildBatchOptions = {},
): Uint8Array {
  const now = Date.now();
  const baseTimestamp = records[0]?.timestamp ?? now;
  let maxTimestamp = baseTimestamp;
  const body = new Writer(64 + records.length * 32);
  records.forEach((record, i) => {
    const timestamp = record.timestamp ?? now;
    if (timestamp > maxTimestamp) maxTimestamp = timestamp;
    const r = new Writer(32 + (record.value?.length ?? 0));
    r.int8(0).varlong(timestamp - baseTimestamp).varint(i);
    if (record.key == null) r.varint(-1);
    else r.varint(record.key.length).raw(record.key);
    if (record.value === null) r.varint(-1);
    else r.varint(record.value.length).raw(record.value);
    const headers = record.headers ?? [];
    r.varint(headers.length);
    for (const h of headers) {
      const key = new TextEncoder().encode(h.key);
      r.varint(key.length).raw(key);
      if (h.value === null) r.varint(-1);
      else r.varint(h.value.length).raw(h.value);
    }
    const bytes = r.finish();
    body.varint(bytes.length).raw(bytes);
  });
  const plain = body.finish();
  const recordsBytes = compression === "none" ? plain : compress(compression, plain);
  const w = new Writer(BATCH_HEADER_SIZE + recordsBytes.length);
  w.int64(0).int32(BATCH_HEADER_SIZE - LOG_OVERHEAD + recordsBytes.length).int32(-1).int8(2);
  w.uint32(0); // CRC placeholder.
  w.int16(CODEC_IDS[compression] | (transactional ? TRANSACTIONAL_FLAG : 0)).int32(
    Math.max(0, records.length - 1),
  ).int64(baseTimestamp)
    .int64(maxTimestamp);
  w.int64(producer.producerId).int16(producer.producerEpoch).int32(producer.baseSequence);
  w.int32(records.length).raw(recordsBytes);
  const batch = w.finish().slice();
  const crc = crc32c(batch, ATTRIBUTES_OFFSET, batch.length);
  new DataView(batch.buffer).setUint32(CRC_OFFSET, crc);
  return batch;
}

/** A record decoded from a batch (tests and tools). */
export interface DecodedRecord {
  offset: number;
  timestamp: number;
  key: Uint8Array | null;
  value: Uint8Array | null;
  headers: { key: string; value: Uint8Array | null }[];
}

/** The records of the batch parsed as `header` from `bytes`, decompressed when compressed. */
export function batchRecordBytes(
  bytes: Uint8Array,
  header: BatchHeader,
  maxBytes = 256 * 1024 * 1024,
): Uint8Array {
  const payload = bytes.subarray(
    header.position + BATCH_HEADER_SIZE,
    header.position + header.size,
  );
  const codec = codecOf(header.attributes & 0x07);
  if (codec === undefined) throw new Error(`Unknown compression codec ${header.attributes & 0x07}`);
  return codec === "none" ? payload : decompress(codec, payload, maxBytes);
}

/** Decodes the records of whole batches, compressed or not (tests and tools). */
export function decodeRecords(bytes: Uint8Array): DecodedRecord[] {
  const out: DecodedRecord[] = [];
  let position = 0;
  const decoder = new TextDecoder();
  while (position < bytes.length) {
    const header = parseBatchAt(bytes, position);
    if (isProblem(header)) throw new Error(`Invalid batch at ${position}: ${header.kind}`);
    const r = new Reader(batchRecordBytes(bytes, header));
    for (let i = 0; i < header.recordCount; i++) {
      r.varint(); // record length
      r.int8(); // attributes
      const timestampDelta = r.varlong();
      const offsetDelta = r.varint();
      const keyLength = r.varint();
      const key = keyLength < 0 ? null : r.raw(keyLength).slice();
      const valueLength = r.varint();
      const value = valueLength < 0 ? null : r.raw(valueLength).slice();
      const headers: DecodedRecord["headers"] = [];
      const headerCount = r.varint();
      for (let h = 0; h < headerCount; h++) {
        const name = decoder.decode(r.raw(r.varint()));
        const length = r.varint();
        headers.push({ key: name, value: length < 0 ? null : r.raw(length).slice() });
      }
      out.push({
        offset: header.baseOffset + offsetDelta,
        timestamp: header.baseTimestamp + timestampDelta,
        key,
        value,
        headers,
      });
    }
    position += header.size;
  }
  return out;
}

/** Attribute bit of a batch written inside a transaction. */
export const TRANSACTIONAL_FLAG = 0x10;
/** Attribute bit of a control batch (transaction markers). */
export const CONTROL_FLAG = 0x20;

/** Control record types of Kafka's `ControlRecordType`. */
export const ControlType = { ABORT: 0, COMMIT: 1 } as const;

/**
 * Builds a transaction marker: a control batch of one record whose key is
 * (version 0, type) and whose value is (version 0, coordinator epoch), as Kafka's
 * `EndTransactionMarker` writes it. Base offset 0: the partition log assigns it.
 */
export function buildMarkerBatch(
  producerId: number,
  producerEpoch: number,
  type: number,
  coordinatorEpoch: number,
  timestamp = Date.now(),
): Uint8Array {
  const key = new Writer(4).int16(0).int16(type).finish();
  const value = new Writer(6).int16(0).int32(coordinatorEpoch).finish();
  const r = new Writer(32);
  r.int8(0).varlong(0).varint(0).varint(key.length).raw(key).varint(value.length).raw(value)
    .varint(0);
  const record = r.finish();
  const body = new Writer(record.length + 5).varint(record.length).raw(record).finish();
  const w = new Writer(BATCH_HEADER_SIZE + body.length);
  w.int64(0).int32(BATCH_HEADER_SIZE - LOG_OVERHEAD + body.length).int32(-1).int8(2);
  w.uint32(0);
  w.int16(TRANSACTIONAL_FLAG | CONTROL_FLAG).int32(0).int64(timestamp).int64(timestamp);
  w.int64(producerId).int16(producerEpoch).int32(-1);
  w.int32(1).raw(body);
  const batch = w.finish().slice();
  new DataView(batch.buffer).setUint32(CRC_OFFSET, crc32c(batch, ATTRIBUTES_OFFSET, batch.length));
  return batch;
}

/**
 * The control type (ABORT 0, COMMIT 1) of the control batch parsed as `header` from
 * `bytes`, read from its first record's key; undefined when it cannot be read. Control
 * batches are never compressed.
 */
export function controlTypeOf(bytes: Uint8Array, header: BatchHeader): number | undefined {
  try {
    const r = new Reader(bytes, header.position + BATCH_HEADER_SIZE, header.position + header.size);
    r.varint(); // record length
    r.int8(); // attributes
    r.varlong(); // timestamp delta
    r.varint(); // offset delta
    if (r.varint() < 4) return undefined;
    r.int16(); // key version
    return r.int16();
  } catch {
    return undefined;
  }
}
