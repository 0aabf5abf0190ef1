/**
 * An append-only log of records in numbered segment files, with group commit: appends are
 * buffered in memory, and every group of them reaches the disk with one write and one
 * fdatasync, run off the event loop (Deno's async `FsFile.syncData` runs on its blocking
 * thread pool). While a group's sync is in flight, new appends accumulate for the next one.
 *
 * A record is `[u32 length][u32 crc32c(payload)][payload]`, little-endian, and its payload is
 * never empty (an empty one would be `[0][0]`, the same as zeros). On open every segment is
 * read and every record checked. The records end where the rest of the file is zeros (the
 * preallocated tail, below): that is the end of the segment, not damage, and nothing is cut.
 * A torn or corrupt tail of the last segment (what a crash leaves of an unsynced write,
 * followed by zeros or by the end of the file) is cut, and anything else that does not check
 * out is refused: a bad record with intact data after it, or one in an older segment, is not
 * what a crash leaves.
 *
 * Preallocation: the segment being written is kept zero-filled ahead of the write offset
 * (by `preallocateBytes`, default 4 MiB, when the write offset comes within a quarter of that
 * of the filled end), and the zeros are fdatasynced, so that a group's write overwrites
 * allocated space and its fdatasync need not commit a new file size as well (ext4: about
 * 0.13 ms instead of 0.20 ms at p50 on this machine; etcd's WAL preallocates its segments for
 * the same reason). Deno has no fallocate, so zeros are written, in pieces, through a file
 * handle of their own, off the event loop and after a group's sync, never before one: a group
 * waits only when it would write over the piece being zeroed (past the filled end, as at the
 * start of a segment), and otherwise appends and grows the file as without preallocation.
 * Writes are positional, at the offset where the valid records end.
 *
 * Ordering on disk: a new segment file is created only once the previous one is synced (at
 * open, the last segment is synced before appends start a new one), so a crash leaves
 * unsynced bytes in the last segment alone (zeros written after that in an older segment
 * read back as its end).
 *
 * @module
 */
import { crc32c } from "@trading/broker/crc32c";

/** Bytes of a record's header: payload length and its CRC32C. */
export const RECORD_HEADER_BYTES = 8;

/** The largest payload a record may have (a corrupt length beyond it is not a record). */
export const MAX_RECORD_BYTES = 1 << 30;

/** A block of the disk: a torn write leaves whole blocks of zeros where it did not land. */
const SECTOR_BYTES = 512;

/** Default of {@linkcode SegmentedLogOptions.preallocateBytes}. */
export const DEFAULT_PREALLOCATE_BYTES = 4 * 1024 * 1024;

/** The most zeros written (then fdatasynced) in one step of a preallocation. */
const PREALLOCATE_PIECE_BYTES = 1024 * 1024;

const SEGMENT_NAME = /^(\d{16})\.seg$/;

/** The file name of segment `seq`. */
export function segmentFileName(seq: number): string {
  return `${String(seq).padStart(16, "0")}.seg`;
}

/** A record read back at open. */
export interface RecoveredRecord {
  /** The segment it is in. */
  readonly segment: number;
  readonly payload: Uint8Array;
}

/** What open cut from the tail of the last segment. */
export interface TailCut {
  readonly segment: number;
  readonly path: string;
  /** Where the valid records end (the file's new length). */
  readonly offset: number;
  /** Bytes removed. */
  readonly bytes: number;
  /** Why the record at `offset` was not valid. */
  readonly reason: string;
}

/** Options of {@linkcode SegmentedLog.open}. */
export interface SegmentedLogOptions {
  /**
   * Run each fdatasync on Deno's blocking thread pool (default), so the event loop goes on
   * meanwhile; false runs it on the event loop (`syncDataSync`).
   */
  readonly syncOffLoop?: boolean;
  /**
   * Bytes of zeros written ahead of the write offset of the segment being written, each time
   * it comes within a quarter of that of the zero-filled end (default
   * {@linkcode DEFAULT_PREALLOCATE_BYTES}); 0 turns preallocation off (every write grows the
   * file).
   */
  readonly preallocateBytes?: number;
  /**
   * No segment is zero-filled beyond this many bytes (the size at which its writer rolls, so
   * that a finished segment keeps little unused space); default no limit.
   */
  readonly preallocateLimitBytes?: number;
}

/** What {@linkcode SegmentedLog.open} found. */
export interface OpenedLog {
  readonly log: SegmentedLog;
  /** Every valid record, in order. */
  readonly records: readonly RecoveredRecord[];
  /** The tail that was cut, if any. */
  readonly cut: TailCut | undefined;
}

/** The records bound for one segment in a group. */
interface Chunk {
  readonly segment: number;
  readonly buffers: Uint8Array[];
  bytes: number;
}

/** Zeros being written to a segment, not yet done. */
interface ZeroPiece {
  readonly segment: number;
  readonly from: number;
  readonly to: number;
  readonly written: Promise<unknown>;
}

type SyncCallback = {
  readonly done: (synced: boolean) => void;
  readonly fail: (error: unknown) => void;
};

/** Thrown for damage that is not a torn tail: the log must not be opened as if it were fine. */
export class CorruptLogError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CorruptLogError";
  }
}

/**
 * The segment files of one log directory.
 *
 * @example
 * ```ts ignore
 * const { log, records } = SegmentedLog.open(dir);
 * log.roll(frameRecord(firstPayloadOfTheNewSegment));
 * log.append(payload, true);
 * log.sync((synced) => console.log("durable", synced), (error) => Deno.exit(1));
 * ```
 */
export class SegmentedLog {
  readonly dir: string;
  readonly #syncOffLoop: boolean;
  readonly #preallocateBytes: number;
  readonly #preallocateLimit: number;
  /** Segments on disk (or about to be), oldest first. */
  #segments: number[];
  /** The file being appended to on disk, and its segment. */
  #file: Deno.FsFile | undefined;
  #fileSegment = 0;
  /** Where the valid records of the file end: the next write goes there. */
  #writeOffset = 0;
  /** The end of the zeros written and synced after the write offset (or the file's end). */
  #filledEnd = 0;
  /** The preallocation running, and the piece of zeros it is writing. */
  #preallocation: Promise<void> | undefined;
  #zeroPiece: ZeroPiece | undefined;
  #preallocationError: unknown;
  /** The segment new appends go to. */
  #appendSegment: number;
  /** Bytes in the append segment: on disk plus pending. */
  #appendSegmentBytes = 0;
  /** The group being gathered: chunks per segment, in order. */
  #pending: Chunk[] = [];
  #pendingMustSync = false;
  #nextWaiters: SyncCallback[] = [];
  #inFlight: Promise<void> | undefined;
  /** The first segment the group in flight writes to. */
  #inFlightSegment = Infinity;
  #inFlightWaiters: SyncCallback[] = [];
  #fsyncs = 0;
  #groups = 0;
  #closed = false;
  #failed: unknown;

  private constructor(dir: string, segments: number[], options: SegmentedLogOptions) {
    this.dir = dir;
    this.#segments = segments;
    this.#syncOffLoop = options.syncOffLoop ?? true;
    const preallocate = options.preallocateBytes ?? DEFAULT_PREALLOCATE_BYTES;
    if (!Number.isSafeInteger(preallocate) || preallocate < 0) {
      throw new Error(
        `Invalid raft log preallocateBytes ${preallocate}: expected an integer, 0 (off) or more`,
      );
    }
    this.#preallocateBytes = preallocate;
    this.#preallocateLimit = options.preallocateLimitBytes ?? Infinity;
    this.#appendSegment = (segments.at(-1) ?? 0) + 1;
  }

  /**
   * Opens the log in `dir` (creating it if needed): reads every segment, checks every record,
   * cuts a torn or corrupt tail of the last segment (and deletes that segment if nothing valid
   * is left in it). New appends go to a new segment, which {@linkcode roll} must start.
   * Throws {@linkcode CorruptLogError} for damage anywhere but the tail.
   */
  static open(dir: string, options: SegmentedLogOptions = {}): OpenedLog {
    Deno.mkdirSync(dir, { recursive: true });
    const segments: number[] = [];
    for (const entry of Deno.readDirSync(dir)) {
      const match = SEGMENT_NAME.exec(entry.name);
      if (entry.isFile && match) segments.push(Number(match[1]));
    }
    segments.sort((a, b) => a - b);
    const records: RecoveredRecord[] = [];
    let cut: TailCut | undefined;
    for (let i = 0; i < segments.length; i++) {
      const segment = segments[i]!;
      const path = `${dir}/${segmentFileName(segment)}`;
      const bytes = Deno.readFileSync(path);
      const last = i === segments.length - 1;
      const scan = scanRecords(bytes, (payload) => records.push({ segment, payload }), {
        zerosEnd: true,
      });
      if (scan.damage === undefined) continue;
      const where = `"${path}" at offset ${scan.validBytes}`;
      if (!last) {
        throw new CorruptLogError(
          `Corrupt raft log record in ${where}: ${scan.damage.reason} in a segment that is not the last; expected damage only in the unsynced tail of the last segment`,
        );
      }
      if (!scan.damage.tail) {
        throw new CorruptLogError(
          `Corrupt raft log record in ${where}: ${scan.damage.reason} with intact data after it; expected damage only in the unsynced tail`,
        );
      }
      cut = {
        segment,
        path,
        offset: scan.validBytes,
        bytes: bytes.length - scan.validBytes,
        reason: scan.damage.reason,
      };
      if (scan.validBytes === 0) {
        Deno.removeSync(path);
        segments.pop();
      } else {
        const file = Deno.openSync(path, { write: true });
        try {
          file.truncateSync(scan.validBytes);
          file.syncSync();
        } finally {
          file.close();
        }
      }
      syncDirectory(dir);
    }
    // A writer killed between its write and its fdatasync leaves records in the page cache
    // that read back like synced ones, in a file (and a directory entry) that may not be on
    // the disk yet. New appends go to a new segment, so no later fdatasync would cover them:
    // sync the last segment now, before the node acts on what it holds (a vote, entries it
    // acknowledges), so that unsynced bytes stay in the last segment alone. A truncated tail
    // was synced above.
    const tail = segments.at(-1);
    if (tail !== undefined && cut?.segment !== tail) {
      const file = Deno.openSync(`${dir}/${segmentFileName(tail)}`, { read: true });
      try {
        file.syncDataSync();
      } finally {
        file.close();
      }
      syncDirectory(dir);
    }
    return { log: new SegmentedLog(dir, segments, options), records, cut };
  }

  /** The segments on disk (or about to be created by the pending group), oldest first. */
  get segments(): readonly number[] {
    return this.#segments;
  }

  /** The segment new appends go to. */
  get appendSegment(): number {
    return this.#appendSegment;
  }

  /** Bytes in the segment new appends go to, pending ones included. */
  get appendSegmentBytes(): number {
    return this.#appendSegmentBytes;
  }

  /** fdatasyncs of segment files since open (directory syncs not counted). */
  get fsyncs(): number {
    return this.#fsyncs;
  }

  /** Groups written since open (each one write and one fdatasync, two when it rolled). */
  get groups(): number {
    return this.#groups;
  }

  /**
   * The error that stopped preallocation, if one did (the log goes on, every write growing
   * the file).
   */
  get preallocationError(): unknown {
    return this.#preallocationError;
  }

  /** Resolves when no preallocation runs (one starts after a group's sync, when needed). */
  async preallocated(): Promise<void> {
    while (this.#preallocation !== undefined) await this.#preallocation;
  }

  /** True while a group's write and sync run. */
  get syncing(): boolean {
    return this.#inFlight !== undefined;
  }

  /**
   * Starts a new segment, whose first record is `firstRecord` (framed, see
   * {@linkcode frameRecord}): later appends go there.
   * The file is created when the group that holds it is written.
   */
  roll(firstRecord: Uint8Array): void {
    this.#assertOpen();
    assertNotEmpty(firstRecord);
    const segment = Math.max(this.#appendSegment, (this.#segments.at(-1) ?? 0) + 1);
    this.#appendSegment = segment;
    this.#appendSegmentBytes = 0;
    this.#segments.push(segment);
    this.#push(firstRecord);
  }

  /**
   * Buffers one record for the next group. `mustSync`: a {@linkcode sync} must write it (else
   * it waits for the next record that must, or for {@linkcode close}).
   */
  append(payload: Uint8Array, mustSync: boolean): void {
    this.appendFramed(frameRecord(payload), mustSync);
  }

  /** Buffers an already framed record (see {@linkcode frameRecord}). */
  appendFramed(record: Uint8Array, mustSync: boolean): void {
    this.#assertOpen();
    assertNotEmpty(record);
    if (!this.#segments.includes(this.#appendSegment)) {
      throw new Error("Invalid raft log append: no segment was started (call roll first)");
    }
    this.#push(record);
    if (mustSync) this.#pendingMustSync = true;
  }

  #push(record: Uint8Array): void {
    let chunk = this.#pending.at(-1);
    if (chunk === undefined || chunk.segment !== this.#appendSegment) {
      chunk = { segment: this.#appendSegment, buffers: [], bytes: 0 };
      this.#pending.push(chunk);
    }
    chunk.buffers.push(record);
    chunk.bytes += record.length;
    this.#appendSegmentBytes += record.length;
  }

  /**
   * Makes every record appended so far that must be synced durable, then calls `done`
   * (`synced` false when nothing needed an fsync; then before returning). Records appended
   * while a group is in flight go with the next group, one write and one fdatasync for all.
   * `fail` is called instead when a write or fsync failed: the log is unusable then.
   */
  sync(done: (synced: boolean) => void, fail: (error: unknown) => void): void {
    if (this.#failed !== undefined) return fail(this.#failed);
    if (!this.#pendingMustSync) {
      // What must be durable is written already, or in the group in flight.
      if (this.#inFlight !== undefined) this.#inFlightWaiters.push({ done, fail });
      else done(false);
      return;
    }
    this.#nextWaiters.push({ done, fail });
    if (this.#inFlight === undefined) this.#startGroup();
  }

  /** Deletes the segments before `segment` (never the one being written or appended to). */
  removeSegmentsBefore(segment: number): number[] {
    // A segment whose successor's first record (its hard state) is not synced yet stays.
    const keepFrom = Math.min(
      segment,
      this.#inFlight === undefined ? Infinity : this.#inFlightSegment,
      this.#fileSegment === 0 ? Infinity : this.#fileSegment,
      this.#pending[0]?.segment ?? Infinity,
      this.#appendSegment,
    );
    const removed: number[] = [];
    while (this.#segments.length > 0 && this.#segments[0]! < keepFrom) {
      const old = this.#segments.shift()!;
      // A deletion lost in a crash only brings back records that recovery ignores.
      Deno.removeSync(`${this.dir}/${segmentFileName(old)}`);
      removed.push(old);
    }
    return removed;
  }

  /**
   * Waits for the group in flight, writes and syncs what is still pending (on the event
   * loop), and closes the file. Idempotent.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    while (this.#inFlight !== undefined) await this.#inFlight.catch(() => {});
    // A preallocation stops after the piece it is writing (it checks #closed).
    await this.preallocated();
    if (this.#failed === undefined && this.#pending.length > 0) {
      const group = this.#pending;
      this.#pending = [];
      this.#pendingMustSync = false;
      for (const chunk of group) {
        const created = this.#writeChunk(chunk);
        this.#file!.syncDataSync();
        this.#fsyncs++;
        if (created) syncDirectory(this.dir);
      }
    }
    this.#file?.close();
    this.#file = undefined;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #assertOpen(): void {
    if (this.#closed) throw new Error("Invalid raft log use: the log is closed");
    if (this.#failed !== undefined) throw this.#failed;
  }

  #startGroup(): void {
    const group = this.#pending;
    const waiters = this.#nextWaiters;
    this.#pending = [];
    this.#pendingMustSync = false;
    this.#nextWaiters = [];
    this.#inFlightWaiters = waiters;
    this.#inFlightSegment = group[0]?.segment ?? Infinity;
    this.#inFlight = this.#writeGroup(group).then(
      () => {
        this.#inFlight = undefined;
        const done = this.#inFlightWaiters;
        this.#inFlightWaiters = [];
        // The next group starts before the callbacks run, so appends they make join the one
        // after it; what they wait for is what was pending when it started.
        if (this.#pendingMustSync && this.#nextWaiters.length > 0) this.#startGroup();
        for (const waiter of done) waiter.done(true);
      },
      (error) => {
        this.#inFlight = undefined;
        this.#failed = error;
        const failed = [...this.#inFlightWaiters, ...this.#nextWaiters];
        this.#inFlightWaiters = [];
        this.#nextWaiters = [];
        for (const waiter of failed) waiter.fail(error);
      },
    );
  }

  /** One write and one fdatasync per segment the group touches (one, unless it rolled). */
  async #writeGroup(group: readonly Chunk[]): Promise<void> {
    this.#groups++;
    for (const chunk of group) {
      // Past the zero-filled end, the piece being zeroed must land before records go over it.
      for (let piece = this.#zeroPieceUnder(chunk); piece; piece = this.#zeroPieceUnder(chunk)) {
        await piece.written.catch(() => {});
      }
      const created = this.#writeChunk(chunk);
      // The previous segment was synced before this one was created: unsynced bytes are
      // only ever in the last segment, where recovery looks for a torn tail.
      if (this.#syncOffLoop) await this.#file!.syncData();
      else this.#file!.syncDataSync();
      this.#fsyncs++;
      if (created) syncDirectory(this.dir);
    }
    // After the sync, not before: zeros written meanwhile would be this group's to flush.
    this.#preallocate();
  }

  /** The piece of zeros being written where `chunk` would go, if any. */
  #zeroPieceUnder(chunk: Chunk): ZeroPiece | undefined {
    const piece = this.#zeroPiece;
    if (piece === undefined || piece.segment !== chunk.segment) return undefined;
    if (this.#fileSegment !== chunk.segment) return undefined;
    const from = this.#writeOffset;
    return from < piece.to && from + chunk.bytes > piece.from ? piece : undefined;
  }

  /**
   * Starts zero-filling the file ahead of the write offset when it comes within a quarter of
   * `preallocateBytes` of the filled end: pieces written through a handle of their own, each
   * fdatasynced before the filled end moves past it. Stops at close, when the segment is
   * done, or on an error (kept in {@linkcode preallocationError}; appends go on, growing the
   * file).
   */
  #preallocate(): void {
    const chunk = this.#preallocateBytes;
    if (chunk === 0 || this.#preallocation !== undefined || this.#closed) return;
    if (this.#preallocationError !== undefined || this.#file === undefined) return;
    const segment = this.#fileSegment;
    const filledEnd = Math.max(this.#filledEnd, this.#writeOffset);
    if (filledEnd - this.#writeOffset >= chunk / 4) return;
    const target = Math.min(filledEnd + chunk, this.#preallocateLimit);
    if (target <= filledEnd) return;
    const file = Deno.openSync(`${this.dir}/${segmentFileName(segment)}`, { write: true });
    this.#preallocation = this.#zeroFill(file, segment, target).finally(() => {
      file.close();
      this.#preallocation = undefined;
    });
  }

  async #zeroFill(file: Deno.FsFile, segment: number, target: number): Promise<void> {
    const zeros = new Uint8Array(Math.min(PREALLOCATE_PIECE_BYTES, this.#preallocateBytes));
    const current = () => !this.#closed && this.#fileSegment === segment;
    try {
      let next = 0;
      while (current()) {
        const from = Math.max(next, this.#writeOffset, this.#filledEnd);
        if (from >= target) break;
        const to = Math.min(target, from + zeros.length);
        const written = writeZerosAt(file, zeros, from, to);
        this.#zeroPiece = { segment, from, to, written };
        try {
          await written;
        } finally {
          this.#zeroPiece = undefined;
        }
        await file.syncData();
        if (this.#fileSegment === segment) this.#filledEnd = Math.max(this.#filledEnd, to);
        next = to;
      }
    } catch (error) {
      this.#preallocationError = error;
    }
  }

  /** Writes a chunk to its segment's file (creating it); true when the file was created. */
  #writeChunk(chunk: Chunk): boolean {
    let created = false;
    if (this.#file === undefined || this.#fileSegment !== chunk.segment) {
      this.#file?.close();
      // Not in append mode: records go where the valid ones end, over preallocated zeros.
      this.#file = Deno.openSync(`${this.dir}/${segmentFileName(chunk.segment)}`, {
        write: true,
        create: true,
        truncate: true,
      });
      this.#fileSegment = chunk.segment;
      this.#writeOffset = 0;
      this.#filledEnd = 0;
      created = true;
    }
    const bytes = chunk.buffers.length === 1
      ? chunk.buffers[0]!
      : concat(chunk.buffers, chunk.bytes);
    this.#file.seekSync(this.#writeOffset, Deno.SeekMode.Start);
    writeAll(this.#file, bytes);
    this.#writeOffset += bytes.length;
    return created;
  }
}

function assertNotEmpty(record: Uint8Array): void {
  if (record.length <= RECORD_HEADER_BYTES) {
    throw new Error(
      `Invalid raft log record of ${
        record.length - RECORD_HEADER_BYTES
      } payload bytes: expected at least 1 (an empty record, [0][0], reads back as the zeros that end a segment)`,
    );
  }
}

/** Writes zeros over `[from, to)` of `file` (off the event loop). */
async function writeZerosAt(
  file: Deno.FsFile,
  zeros: Uint8Array,
  from: number,
  to: number,
): Promise<void> {
  await file.seek(from, Deno.SeekMode.Start);
  for (let offset = from; offset < to;) offset += await file.write(zeros.subarray(0, to - offset));
}

/** Frames `payload` as a record: header (length, CRC32C) and payload in one buffer. */
export function frameRecord(payload: Uint8Array): Uint8Array {
  const record = new Uint8Array(RECORD_HEADER_BYTES + payload.length);
  record.set(payload, RECORD_HEADER_BYTES);
  sealRecord(record);
  return record;
}

/**
 * Fills in the header of a record whose payload was written in place after
 * {@linkcode RECORD_HEADER_BYTES} bytes (saves a copy on the hot path).
 */
export function sealRecord(record: Uint8Array): void {
  const view = new DataView(record.buffer, record.byteOffset, RECORD_HEADER_BYTES);
  view.setUint32(0, record.length - RECORD_HEADER_BYTES, true);
  view.setUint32(4, crc32c(record, RECORD_HEADER_BYTES), true);
}

/** Why scanning stopped before the end of a segment. */
interface Damage {
  readonly reason: string;
  /**
   * True when it looks like what a crash leaves of an unsynced write: a record cut short by
   * the end of the file, zeros where a write did not land, or a bad last record.
   */
  readonly tail: boolean;
}

/** Options of {@linkcode scanRecords}. */
export interface ScanOptions {
  /**
   * Zeros from a record boundary to the end of the file end the records (a preallocated
   * tail), unless they start the file (its first record did not land). Default false: zeros
   * are damage.
   */
  readonly zerosEnd?: boolean;
}

/**
 * Reads the records of one segment; stops at the first that does not check out, or (with
 * `zerosEnd`) where the rest is zeros.
 */
export function scanRecords(
  bytes: Uint8Array,
  onRecord: (payload: Uint8Array) => void,
  options: ScanOptions = {},
): { validBytes: number; damage: Damage | undefined } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  let offset = 0;
  while (offset < bytes.length) {
    // Records are never empty, so a zero header is no record: with nothing but zeros after
    // it, the preallocated tail.
    if (options.zerosEnd && offset > 0 && bytes[offset] === 0 && allZero(bytes, offset)) break;
    const damage = recordDamage(bytes, view, offset);
    if (damage !== undefined) return { validBytes: offset, damage };
    const length = view.getUint32(offset, true);
    const start = offset + RECORD_HEADER_BYTES;
    onRecord(bytes.subarray(start, start + length));
    offset = start + length;
  }
  return { validBytes: offset, damage: undefined };
}

function recordDamage(bytes: Uint8Array, view: DataView, offset: number): Damage | undefined {
  const left = bytes.length - offset;
  if (left < RECORD_HEADER_BYTES) {
    return { reason: `a header cut short (${left} of ${RECORD_HEADER_BYTES} bytes)`, tail: true };
  }
  const length = view.getUint32(offset, true);
  const crc = view.getUint32(offset + 4, true);
  if (length === 0 && crc === 0) return { reason: "zeros instead of a record", tail: true };
  if (length === 0 || length > MAX_RECORD_BYTES) {
    return { reason: `an impossible length ${length}`, tail: allZero(bytes, offset + 8) };
  }
  const end = offset + RECORD_HEADER_BYTES + length;
  if (end > bytes.length) {
    return { reason: `a record cut short (${left} of ${end - offset} bytes)`, tail: true };
  }
  if (crc32c(bytes, offset + RECORD_HEADER_BYTES, end) === crc) return undefined;
  // A write that did not land whole leaves zeroed blocks (the file grew, its new blocks were
  // never written): a torn record, and nothing after it was synced either (etcd's WAL reads
  // a zeroed sector in a bad record the same way).
  const torn = hasZeroSector(bytes, offset, end);
  return {
    reason: torn ? "a torn record (a zeroed block)" : "a CRC mismatch",
    tail: torn || allZero(bytes, end),
  };
}

function hasZeroSector(bytes: Uint8Array, start: number, end: number): boolean {
  for (
    let s = Math.ceil(start / SECTOR_BYTES) * SECTOR_BYTES;
    s + SECTOR_BYTES <= end;
    s += SECTOR_BYTES
  ) {
    if (allZero(bytes, s, s + SECTOR_BYTES)) return true;
  }
  return false;
}

function allZero(bytes: Uint8Array, start: number, end = bytes.length): boolean {
  for (let i = start; i < end; i++) if (bytes[i] !== 0) return false;
  return true;
}

function concat(buffers: readonly Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let offset = 0;
  for (const buffer of buffers) {
    out.set(buffer, offset);
    offset += buffer.length;
  }
  return out;
}

/** Writes all of `bytes` (a write may take fewer). */
export function writeAll(file: Deno.FsFile, bytes: Uint8Array): void {
  let offset = 0;
  while (offset < bytes.length) offset += file.writeSync(bytes.subarray(offset));
}

/** fsyncs a directory, so that files created, renamed or removed in it stay so. */
export function syncDirectory(dir: string): void {
  const handle = Deno.openSync(dir, { read: true });
  try {
    handle.syncSync();
  } finally {
    handle.close();
  }
}
