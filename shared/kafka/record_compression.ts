/**
 * The four compression codecs of Kafka record batches (attributes bits 0-2: 1 gzip,
 * 2 snappy, 3 lz4, 4 zstd), with a cap on the decompressed size, so that a small hostile
 * batch cannot make its reader allocate or work without bound (a gzip bomb: 256 MiB from
 * 254 KiB). Used by the embedded broker to validate what it is given and by our Kafka
 * clients to read what they are served.
 *
 * - gzip and zstd: node:zlib, whose `maxOutputLength` stops inflating at the cap.
 * - snappy: `snappyjs` for the blocks, in the xerial framing that Kafka's Java client writes
 *   (`\x82SNAPPY\0`, version, compatible version, then length-prefixed blocks) or as one raw
 *   block (librdkafka, kafkajs-snappy); `snappyjs` checks a block's declared length against
 *   the cap before it allocates, and every block is walked first (`checkSnappyBlock`),
 *   because `snappyjs` loops forever on a literal with a negative 32-bit length.
 * - lz4: the LZ4 frame format (KIP-57: what Kafka writes since message format v1) decoded
 *   here, because no JavaScript package stops at a cap: the maintained pure-JS one (`lz4js`)
 *   writes on past its buffer and reads a frame's declared content size as the size to
 *   allocate. Compression uses `lz4js`.
 *
 * @module
 */
import zlib from "node:zlib";
// @ts-types="./types/snappyjs.d.ts"
import SnappyJS from "snappyjs";
// @ts-types="./types/lz4js.d.ts"
import lz4js from "lz4js";

/** A batch's codec, from the low three bits of its attributes. */
export type CompressionCodec = "none" | "gzip" | "snappy" | "lz4" | "zstd";

const CODECS: readonly CompressionCodec[] = ["none", "gzip", "snappy", "lz4", "zstd"];

/** The codec of codec id `id` (attributes & 7), or undefined for 5, 6, 7 (no such codec). */
export function codecOf(id: number): CompressionCodec | undefined {
  return CODECS[id];
}

/** Thrown when compressed data does not decode; `tooLarge` when it passes the cap. */
export class DecompressionError extends Error {
  readonly tooLarge: boolean;
  constructor(message: string, tooLarge: boolean, cause?: unknown) {
    super(message, { cause });
    this.name = "DecompressionError";
    this.tooLarge = tooLarge;
  }
}

function tooLarge(codec: string, maxBytes: number): DecompressionError {
  return new DecompressionError(
    `Decompressed ${codec} data exceeds ${maxBytes} bytes: expected at most the cap`,
    true,
  );
}

/**
 * Decompresses `data` of `codec`; throws {@linkcode DecompressionError} when it is corrupt or
 * would be larger than `maxBytes`. Memory and work stay within about `maxBytes`.
 */
export function decompress(
  codec: Exclude<CompressionCodec, "none">,
  data: Uint8Array,
  maxBytes: number,
): Uint8Array {
  switch (codec) {
    case "gzip":
      return inflate("gzip", (cap) => zlib.gunzipSync(data, { maxOutputLength: cap }), maxBytes);
    case "zstd":
      return inflate(
        "zstd",
        (cap) => zlib.zstdDecompressSync(data, { maxOutputLength: cap }),
        maxBytes,
      );
    case "snappy":
      return snappyDecompress(data, maxBytes);
    case "lz4":
      return lz4Decompress(data, maxBytes);
  }
}

/** Compresses `data` with `codec` (our producers and tests; the broker never compresses). */
export function compress(codec: Exclude<CompressionCodec, "none">, data: Uint8Array): Uint8Array {
  switch (codec) {
    case "gzip":
      return new Uint8Array(zlib.gzipSync(data));
    case "zstd":
      return new Uint8Array(zlib.zstdCompressSync(data));
    case "snappy":
      return snappyCompress(data);
    case "lz4":
      return new Uint8Array(lz4js.compress(data));
  }
}

function inflate(
  codec: string,
  run: (cap: number) => Uint8Array,
  maxBytes: number,
): Uint8Array {
  let out: Uint8Array;
  try {
    // node:zlib wants a cap of at least 1.
    out = run(Math.max(1, maxBytes));
  } catch (error) {
    if ((error as { code?: string }).code === "ERR_BUFFER_TOO_LARGE") {
      throw tooLarge(codec, maxBytes);
    }
    throw new DecompressionError(
      `Corrupt ${codec} data: ${(error as Error).message}`,
      false,
      error,
    );
  }
  if (out.byteLength > maxBytes) throw tooLarge(codec, maxBytes);
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

// --- snappy -------------------------------------------------------------------------------

/** xerial snappy-java's stream header: magic, then int32 version 1 and compatible version 1. */
const XERIAL_MAGIC = [0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00];
const XERIAL_HEADER_SIZE = 16;
const XERIAL_BLOCK = 32 * 1024;

function isXerial(data: Uint8Array): boolean {
  return data.length >= XERIAL_HEADER_SIZE && XERIAL_MAGIC.every((b, i) => data[i] === b);
}

/**
 * Walks a raw snappy block's elements as `snappyjs` 0.7.0 will, without copying, and throws
 * when one would make it misbehave: a literal whose 4-byte length has its top bit set is a
 * negative length in its signed arithmetic, which moves its read position backwards, so a
 * 9-byte block can loop forever (and a hostile batch would stall the event loop of the
 * broker or a consumer). Every element checked here moves forward and stays in the block;
 * copies are checked against what was produced and against the declared length.
 */
function checkSnappyBlock(block: Uint8Array): void {
  const corrupt = (why: string) => new DecompressionError(`Corrupt snappy data: ${why}`, false);
  let pos = 0;
  let declared = 0;
  for (let shift = 0;; shift += 7) {
    if (pos >= block.length || shift >= 32) throw corrupt("bad uncompressed length");
    const c = block[pos++]!;
    declared += (c & 0x7f) * 2 ** shift;
    if (c < 128) break;
  }
  let produced = 0;
  while (pos < block.length) {
    const c = block[pos++]!;
    let length: number;
    if ((c & 0x3) === 0) {
      length = (c >>> 2) + 1;
      if (length > 60) {
        const bytes = length - 60;
        if (pos + bytes > block.length) throw corrupt("truncated literal length");
        length = 0;
        for (let i = 0; i < bytes; i++) length += block[pos + i]! * 2 ** (8 * i);
        if (length >= 2 ** 31 - 1) throw corrupt(`literal of ${length + 1} bytes`);
        length += 1;
        pos += bytes;
      }
      if (pos + length > block.length) throw corrupt("literal past the end");
      pos += length;
    } else {
      const tag = c & 0x3;
      const extra = tag === 1 ? 1 : tag === 2 ? 2 : 4;
      if (pos + extra > block.length) throw corrupt("truncated copy");
      let offset: number;
      if (tag === 1) {
        length = ((c >>> 2) & 0x7) + 4;
        offset = block[pos]! + ((c >>> 5) << 8);
      } else {
        length = (c >>> 2) + 1;
        offset = block[pos]! + block[pos + 1]! * 256 +
          (tag === 3 ? block[pos + 2]! * 65536 + block[pos + 3]! * 16777216 : 0);
      }
      pos += extra;
      if (offset === 0 || offset > produced) throw corrupt("copy from before the output");
    }
    produced += length;
    if (produced > declared) throw corrupt("more data than its declared length");
  }
  if (produced !== declared) throw corrupt(`${produced} bytes where it declared ${declared}`);
}

function snappyBlock(block: Uint8Array, maxBytes: number): Uint8Array {
  checkSnappyBlock(block);
  try {
    return SnappyJS.uncompress(block, maxBytes);
  } catch (error) {
    const message = (error as Error).message;
    if (/too big/.test(message)) throw tooLarge("snappy", maxBytes);
    throw new DecompressionError(`Corrupt snappy data: ${message}`, false, error);
  }
}

function snappyDecompress(data: Uint8Array, maxBytes: number): Uint8Array {
  if (!isXerial(data)) return snappyBlock(data, maxBytes);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const blocks: Uint8Array[] = [];
  let total = 0;
  let at = XERIAL_HEADER_SIZE;
  while (at < data.length) {
    if (data.length - at < 4) {
      throw new DecompressionError("Corrupt snappy data: truncated block length", false);
    }
    const length = view.getInt32(at);
    at += 4;
    if (length < 0 || length > data.length - at) {
      throw new DecompressionError(
        `Corrupt snappy data: block of ${length} bytes past the end`,
        false,
      );
    }
    const block = snappyBlock(data.subarray(at, at + length), maxBytes - total);
    at += length;
    total += block.length;
    blocks.push(block);
  }
  const out = new Uint8Array(total);
  let offset = 0;
  for (const block of blocks) {
    out.set(block, offset);
    offset += block.length;
  }
  return out;
}

function snappyCompress(data: Uint8Array): Uint8Array {
  const parts: Uint8Array[] = [];
  const header = new Uint8Array(XERIAL_HEADER_SIZE);
  header.set(XERIAL_MAGIC);
  new DataView(header.buffer).setInt32(8, 1);
  new DataView(header.buffer).setInt32(12, 1);
  parts.push(header);
  for (let at = 0; at < data.length; at += XERIAL_BLOCK) {
    const block: Uint8Array = SnappyJS.compress(data.subarray(at, at + XERIAL_BLOCK));
    const length = new Uint8Array(4);
    new DataView(length.buffer).setInt32(0, block.length);
    parts.push(length, block);
  }
  const out = new Uint8Array(parts.reduce((sum, p) => sum + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

// --- lz4 ----------------------------------------------------------------------------------

const LZ4_MAGIC = 0x184d2204;

/** An output buffer that grows by doubling up to a cap. */
class BoundedOutput {
  bytes: Uint8Array;
  length = 0;
  constructor(private readonly maxBytes: number, initial: number) {
    this.bytes = new Uint8Array(Math.min(maxBytes, Math.max(64, initial)));
  }
  reserve(n: number): void {
    const needed = this.length + n;
    if (needed <= this.bytes.length) return;
    if (needed > this.maxBytes) throw tooLarge("lz4", this.maxBytes);
    let size = this.bytes.length * 2;
    while (size < needed) size *= 2;
    const grown = new Uint8Array(Math.min(size, this.maxBytes));
    grown.set(this.bytes.subarray(0, this.length));
    this.bytes = grown;
  }
}

function corruptLz4(reason: string): DecompressionError {
  return new DecompressionError(`Corrupt lz4 data: ${reason}`, false);
}

/** Decodes one LZ4 frame (lz4_Frame_format.md), its blocks in the LZ4 block format. */
function lz4Decompress(data: Uint8Array, maxBytes: number): Uint8Array {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (data.length < 7 || view.getUint32(0, true) !== LZ4_MAGIC) throw corruptLz4("no frame magic");
  const flags = data[4]!;
  if ((flags >> 6) !== 1) throw corruptLz4(`frame version ${flags >> 6}, expected 1`);
  const blockChecksum = (flags & 0x10) !== 0;
  const contentSize = (flags & 0x08) !== 0;
  const contentChecksum = (flags & 0x04) !== 0;
  const dictionary = (flags & 0x01) !== 0;
  if (dictionary) throw corruptLz4("a dictionary id, which Kafka never writes");
  // Flags, block descriptor, optional content size, header checksum.
  let at = 6 + (contentSize ? 8 : 0) + 1;
  const out = new BoundedOutput(maxBytes, data.length * 4);
  for (;;) {
    if (data.length - at < 4) throw corruptLz4("truncated block size");
    const word = view.getUint32(at, true);
    at += 4;
    if (word === 0) break; // EndMark
    const size = word & 0x7fffffff;
    if (size > data.length - at) throw corruptLz4(`block of ${size} bytes past the end`);
    if ((word & 0x80000000) !== 0) {
      out.reserve(size);
      out.bytes.set(data.subarray(at, at + size), out.length);
      out.length += size;
    } else {
      lz4Block(data, at, at + size, out);
    }
    at += size + (blockChecksum ? 4 : 0);
  }
  // The content checksum (xxHash32) is not verified: the batch's CRC32C already covers the
  // compressed bytes, and the records are validated one by one once decompressed.
  if (contentChecksum) at += 4;
  if (at > data.length) throw corruptLz4("truncated content checksum");
  return out.bytes.subarray(0, out.length);
}

/** Decodes one LZ4 block from `src[start, end)` onto `out` (earlier blocks may be referenced). */
function lz4Block(src: Uint8Array, start: number, end: number, out: BoundedOutput): void {
  let i = start;
  while (i < end) {
    const token = src[i++]!;
    let literals = token >> 4;
    if (literals === 15) {
      let b: number;
      do {
        if (i >= end) throw corruptLz4("truncated literal length");
        b = src[i++]!;
        literals += b;
      } while (b === 255);
    }
    if (literals > end - i) throw corruptLz4("literals past the end of the block");
    out.reserve(literals);
    out.bytes.set(src.subarray(i, i + literals), out.length);
    out.length += literals;
    i += literals;
    if (i === end) return; // The last sequence has literals only.
    if (end - i < 2) throw corruptLz4("truncated match offset");
    const offset = src[i]! | (src[i + 1]! << 8);
    i += 2;
    if (offset === 0 || offset > out.length) {
      throw corruptLz4(`match offset ${offset} out of range`);
    }
    let match = (token & 15) + 4;
    if ((token & 15) === 15) {
      let b: number;
      do {
        if (i >= end) throw corruptLz4("truncated match length");
        b = src[i++]!;
        match += b;
      } while (b === 255);
    }
    out.reserve(match);
    const bytes = out.bytes;
    let from = out.length - offset;
    let to = out.length;
    if (offset >= match) {
      bytes.copyWithin(to, from, from + match);
    } else {
      for (let k = 0; k < match; k++) bytes[to++] = bytes[from++]!;
    }
    out.length += match;
  }
}
