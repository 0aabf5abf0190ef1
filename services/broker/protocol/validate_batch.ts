/**
 * What Produce checks inside a record batch before it is appended, so that nothing a
 * consumer cannot read is ever acknowledged: the checks of Kafka's LogValidator
 * (`validateBatch`, `validateRecord`, `validateTimestamp`) with its error codes, plus a cap
 * on the decompressed size (Kafka has none; a 254 KiB gzip batch can inflate to 256 MiB).
 *
 * - an unknown codec (attributes & 7 of 5, 6, 7): UNSUPPORTED_COMPRESSION_TYPE;
 * - a control batch from a client; a record count that is not lastOffsetDelta + 1 or not the
 *   number of records inside; an offset delta out of order; a record or header that runs past
 *   its length; a producer id without a sequence: INVALID_RECORD (as Kafka's
 *   InvalidRecordException);
 * - compressed data that does not decode: CORRUPT_MESSAGE; that inflates past the cap:
 *   MESSAGE_TOO_LARGE;
 * - the LogAppendTime bit set by the producer, or a record timestamp further in the future
 *   than allowed (Kafka's `message.timestamp.after.max.ms`): INVALID_TIMESTAMP.
 *
 * A maxTimestamp that is not the records' largest timestamp is rewritten, as Kafka's
 * `setMaxTimestamp` does (kafkajs writes the last record's timestamp there, not the largest);
 * retention and ListOffsets trust that field.
 *
 * @module
 */
import { codecOf, decompress, DecompressionError } from "@trading/shared/record-compression";
import { ErrorCode } from "./error_codes.ts";
import { BATCH_HEADER_SIZE, type BatchHeader, updateCrc } from "./record_batch.ts";
import { Reader } from "./wire.ts";

/** Limits of {@linkcode validateBatch}. */
export interface BatchLimits {
  /** Largest decompressed size of one batch's records. */
  maxDecompressedBytes: number;
  /** How far past `now` a record timestamp may be, ms. */
  maxTimestampAheadMs: number;
  /** The broker's clock, epoch ms. */
  now: number;
}

/** The verdict on a batch: valid, or the Kafka error code and one sentence. */
export type BatchVerdict =
  | { ok: true; maxTimestamp: number }
  | { ok: false; errorCode: number; message: string };

const CONTROL_BIT = 0x20;
const LOG_APPEND_TIME_BIT = 0x08;
const NO_TIMESTAMP = -1;

function refuse(errorCode: number, message: string): BatchVerdict {
  return { ok: false, errorCode, message };
}

/**
 * Validates the batch parsed as `header` (CRC and magic already checked) in `bytes`, and
 * rewrites its maxTimestamp (and CRC) in place when that field lies.
 */
export function validateBatch(
  bytes: Uint8Array,
  header: BatchHeader,
  limits: BatchLimits,
): BatchVerdict {
  const codecId = header.attributes & 0x07;
  const codec = codecOf(codecId);
  if (codec === undefined) {
    return refuse(
      ErrorCode.UNSUPPORTED_COMPRESSION_TYPE,
      `Unknown compression codec ${codecId}: expected 0-4 (none, gzip, snappy, lz4, zstd)`,
    );
  }
  if ((header.attributes & CONTROL_BIT) !== 0) {
    return refuse(ErrorCode.INVALID_RECORD, "Clients are not allowed to write control records");
  }
  if ((header.attributes & LOG_APPEND_TIME_BIT) !== 0) {
    return refuse(
      ErrorCode.INVALID_TIMESTAMP,
      "Invalid timestamp type LogAppendTime: a producer must not set it",
    );
  }
  if (header.recordCount <= 0 || header.recordCount !== header.lastOffsetDelta + 1) {
    return refuse(
      ErrorCode.INVALID_RECORD,
      `Inconsistent batch: record count ${header.recordCount}, last offset delta ${header.lastOffsetDelta}: expected count = delta + 1 > 0`,
    );
  }
  if (header.producerId < -1 || (header.producerId >= 0 && header.baseSequence < 0)) {
    return refuse(
      ErrorCode.INVALID_RECORD,
      `Invalid producer id ${header.producerId} with sequence ${header.baseSequence}: expected -1, or an id with a sequence >= 0`,
    );
  }
  let records: Uint8Array;
  const payload = bytes.subarray(
    header.position + BATCH_HEADER_SIZE,
    header.position + header.size,
  );
  if (codec === "none") {
    records = payload;
  } else {
    try {
      records = decompress(codec, payload, limits.maxDecompressedBytes);
    } catch (error) {
      if (!(error instanceof DecompressionError)) throw error;
      return refuse(
        error.tooLarge ? ErrorCode.MESSAGE_TOO_LARGE : ErrorCode.CORRUPT_MESSAGE,
        error.tooLarge
          ? `Decompressed ${codec} records exceed ${limits.maxDecompressedBytes} bytes (BROKER_MAX_DECOMPRESSED_BYTES)`
          : error.message,
      );
    }
  }
  const walked = walkRecords(records, header, limits);
  if (typeof walked !== "number") return walked;
  if (walked !== header.maxTimestamp) {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    view.setBigInt64(header.position + 35, BigInt(walked));
    updateCrc(bytes, header.position, header.size);
    header.maxTimestamp = walked;
  }
  return { ok: true, maxTimestamp: walked };
}

/**
 * Reads every record of `records` (the batch's uncompressed record bytes); returns the
 * largest timestamp, or the refusal saying what is wrong.
 */
function walkRecords(
  records: Uint8Array,
  header: BatchHeader,
  limits: BatchLimits,
): number | BatchVerdict {
  const invalid = (message: string) => refuse(ErrorCode.INVALID_RECORD, message);
  const r = new Reader(records);
  let maxTimestamp = NO_TIMESTAMP;
  const latest = limits.now + limits.maxTimestampAheadMs;
  try {
    for (let i = 0; i < header.recordCount; i++) {
      const length = r.varint();
      if (length <= 0 || length > r.remaining) {
        return invalid(
          `Record ${i} has length ${length} with ${r.remaining} bytes left: expected a length within the batch`,
        );
      }
      const end = r.pos + length;
      const record = new Reader(records, r.pos, end);
      record.int8(); // attributes, unused in v2
      const timestampDelta = record.varlong();
      const offsetDelta = record.varint();
      if (offsetDelta !== i) {
        return invalid(`Record ${i} has offset delta ${offsetDelta}: expected ${i}`);
      }
      const keyLength = record.varint();
      if (keyLength < -1) {
        return invalid(`Record ${i} has key length ${keyLength}: expected -1 or more`);
      }
      if (keyLength > 0) record.raw(keyLength);
      const valueLength = record.varint();
      if (valueLength < -1) {
        return invalid(`Record ${i} has value length ${valueLength}: expected -1 or more`);
      }
      if (valueLength > 0) record.raw(valueLength);
      const headers = record.varint();
      if (headers < 0) return invalid(`Record ${i} has ${headers} headers: expected 0 or more`);
      for (let h = 0; h < headers; h++) {
        const nameLength = record.varint();
        if (nameLength < 0) {
          return invalid(
            `Record ${i} header ${h} has key length ${nameLength}: expected 0 or more`,
          );
        }
        record.raw(nameLength);
        const headerValueLength = record.varint();
        if (headerValueLength < -1) {
          return invalid(
            `Record ${i} header ${h} has value length ${headerValueLength}: expected -1 or more`,
          );
        }
        if (headerValueLength > 0) record.raw(headerValueLength);
      }
      if (record.pos !== end) {
        return invalid(
          `Record ${i} has ${
            end - record.pos
          } bytes after its headers: expected its length to end there`,
        );
      }
      r.pos = end;
      const timestamp = header.baseTimestamp + timestampDelta;
      if (header.baseTimestamp !== NO_TIMESTAMP && timestamp > latest) {
        return refuse(
          ErrorCode.INVALID_TIMESTAMP,
          `Timestamp ${timestamp} of record ${i} is more than ${limits.maxTimestampAheadMs} ms ahead of the broker's clock ${limits.now}`,
        );
      }
      if (timestamp > maxTimestamp) maxTimestamp = timestamp;
    }
  } catch (error) {
    return invalid(`Record bytes end inside a record: ${(error as Error).message}`);
  }
  if (r.remaining !== 0) {
    return invalid(
      `Batch has ${r.remaining} bytes after its ${header.recordCount} records: expected the declared count to end it`,
    );
  }
  // Without a base timestamp (a client that sets none) there is nothing to compare.
  return header.baseTimestamp === NO_TIMESTAMP ? header.maxTimestamp : maxTimestamp;
}
