/**
 * Makes kafkajs 2.2.4 read every record batch a broker may serve, and turn one it cannot
 * read into a record its consumer can dead-letter, instead of failing the whole Fetch.
 *
 * Without this, kafkajs throws while it decodes a Fetch response when a batch is compressed
 * with Snappy, LZ4 or ZSTD (it ships only gzip), and on a batch that does not decode (a
 * record count that lies, a codec id 5-7, a corrupt compressed payload). The error fails the
 * whole response, so the group consumer crashes, restarts at the same offset and fails
 * again, forever: the service stops and orders wait behind the batch (issue 13). The broker
 * now refuses such batches on Produce, but another client can still write valid batches with
 * codecs kafkajs lacks, and a log written earlier, or another Kafka, may hold the others.
 *
 * {@linkcode applyKafkaJsBatchGuard} (applied by shared/kafka/kafka.ts `createKafka`):
 *
 * - registers gzip, Snappy, LZ4 and ZSTD decompression from shared/kafka/record_compression.ts,
 *   which stops at {@linkcode MAX_DECOMPRESSED_BYTES} (gzip included: kafkajs' own gzip has
 *   no cap, so a 254 KiB bomb would inflate to 256 MiB);
 * - wraps kafkajs' record-batch decoder: a batch that fails to decode, has a codec id above
 *   4, or has the control bit outside a transaction (kafkajs would drop its records
 *   silently) becomes ONE record at the batch's last offset, with no key, the raw batch as
 *   value (up to {@linkcode MAX_RAW_BATCH_BYTES}), and the reason, which
 *   {@linkcode undecodableBatchError} tells. The consumer dead-letters it and moves past the
 *   whole batch; nothing of it is lost silently. A batch cut short at the end of a response
 *   (the Fetch size limit) stays what it is: the next Fetch reads it whole.
 * - wraps kafkajs' legacy message-set decoder (taken when a record set's first magic byte is
 *   not 2) the same way: what it cannot decode becomes one record at the set's first offset.
 *
 * The wrapper replaces the decoder module's export in the CommonJS module cache before
 * kafkajs first requires it (its Fetch decoders are loaded lazily, on the first Fetch); the
 * internals are pinned by the lock file, and a kafkajs without them makes this throw.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import Module, { createRequire } from "node:module";
import { CompressionCodecs, CompressionTypes } from "kafkajs";
import { InvalidMessageError } from "../contracts/invalid_message_error.ts";
import { compress, decompress } from "./record_compression.ts";

/** The most bytes a compressed batch may decompress to (the broker's default cap). */
export const MAX_DECOMPRESSED_BYTES = 64 * 1024 * 1024;
/** A refused batch larger than this is dead-lettered without its bytes. */
export const MAX_RAW_BATCH_BYTES = 512 * 1024;

/** kafkajs' Decoder (src/protocol/decoder.js), as far as the wrapper reads it. */
interface KafkaJsDecoder {
  buffer: Buffer;
  offset: number;
}
type BatchDecoder = (decoder: KafkaJsDecoder) => Promise<{ records: unknown[] }>;

/** Synthetic records and their reasons; a producer cannot forge an entry here. */
const undecodable = new WeakMap<object, string>();

const GUARDED = Symbol.for("trading.kafkajsBatchGuard");
const require = createRequire(import.meta.url);
const DECODER_MODULE = "kafkajs/src/protocol/recordBatch/v0/decoder.js";
/** The decoder of the pre-0.11 message sets (magic 0 and 1), which kafkajs picks by magic byte. */
const MESSAGE_SET_MODULE = "kafkajs/src/protocol/messageSet/decoder.js";
const TRANSACTIONAL = 0x10;
const CONTROL = 0x20;
/** firstOffset(8) length(4) epoch(4) magic(1) crc(4) attributes(2) lastOffsetDelta(4). */
const HEADER_BYTES = 27;

function codec(name: "gzip" | "snappy" | "lz4" | "zstd") {
  return () => ({
    compress(encoder: { buffer: Uint8Array }): Promise<Buffer> {
      return Promise.resolve(Buffer.from(compress(name, encoder.buffer)));
    },
    decompress(buffer: Uint8Array): Promise<Buffer> {
      const bytes = decompress(name, buffer, MAX_DECOMPRESSED_BYTES);
      return Promise.resolve(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    },
  });
}

/**
 * The reason a record stands for a batch kafkajs could not read (see the module doc), as the
 * error its dead letter carries; undefined for every real record.
 */
export function undecodableBatchError(record: object): InvalidMessageError | undefined {
  const reason = undecodable.get(record);
  return reason === undefined ? undefined : new InvalidMessageError("undecodable", reason);
}

/** The record that stands for the batch at `start` of `decoder`, which could not be read. */
function standIn(decoder: KafkaJsDecoder, start: number, why: string) {
  const buffer = decoder.buffer;
  const length = buffer.readInt32BE(start + 8);
  const end = Math.min(buffer.length, start + 12 + Math.max(0, length));
  decoder.offset = end;
  const lastOffsetDelta = buffer.readInt32BE(start + 23);
  return standInRecord(buffer, start, end, Math.max(0, lastOffsetDelta), why);
}

/** The stand-in record of the bytes `start`-`end` of `buffer`, a batch (or message) at its offset. */
function standInRecord(
  buffer: Buffer,
  start: number,
  end: number,
  lastOffsetDelta: number,
  why: string,
) {
  const firstOffset = buffer.readBigInt64BE(start);
  let last = firstOffset + BigInt(lastOffsetDelta);
  // A lying lastOffsetDelta must not make the consumer skip the batches after this one: the
  // stand-in ends before the next batch of the response, when there is one.
  if (end + 8 <= buffer.length) {
    const next = buffer.readBigInt64BE(end);
    if (next > firstOffset && next <= last) last = next - 1n;
  }
  const raw = end - start <= MAX_RAW_BATCH_BYTES ? Buffer.from(buffer.subarray(start, end)) : null;
  const record = {
    magicByte: 2,
    attributes: 0,
    timestamp: String(Date.now()),
    offset: String(last),
    key: null,
    value: raw,
    headers: {},
    isControlRecord: false,
    batchContext: { firstOffset: String(firstOffset), inTransaction: false, producerId: "-1" },
  };
  undecodable.set(
    record,
    `Undecodable record batch at offsets ${firstOffset}-${last}: ${why}` +
      (raw === null ? ` (${end - start} bytes, not kept)` : ""),
  );
  return { firstOffset: String(firstOffset), lastOffsetDelta, records: [record] };
}

/**
 * Registers the capped codecs and wraps the record-batch decoder (see the module doc).
 * Idempotent; throws when this kafkajs has no such decoder.
 */
export function applyKafkaJsBatchGuard(): void {
  const codecs = CompressionCodecs as unknown as Record<number, unknown>;
  codecs[CompressionTypes.GZIP] = codec("gzip");
  codecs[CompressionTypes.Snappy] = codec("snappy");
  codecs[CompressionTypes.LZ4] = codec("lz4");
  codecs[CompressionTypes.ZSTD] = codec("zstd");

  const batches = cachedModule<BatchDecoder>(DECODER_MODULE);
  const messageSets = cachedModule<MessageSetDecoder>(MESSAGE_SET_MODULE);
  if (batches.original[GUARDED]) return;
  const original = batches.original;
  const guarded: BatchDecoder & { [GUARDED]?: true } = async (decoder) => {
    const start = decoder.offset;
    const buffer = decoder.buffer;
    if (buffer.length - start >= HEADER_BYTES) {
      const length = buffer.readInt32BE(start + 8);
      // Whole batches only: a tail cut by the response size is kafkajs' to skip.
      if (buffer.length - start - 12 >= length) {
        const attributes = buffer.readInt16BE(start + 21);
        if ((attributes & 7) > 4) return standIn(decoder, start, `unknown codec ${attributes & 7}`);
        if ((attributes & CONTROL) !== 0 && (attributes & TRANSACTIONAL) === 0) {
          return standIn(decoder, start, "a control batch outside a transaction");
        }
      }
    }
    try {
      return await original(decoder);
    } catch (error) {
      if ((error as { name?: string }).name === "KafkaJSPartialMessageError") throw error;
      return standIn(decoder, start, error instanceof Error ? error.message : String(error));
    }
  };
  guarded[GUARDED] = true;
  batches.entry.exports = guarded;

  // A record set whose first magic byte is not 2 goes to the legacy decoder, which throws on
  // whatever does not decode (a corrupt or forged batch header, too): the set's first entry
  // stands in for it, and the next Fetch reads on after it.
  const legacy = messageSets.original;
  const guardedLegacy: MessageSetDecoder & { [GUARDED]?: true } = async (decoder, size) => {
    const start = decoder.offset;
    const buffer = decoder.buffer;
    const setEnd = Math.min(buffer.length, start + (size ?? buffer.length - start));
    const entryEnd = setEnd - start < 12
      ? undefined
      : start + 12 + Math.max(0, buffer.readInt32BE(start + 8));
    // The first entry is whole: the set is not merely cut short by the response size.
    const whole = entryEnd !== undefined && entryEnd <= setEnd;
    const stand = (why: string) => {
      decoder.offset = setEnd;
      return standInRecord(buffer, start, entryEnd!, 0, why).records;
    };
    let messages: unknown[];
    try {
      messages = await legacy(decoder, size);
    } catch (error) {
      if ((error as { name?: string }).name === "KafkaJSPartialMessageError" || !whole) throw error;
      return stand(
        `not a message set or record batch (${
          error instanceof Error ? error.message : String(error)
        })`,
      );
    }
    // kafkajs returns nothing for a magic byte above 2 (it waits for "the full record batch on
    // the next request"), which would hold the consumer at this offset forever.
    if (messages.length === 0 && whole) {
      return stand(`unsupported magic byte ${buffer.readInt8(start + 16)}`);
    }
    return messages;
  };
  guardedLegacy[GUARDED] = true;
  messageSets.entry.exports = guardedLegacy;
}

type MessageSetDecoder = (decoder: KafkaJsDecoder, size?: number | null) => Promise<unknown[]>;

/** A kafkajs module's export and its entry in the CommonJS module cache. */
function cachedModule<T>(
  name: string,
): { original: T & { [GUARDED]?: true }; entry: { exports: unknown } } {
  const path = require.resolve(name);
  const original = require(path) as T & { [GUARDED]?: true };
  if (typeof original !== "function") {
    throw new Error(`Unsupported kafkajs version: expected ${name} to export a function`);
  }
  const cache = (Module as unknown as { _cache: Record<string, { exports: unknown }> })._cache;
  const entry = cache[path];
  if (entry === undefined) {
    throw new Error(`Unsupported kafkajs version: ${name} is not in the module cache`);
  }
  return { original, entry };
}
