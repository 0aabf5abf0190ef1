/**
 * The format of the broker's small append-only metadata logs (group offsets, transaction
 * metadata): a sequence of records, each `length:u32 | crc32c:u32 | JSON payload` (big-endian,
 * the CRC over the payload). A crash can tear only the last record; a replay applies every
 * whole record and cuts the file at the first torn or corrupt one.
 *
 * @module
 */
import type { Logger } from "@logtape/logtape";
import { crc32c } from "../protocol/crc32c.ts";

const HEADER_BYTES = 8;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Encodes one record: its header and `value` as JSON. */
export function encodeJsonRecord(value: unknown): Uint8Array {
  const payload = encoder.encode(JSON.stringify(value));
  const out = new Uint8Array(HEADER_BYTES + payload.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, payload.length);
  out.set(payload, HEADER_BYTES);
  view.setUint32(4, crc32c(out, HEADER_BYTES, out.length));
  return out;
}

/**
 * Reads the records of the file at `path` in order and passes each to `apply` (a missing
 * file has none). At the first record that is cut short, fails its CRC, is not JSON, or that
 * `apply` throws on, the file is truncated there (durably) and a warning naming `what` is
 * logged. Returns the number of records applied.
 */
export async function replayJsonRecords<T>(
  path: string,
  apply: (record: T) => void,
  { log, what }: { log: Logger; what: string },
): Promise<number> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return 0;
    throw error;
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let position = 0;
  let records = 0;
  while (position + HEADER_BYTES <= bytes.length) {
    const end = position + HEADER_BYTES + view.getUint32(position);
    if (
      end > bytes.length ||
      crc32c(bytes, position + HEADER_BYTES, end) !== view.getUint32(position + 4)
    ) break;
    try {
      apply(JSON.parse(decoder.decode(bytes.subarray(position + HEADER_BYTES, end))) as T);
    } catch {
      break;
    }
    records++;
    position = end;
  }
  if (position < bytes.length) {
    log.warn("Truncated the {what} file at byte {position} of {size}: torn or corrupt record", {
      what,
      position,
      size: bytes.length,
    });
    const file = await Deno.open(path, { write: true });
    try {
      await file.truncate(position);
      await file.syncData();
    } finally {
      file.close();
    }
  }
  return records;
}
