/**
 * The record of the Raft log file (log_storage.ts): step 2 of one Ready, whole, so that a
 * crash keeps all of it or none of it. A received snapshot (replacing the log), then the
 * entries (each truncating the log from its index, then appended), then the hard state.
 *
 * Payload layout, little-endian: `u8 kind (1)`, `u8 flags (1 hard state, 2 snapshot)`, the
 * hard state (`u64 term`, `u64 commit`, `u16 length` + UTF-8 vote), the snapshot (`u64 index`,
 * `u64 term`, `u32 length` + conf state, `u32 length` + data), `u32 count`, and each entry
 * (`u64 index`, `u64 term`, `u8 type`, `u32 length` + data).
 *
 * @module
 */
import { decodeConfState, encodeConfState } from "../core/conf_state.ts";
import type { Entry, EntryType, HardState, Snapshot } from "../core/types.ts";
import { RECORD_HEADER_BYTES, sealRecord } from "./log_file.ts";

const KIND_READY = 1;
const HAS_HARD_STATE = 1;
const HAS_SNAPSHOT = 2;
const TWO_32 = 2 ** 32;
const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder("utf-8", { fatal: true });

/** Step 2 of a Ready, as one record holds it. */
export interface ReadyRecord {
  readonly hardState: HardState | undefined;
  readonly snapshot: Snapshot | undefined;
  readonly entries: readonly Entry[];
}

/** Encodes `record` as a framed log record (header included, see log_file.ts). */
export function encodeReadyRecord(record: ReadyRecord): Uint8Array {
  const { hardState, snapshot, entries } = record;
  const vote = hardState === undefined ? undefined : utf8.encode(hardState.vote);
  const conf = snapshot === undefined ? undefined : encodeConfState(snapshot.conf);
  let size = RECORD_HEADER_BYTES + 2 + 4;
  if (vote !== undefined) size += 16 + 2 + vote.length;
  if (snapshot !== undefined) size += 16 + 4 + conf!.length + 4 + snapshot.data.length;
  for (const entry of entries) size += 17 + 4 + entry.data.length;
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  let o = RECORD_HEADER_BYTES;
  out[o++] = KIND_READY;
  out[o++] = (hardState ? HAS_HARD_STATE : 0) | (snapshot ? HAS_SNAPSHOT : 0);
  const u64 = (n: number) => {
    view.setUint32(o, n % TWO_32, true);
    view.setUint32(o + 4, Math.floor(n / TWO_32), true);
    o += 8;
  };
  const bytes = (b: Uint8Array) => {
    view.setUint32(o, b.length, true);
    out.set(b, o + 4);
    o += 4 + b.length;
  };
  if (hardState !== undefined) {
    u64(hardState.term);
    u64(hardState.commit);
    if (vote!.length > 0xffff) throw new Error(`Invalid vote "${hardState.vote}": too long`);
    view.setUint16(o, vote!.length, true);
    out.set(vote!, o + 2);
    o += 2 + vote!.length;
  }
  if (snapshot !== undefined) {
    u64(snapshot.index);
    u64(snapshot.term);
    bytes(conf!);
    bytes(snapshot.data);
  }
  view.setUint32(o, entries.length, true);
  o += 4;
  for (const entry of entries) {
    u64(entry.index);
    u64(entry.term);
    out[o++] = entry.type;
    bytes(entry.data);
  }
  sealRecord(out);
  return out;
}

/**
 * Decodes a record's payload (its CRC already checked). Entry and snapshot data are copies,
 * not views of the file's bytes. Throws on a payload that does not parse.
 */
export function decodeReadyRecord(payload: Uint8Array): ReadyRecord {
  const view = new DataView(payload.buffer, payload.byteOffset, payload.length);
  let o = 0;
  const need = (n: number) => {
    if (o + n > payload.length) {
      throw new Error(
        `Invalid raft log record: ${payload.length} bytes, expected at least ${o + n}`,
      );
    }
  };
  const u64 = () => {
    need(8);
    const n = view.getUint32(o, true) + view.getUint32(o + 4, true) * TWO_32;
    o += 8;
    return n;
  };
  const bytes = () => {
    need(4);
    const length = view.getUint32(o, true);
    need(4 + length);
    const b = payload.slice(o + 4, o + 4 + length);
    o += 4 + length;
    return b;
  };
  need(2);
  const kind = payload[o++]!;
  if (kind !== KIND_READY) throw new Error(`Invalid raft log record kind ${kind}: expected 1`);
  const flags = payload[o++]!;
  let hardState: HardState | undefined;
  if (flags & HAS_HARD_STATE) {
    const term = u64();
    const commit = u64();
    need(2);
    const length = view.getUint16(o, true);
    need(2 + length);
    const vote = fromUtf8.decode(payload.subarray(o + 2, o + 2 + length));
    o += 2 + length;
    hardState = { term, vote, commit };
  }
  let snapshot: Snapshot | undefined;
  if (flags & HAS_SNAPSHOT) {
    const index = u64();
    const term = u64();
    const conf = decodeConfState(bytes());
    snapshot = { index, term, conf, data: bytes() };
  }
  need(4);
  const count = view.getUint32(o, true);
  o += 4;
  const entries: Entry[] = [];
  for (let i = 0; i < count; i++) {
    const index = u64();
    const term = u64();
    need(1);
    const type = payload[o++]! as EntryType;
    entries.push({ index, term, type, data: bytes() });
  }
  if (o !== payload.length) {
    throw new Error(`Invalid raft log record: ${payload.length - o} bytes left over`);
  }
  return { hardState, snapshot, entries };
}
