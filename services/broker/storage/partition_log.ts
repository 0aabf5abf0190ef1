/**
 * The log of one topic partition: a directory of segments, appended in order, read by
 * offset, made durable through the {@linkcode Flusher}, recovered after a crash and trimmed
 * by retention.
 *
 * Offsets move through three marks: `nextOffset` (assigned, synchronously, when a produce
 * request is accepted, which keeps per-connection order), `writtenOffset` (in the file) and
 * `durableOffset` (fsynced). The high watermark that consumers see is `durableOffset` in
 * sync mode, so a consumer never reads a message a crash could take back, and
 * `writtenOffset` in interval mode.
 *
 * Transactions (Kafka's ProducerStateManager): the first offset of each producer's open
 * transaction is kept, and the last stable offset (LSO) is the smallest of them, or the high
 * watermark. A transaction stays open until its marker is under the high watermark, so a
 * `read_committed` reader (which reads up to the LSO) sees a transaction only once its
 * commit or abort is as durable as the data. Aborted transactions are indexed
 * (producer id, first offset, marker offset) for the Fetch response. Both are rebuilt by
 * the recovery scan.
 *
 * @module
 */
import { join } from "node:path";
import { getLogger } from "@trading/shared/log";
import { ErrorCode } from "../protocol/error_codes.ts";
import {
  BATCH_HEADER_SIZE,
  type BatchHeader,
  buildMarkerBatch,
  CONTROL_FLAG,
  ControlType,
  controlTypeOf,
  isProblem,
  parseBatchAt,
  setBaseOffset,
  TRANSACTIONAL_FLAG,
} from "../protocol/record_batch.ts";
import { Reader } from "../protocol/wire.ts";
import { syncDirectory, writeFileDurably } from "./durable_file.ts";
import type { Flusher, Syncable } from "./flusher.ts";
import { ProducerStateTable } from "./producer_state.ts";
import { Segment, segmentName } from "./segment.ts";
import type { EffectiveTopicConfig } from "./topic_config.ts";

/** Kafka's log-start-offset checkpoint, per partition: what DeleteRecords moved it to. */
const LOG_START_FILE = "log_start_offset";

const log = getLogger(["broker", "storage"]);

/**
 * Limits and policies of a partition log: its topic's configs (retention, cleanup policy,
 * segment rolling, largest batch) and the broker's flush mode. The object is shared by the
 * partitions of a topic and updated in place when the topic's configs change.
 */
export interface LogOptions extends EffectiveTopicConfig {
  /** True: the high watermark waits for fsync (sync mode); false: for the write (interval mode). */
  durableHighWatermark: boolean;
}

/** The outcome of accepting a produce for one partition. */
export type AppendResult =
  | { ok: true; baseOffset: number; endOffset: number; duplicate: boolean }
  | { ok: false; errorCode: number; message: string };

/** What a fetch read returns. */
export interface ReadResult {
  errorCode: number;
  records: Uint8Array | null;
  highWatermark: number;
  lastStableOffset: number;
  logStartOffset: number;
  /** read_committed: the aborted transactions overlapping the returned batches. */
  abortedTransactions: AbortedTransaction[];
}

/** An aborted transaction of one partition: its producer, first offset and marker offset. */
export interface AbortedTransaction {
  producerId: number;
  firstOffset: number;
  lastOffset: number;
}

/** Kafka's isolation levels of Fetch and ListOffsets. */
export const IsolationLevel = { READ_UNCOMMITTED: 0, READ_COMMITTED: 1 } as const;

interface CompletingTransaction {
  firstOffset: number;
  markerOffset: number;
}

interface PendingWrite {
  bytes: Uint8Array;
  batches: BatchHeader[];
  endOffset: number;
}

interface Waiter {
  offset: number;
  resolve: () => void;
  reject: (error: Error) => void;
}

/** Thrown to produce waiters when the log cannot write or sync. */
export class StorageError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "StorageError";
  }
}

/** One partition's durable log. */
export class PartitionLog implements Syncable {
  readonly topic: string;
  readonly partition: number;
  readonly dir: string;
  private segments: Segment[] = [];
  private readonly producers = new ProducerStateTable();
  /** Producer id -> first offset of its open transaction. */
  private readonly openTransactions = new Map<number, number>();
  /** Transactions whose marker is written but not yet under the high watermark. */
  private completing: CompletingTransaction[] = [];
  private aborted: AbortedTransaction[] = [];
  private pending: PendingWrite[] = [];
  private writing: Promise<void> | undefined;
  private writtenWaiters: Waiter[] = [];
  private durableWaiters: Waiter[] = [];
  private readonly listeners = new Set<() => void>();
  private failure: Error | undefined;
  private closed = false;

  /** The next offset to assign. */
  nextOffset = 0;
  /** End of the data written to the file. */
  writtenOffset = 0;
  /** End of the data known to be on disk. */
  durableOffset = 0;
  /** First offset still in the log. */
  logStartOffset = 0;

  private constructor(
    topic: string,
    partition: number,
    dir: string,
    private readonly options: LogOptions,
    private readonly flusher: Flusher,
  ) {
    this.topic = topic;
    this.partition = partition;
    this.dir = dir;
  }

  /** The partition's directory name under the data dir. */
  static dirName(topic: string, partition: number): string {
    return `${topic}-${partition}`;
  }

  /**
   * Opens (or creates) the log in `dataDir`, recovering it: every batch is CRC-checked and a
   * torn or corrupt tail is truncated to the last valid batch, with a warning.
   */
  static async open(
    dataDir: string,
    topic: string,
    partition: number,
    options: LogOptions,
    flusher: Flusher,
  ): Promise<PartitionLog> {
    const dir = join(dataDir, PartitionLog.dirName(topic, partition));
    await Deno.mkdir(dir, { recursive: true });
    const plog = new PartitionLog(topic, partition, dir, options, flusher);
    await plog.recover();
    return plog;
  }

  /** The offset consumers may read up to (exclusive). */
  get highWatermark(): number {
    return this.options.durableHighWatermark ? this.durableOffset : this.writtenOffset;
  }

  /**
   * The last stable offset: the first offset of the oldest transaction whose marker is not
   * yet under the high watermark, or the high watermark.
   */
  get lastStableOffset(): number {
    const hw = this.highWatermark;
    let lso = hw;
    for (const first of this.openTransactions.values()) if (first < lso) lso = first;
    if (this.completing.length > 0) {
      this.completing = this.completing.filter((c) => c.markerOffset >= hw);
      for (const c of this.completing) if (c.firstOffset < lso) lso = c.firstOffset;
    }
    return lso;
  }

  /** Producer ids with an open transaction in this partition (tests, recovery checks). */
  openTransactionProducers(): number[] {
    return [...this.openTransactions.keys()];
  }

  /** Total bytes in the log's segments. */
  get sizeBytes(): number {
    let total = 0;
    for (const s of this.segments) total += s.size;
    return total;
  }

  /** Number of segments. */
  get segmentCount(): number {
    return this.segments.length;
  }

  private async recover(): Promise<void> {
    const bases: number[] = [];
    for await (const entry of Deno.readDir(this.dir)) {
      const match = /^(\d{20})\.log$/.exec(entry.name);
      if (entry.isFile && match) bases.push(Number(match[1]));
      else if (entry.isFile && entry.name.endsWith(".tmp")) {
        // A staging file of an interrupted writeFileDurably (log_start, partition.metadata):
        // the file it was to replace is intact.
        await Deno.remove(join(this.dir, entry.name)).catch(() => {});
      } else if (entry.isFile && /\.index$/.test(entry.name)) {
        const stem = entry.name.slice(0, -".index".length);
        // An index without its log (a crash between creating the two files) is stale.
        await Deno.stat(join(this.dir, `${stem}.log`)).catch(() =>
          Deno.remove(join(this.dir, entry.name)).catch(() => {})
        );
      }
    }
    bases.sort((a, b) => a - b);
    let expected: number | undefined;
    for (let i = 0; i < bases.length; i++) {
      const base = bases[i]!;
      if (expected !== undefined && base !== expected) {
        // A gap between segments means the previous one lost its tail: nothing after the
        // gap can be trusted to be in order.
        log.warn("Deleting segments after an offset gap in {topic}-{partition} at {offset}", {
          topic: this.topic,
          partition: this.partition,
          offset: expected,
        });
        for (const later of bases.slice(i)) await this.deleteFiles(later);
        break;
      }
      const segment = await this.scanSegment(base);
      this.segments.push(segment.segment);
      expected = segment.segment.nextOffset;
      if (segment.truncated) {
        for (const later of bases.slice(i + 1)) await this.deleteFiles(later);
        break;
      }
    }
    if (this.segments.length === 0) {
      this.segments.push(await Segment.create(this.dir, 0));
      await this.syncDirectory();
    }
    const active = this.segments[this.segments.length - 1]!;
    for (const closed of this.segments.slice(0, -1)) await closed.writeIndexFile();
    if (active.writable === false) await active.openForAppend();
    this.nextOffset = active.nextOffset;
    this.logStartOffset = Math.min(
      Math.max(this.segments[0]!.baseOffset, await this.readLogStartCheckpoint()),
      this.nextOffset,
    );
    this.writtenOffset = this.nextOffset;
    this.durableOffset = this.nextOffset;
  }

  private async readLogStartCheckpoint(): Promise<number> {
    try {
      const value = Number((await Deno.readTextFile(join(this.dir, LOG_START_FILE))).trim());
      return Number.isSafeInteger(value) && value >= 0 ? value : 0;
    } catch {
      return 0;
    }
  }

  private async writeLogStartCheckpoint(offset: number): Promise<void> {
    // A crash keeps the old checkpoint or the new one.
    await writeFileDurably(join(this.dir, LOG_START_FILE), `${offset}\n`);
  }

  private async deleteFiles(base: number): Promise<void> {
    await Deno.remove(join(this.dir, `${segmentName(base)}.log`)).catch(() => {});
    await Deno.remove(join(this.dir, `${segmentName(base)}.index`)).catch(() => {});
  }

  /** Reads a segment file, checks every batch and indexes it; truncates at the first bad one. */
  private async scanSegment(base: number): Promise<{ segment: Segment; truncated: boolean }> {
    const path = join(this.dir, `${segmentName(base)}.log`);
    const bytes = await Deno.readFile(path);
    const stat = await Deno.stat(path);
    const segment = Segment.existing(this.dir, base, stat.mtime?.getTime() ?? Date.now());
    let position = 0;
    let nextOffset = base;
    let problem: string | undefined;
    while (position < bytes.length) {
      const parsed = parseBatchAt(bytes, position);
      if (isProblem(parsed)) {
        problem = parsed.kind === "truncated"
          ? "torn batch"
          : parsed.kind === "crc"
          ? "CRC mismatch"
          : parsed.kind === "magic"
          ? `magic ${parsed.magic}`
          : parsed.reason;
        break;
      }
      if (parsed.baseOffset !== nextOffset) {
        problem = `base offset ${parsed.baseOffset} where ${nextOffset} was expected`;
        break;
      }
      const last = parsed.baseOffset + parsed.lastOffsetDelta;
      segment.indexBatch(parsed.baseOffset, last, position, parsed.maxTimestamp);
      if ((parsed.attributes & CONTROL_FLAG) !== 0) {
        this.completeTransaction(
          parsed.producerId,
          parsed.baseOffset,
          controlTypeOf(bytes, parsed),
        );
        this.producers.recordMarker(parsed.producerId, parsed.producerEpoch);
      } else {
        this.producers.record(parsed, parsed.baseOffset);
        this.trackTransaction(parsed);
      }
      nextOffset = last + 1;
      position += parsed.size;
    }
    segment.size = position;
    if (problem !== undefined) {
      log.warn(
        "Truncated {topic}-{partition} segment {segment} at byte {position} of {size} (offset {offset}): {problem}",
        {
          topic: this.topic,
          partition: this.partition,
          segment: segmentName(base),
          position,
          size: bytes.length,
          offset: nextOffset,
          problem,
        },
      );
      const file = await Deno.open(path, { write: true });
      try {
        await file.truncate(position);
        await file.syncData();
      } finally {
        file.close();
      }
    }
    return { segment, truncated: problem !== undefined };
  }

  /**
   * Accepts the batch of one produce request for this partition: checks the producer's
   * sequence, assigns offsets (rewriting the batch's base offset in `bytes`) and queues the
   * write. Synchronous, so requests are ordered as they arrive. Await
   * {@linkcode waitWritten} or {@linkcode waitDurable} with the returned `endOffset` before
   * acknowledging.
   */
  append(bytes: Uint8Array, batch: BatchHeader): AppendResult {
    if (this.closed) {
      return {
        ok: false,
        errorCode: ErrorCode.NOT_LEADER_OR_FOLLOWER,
        message: "Partition is closed",
      };
    }
    if (this.failure !== undefined) {
      return { ok: false, errorCode: ErrorCode.KAFKA_STORAGE_ERROR, message: this.failure.message };
    }
    const verdict = this.producers.check(batch);
    if (verdict.kind === "duplicate") {
      // A retry: acknowledge with the original offsets once the original is as durable as
      // this request asks.
      const endOffset = verdict.baseOffset + batch.lastOffsetDelta + 1;
      return { ok: true, baseOffset: verdict.baseOffset, endOffset, duplicate: true };
    }
    if (verdict.kind === "reject") {
      return { ok: false, errorCode: verdict.errorCode, message: verdict.message };
    }
    const baseOffset = this.nextOffset;
    setBaseOffset(bytes, batch.position, baseOffset);
    batch.baseOffset = baseOffset;
    this.producers.record(batch, baseOffset);
    this.trackTransaction(batch);
    this.nextOffset += batch.lastOffsetDelta + 1;
    this.pending.push({ bytes, batches: [batch], endOffset: this.nextOffset });
    this.writing ??= this.drainWrites();
    return { ok: true, baseOffset, endOffset: this.nextOffset, duplicate: false };
  }

  /**
   * Appends a transaction marker (COMMIT or ABORT) for `producerId` at `producerEpoch`, the
   * transaction coordinator's write. Returns the end offset to wait on, or an error.
   */
  appendMarker(
    producerId: number,
    producerEpoch: number,
    commit: boolean,
    coordinatorEpoch = 0,
  ): AppendResult {
    if (this.closed) {
      return {
        ok: false,
        errorCode: ErrorCode.NOT_LEADER_OR_FOLLOWER,
        message: "Partition is closed",
      };
    }
    if (this.failure !== undefined) {
      return { ok: false, errorCode: ErrorCode.KAFKA_STORAGE_ERROR, message: this.failure.message };
    }
    const type = commit ? ControlType.COMMIT : ControlType.ABORT;
    const bytes = buildMarkerBatch(producerId, producerEpoch, type, coordinatorEpoch);
    const batch = parseBatchAt(bytes, 0, bytes.length, false);
    if (isProblem(batch)) throw new Error(`Built an invalid marker batch: ${batch.kind}`);
    const baseOffset = this.nextOffset;
    setBaseOffset(bytes, 0, baseOffset);
    batch.baseOffset = baseOffset;
    this.completeTransaction(producerId, baseOffset, type);
    this.producers.recordMarker(producerId, producerEpoch);
    this.nextOffset += 1;
    this.pending.push({ bytes, batches: [batch], endOffset: this.nextOffset });
    this.writing ??= this.drainWrites();
    return { ok: true, baseOffset, endOffset: this.nextOffset, duplicate: false };
  }

  /** Opens a transaction for the producer of a transactional data batch, if none is open. */
  private trackTransaction(batch: BatchHeader): void {
    if ((batch.attributes & TRANSACTIONAL_FLAG) === 0 || batch.producerId < 0) return;
    if (!this.openTransactions.has(batch.producerId)) {
      this.openTransactions.set(batch.producerId, batch.baseOffset);
    }
  }

  /** Closes the producer's open transaction at the marker at `markerOffset`. */
  private completeTransaction(
    producerId: number,
    markerOffset: number,
    type: number | undefined,
  ): void {
    const firstOffset = this.openTransactions.get(producerId);
    // A marker without an open transaction here (a retried completion after a crash, or a
    // partition the producer added but never wrote to) changes nothing.
    if (firstOffset === undefined) return;
    this.openTransactions.delete(producerId);
    this.completing.push({ firstOffset, markerOffset });
    if (type === ControlType.ABORT) {
      this.aborted.push({ producerId, firstOffset, lastOffset: markerOffset });
    }
  }

  /** Aborted transactions overlapping [from, to), as Kafka's `collectAbortedTransactions`. */
  private abortedBetween(from: number, to: number): AbortedTransaction[] {
    return this.aborted.filter((a) => a.lastOffset >= from && a.firstOffset < to);
  }

  private async drainWrites(): Promise<void> {
    try {
      while (this.pending.length > 0 && this.failure === undefined) {
        const chunk = this.pending;
        this.pending = [];
        await this.writeChunk(chunk);
      }
    } catch (error) {
      this.fail(error);
    } finally {
      this.writing = undefined;
    }
  }

  private async writeChunk(chunk: PendingWrite[]): Promise<void> {
    let active = this.segments[this.segments.length - 1]!;
    const total = chunk.reduce((sum, w) => sum + w.bytes.length, 0);
    if (
      active.size > 0 &&
      (active.size + total > this.options.segmentBytes ||
        Date.now() - active.createdAt > this.options.segmentMs)
    ) {
      active = await this.roll();
    }
    // One write for the whole chunk: the produce requests that arrived while the previous
    // write ran share this one.
    const combined = chunk.length === 1
      ? chunk[0]!.bytes
      : concat(chunk.map((w) => w.bytes), total);
    let position = active.size;
    for (const w of chunk) {
      for (const b of w.batches) {
        active.indexBatch(
          b.baseOffset,
          b.baseOffset + b.lastOffsetDelta,
          position + b.position,
          b.maxTimestamp,
        );
      }
      position += w.bytes.length;
    }
    await active.append(combined);
    this.writtenOffset = chunk[chunk.length - 1]!.endOffset;
    resolveUpTo(this.writtenWaiters, this.writtenOffset);
    this.flusher.markDirty(this);
    if (!this.options.durableHighWatermark) this.notify();
  }

  private async roll(): Promise<Segment> {
    const previous = this.segments[this.segments.length - 1]!;
    const next = await Segment.create(this.dir, this.nextOffsetOfWritten());
    await this.syncDirectory();
    this.segments.push(next);
    // The previous segment keeps its writer until the next sync has made it durable.
    this.rolled.push(previous);
    return next;
  }

  private rolled: Segment[] = [];

  private nextOffsetOfWritten(): number {
    return this.segments[this.segments.length - 1]!.nextOffset;
  }

  /** Makes written data durable (called by the flusher); never throws. */
  async sync(): Promise<void> {
    const target = this.writtenOffset;
    try {
      const rolled = this.rolled;
      this.rolled = [];
      for (const segment of rolled) {
        await segment.sync();
        await segment.closeWriter();
      }
      await this.segments[this.segments.length - 1]!.sync();
    } catch (error) {
      this.fail(error);
      return;
    }
    if (target > this.durableOffset) this.durableOffset = target;
    resolveUpTo(this.durableWaiters, this.durableOffset);
    if (this.options.durableHighWatermark) this.notify();
  }

  private syncDirectory(): Promise<void> {
    // A new segment file is durable only once its directory entry is: fsync the directory.
    return syncDirectory(this.dir);
  }

  private fail(error: unknown): void {
    const failure = new StorageError(
      `Storage failed for ${this.topic}-${this.partition}: ${
        error instanceof Error ? error.message : String(error)
      }`,
      { cause: error },
    );
    this.failure ??= failure;
    log.error("{message}", { message: failure.message });
    for (const w of [...this.writtenWaiters, ...this.durableWaiters]) w.reject(failure);
    this.writtenWaiters = [];
    this.durableWaiters = [];
  }

  /**
   * Resolves when a produce ending at `offset` may be acknowledged: acks=-1 waits for the
   * fsync in sync mode (durableHighWatermark) and for the write in interval mode; acks=1
   * waits for the write.
   */
  waitAcknowledgeable(offset: number, acks: number): Promise<void> {
    return acks === -1 && this.options.durableHighWatermark
      ? this.waitDurable(offset)
      : this.waitWritten(offset);
  }

  /** Resolves once everything before `offset` is written to the file. */
  waitWritten(offset: number): Promise<void> {
    return this.waitFor(this.writtenWaiters, this.writtenOffset, offset);
  }

  /** Resolves once everything before `offset` is fsynced. */
  waitDurable(offset: number): Promise<void> {
    return this.waitFor(this.durableWaiters, this.durableOffset, offset);
  }

  private waitFor(waiters: Waiter[], reached: number, offset: number): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (offset <= reached) return Promise.resolve();
    return new Promise((resolve, reject) => waiters.push({ offset, resolve, reject }));
  }

  /** Registers a callback run whenever the high watermark moves; returns its remover. */
  onAdvance(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener();
  }

  /**
   * Reads whole batches starting with the one that holds `offset`, up to `maxBytes`, and
   * never past the high watermark. With `minOneBatch` (the first partition of a fetch that
   * returns data, KIP-74) the first batch is returned even when it is larger; without, a
   * first batch larger than `maxBytes` returns no records.
   */
  async read(
    offset: number,
    maxBytes: number,
    isolationLevel: number = IsolationLevel.READ_UNCOMMITTED,
    minOneBatch = true,
  ): Promise<ReadResult> {
    const highWatermark = this.highWatermark;
    const lastStableOffset = this.lastStableOffset;
    // read_committed reads up to the last stable offset (Kafka's FetchIsolation.TXN_COMMITTED).
    const hw = isolationLevel === IsolationLevel.READ_COMMITTED ? lastStableOffset : highWatermark;
    const result: ReadResult = {
      errorCode: ErrorCode.NONE,
      records: null,
      highWatermark,
      lastStableOffset,
      logStartOffset: this.logStartOffset,
      abortedTransactions: [],
    };
    if (offset < this.logStartOffset || offset > highWatermark) {
      result.errorCode = ErrorCode.OFFSET_OUT_OF_RANGE;
      return result;
    }
    if (offset >= hw) {
      result.records = new Uint8Array(0);
      return result;
    }
    const segment = this.segmentFor(offset);
    if (segment === undefined) {
      result.records = new Uint8Array(0);
      return result;
    }
    const first = segment.findBatch(offset);
    if (first < 0) {
      result.records = new Uint8Array(0);
      return result;
    }
    const start = segment.batchPosition[first]!;
    let last = first;
    const count = segment.batchCount;
    const firstEnd = first + 1 < count ? segment.batchPosition[first + 1]! : segment.size;
    if (!minOneBatch && firstEnd - start > maxBytes) {
      result.records = new Uint8Array(0);
      return result;
    }
    while (last + 1 < count) {
      const next = last + 1;
      if (segment.batchLast[next]! >= hw) break;
      const nextEnd = next + 1 < count ? segment.batchPosition[next + 1]! : segment.size;
      if (nextEnd - start > maxBytes) break;
      last = next;
    }
    if (segment.batchLast[last]! >= hw) {
      result.records = new Uint8Array(0);
      return result;
    }
    const end = last + 1 < count ? segment.batchPosition[last + 1]! : segment.size;
    result.records = await segment.read(start, end - start);
    if (isolationLevel === IsolationLevel.READ_COMMITTED && this.aborted.length > 0) {
      result.abortedTransactions = this.abortedBetween(offset, segment.batchLast[last]! + 1);
    }
    return result;
  }

  private segmentFor(offset: number): Segment | undefined {
    const segments = this.segments;
    let lo = 0;
    let hi = segments.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (segments[mid]!.baseOffset <= offset) lo = mid;
      else hi = mid - 1;
    }
    return segments[lo];
  }

  /**
   * The offset for a ListOffsets timestamp, as Kafka's `UnifiedLog.fetchOffsetByTimestamp`:
   * -2 the log start offset, -1 the high watermark, -3 the first record with the largest
   * timestamp (KIP-734), otherwise the first record at or after `timestamp` (offset -1 when
   * none). Only records from the log start offset to the high watermark count.
   */
  async offsetForTimestamp(timestamp: number): Promise<{ offset: number; timestamp: number }> {
    if (timestamp === -2) return { offset: this.logStartOffset, timestamp: -1 };
    if (timestamp === -1) return { offset: this.highWatermark, timestamp: -1 };
    const hw = this.highWatermark;
    const visible = (s: Segment, i: number) =>
      s.batchLast[i]! >= this.logStartOffset && s.batchLast[i]! < hw;
    if (timestamp === -3) {
      let best: { segment: Segment; index: number } | undefined;
      for (const s of this.segments) {
        for (let i = 0; i < s.batchCount; i++) {
          if (!visible(s, i)) continue;
          if (
            best === undefined ||
            s.batchMaxTimestamp[i]! > best.segment.batchMaxTimestamp[best.index]!
          ) best = { segment: s, index: i };
        }
      }
      if (best === undefined) return { offset: -1, timestamp: -1 };
      const maxTimestamp = best.segment.batchMaxTimestamp[best.index]!;
      return await this.recordAtOrAfter(best.segment, best.index, maxTimestamp);
    }
    for (const s of this.segments) {
      if (s.maxTimestamp < timestamp) continue;
      for (let i = 0; i < s.batchCount; i++) {
        if (visible(s, i) && s.batchMaxTimestamp[i]! >= timestamp) {
          return await this.recordAtOrAfter(s, i, timestamp);
        }
      }
    }
    return { offset: -1, timestamp: -1 };
  }

  /**
   * The first record of batch `index` of `segment` at or past the log start offset whose
   * timestamp is at least `timestamp`. A compressed batch is not opened (the broker keeps
   * batches as produced): its first visible offset and its max timestamp stand for it.
   */
  private async recordAtOrAfter(
    segment: Segment,
    index: number,
    timestamp: number,
  ): Promise<{ offset: number; timestamp: number }> {
    const base = segment.batchBase[index]!;
    const fallback = {
      offset: Math.max(base, this.logStartOffset),
      timestamp: segment.batchMaxTimestamp[index]!,
    };
    const position = segment.batchPosition[index]!;
    const end = index + 1 < segment.batchCount ? segment.batchPosition[index + 1]! : segment.size;
    const bytes = await segment.read(position, end - position);
    const header = parseBatchAt(bytes, 0);
    if (isProblem(header) || (header.attributes & 0x07) !== 0) return fallback;
    const r = new Reader(bytes, BATCH_HEADER_SIZE, header.size);
    try {
      for (let i = 0; i < header.recordCount; i++) {
        const length = r.varint();
        const next = r.pos + length;
        r.int8(); // attributes
        const recordTimestamp = header.baseTimestamp + r.varlong();
        const offset = base + r.varint();
        if (offset >= this.logStartOffset && recordTimestamp >= timestamp) {
          return { offset, timestamp: recordTimestamp };
        }
        r.pos = next;
      }
    } catch {
      return fallback;
    }
    return fallback;
  }

  /**
   * Deletes old segments by size and age (never the active one) when the topic's cleanup
   * policy includes `delete` (a `compact`-only topic keeps them); returns how many.
   */
  async enforceRetention(now = Date.now()): Promise<number> {
    if (!this.options.cleanupDelete) return 0;
    let deleted = 0;
    let size = this.sizeBytes;
    while (this.segments.length > 1) {
      const oldest = this.segments[0]!;
      const bySize = this.options.retentionBytes >= 0 &&
        size - oldest.size >= this.options.retentionBytes;
      const byAge = this.options.retentionMs >= 0 && oldest.maxTimestamp >= 0 &&
        now - oldest.maxTimestamp > this.options.retentionMs;
      if (!bySize && !byAge) break;
      if (this.rolled.includes(oldest)) break; // Not yet synced and closed.
      this.segments.shift();
      size -= oldest.size;
      this.logStartOffset = Math.max(this.logStartOffset, this.segments[0]!.baseOffset);
      await oldest.delete();
      deleted++;
      log.info("Deleted segment {segment} of {topic}-{partition} by retention ({reason})", {
        segment: segmentName(oldest.baseOffset),
        topic: this.topic,
        partition: this.partition,
        reason: bySize ? "size" : "age",
      });
    }
    if (deleted > 0) this.pruneAborted();
    return deleted;
  }

  /**
   * DeleteRecords: moves the log start offset up to `offset` (-1: the high watermark), durably,
   * and deletes the segments wholly below it. Records below it are no longer served; a fetch
   * there gets OFFSET_OUT_OF_RANGE. Returns the new log start offset, or an error code:
   * OFFSET_OUT_OF_RANGE for an offset past the high watermark, as Kafka's
   * `Partition.deleteRecordsOnLeader`.
   */
  async deleteRecordsBefore(
    offset: number,
  ): Promise<{ errorCode: number; lowWatermark: number }> {
    const target = offset === -1 ? this.highWatermark : offset;
    if (target < 0 || target > this.highWatermark) {
      return { errorCode: ErrorCode.OFFSET_OUT_OF_RANGE, lowWatermark: -1 };
    }
    if (target <= this.logStartOffset) {
      return { errorCode: ErrorCode.NONE, lowWatermark: this.logStartOffset };
    }
    await this.writeLogStartCheckpoint(target);
    this.logStartOffset = Math.max(this.logStartOffset, target);
    while (this.segments.length > 1) {
      const oldest = this.segments[0]!;
      if (this.segments[1]!.baseOffset > this.logStartOffset) break;
      if (this.rolled.includes(oldest)) break; // Not yet synced and closed.
      this.segments.shift();
      await oldest.delete();
    }
    this.pruneAborted();
    return { errorCode: ErrorCode.NONE, lowWatermark: this.logStartOffset };
  }

  /** Drops aborted-transaction entries wholly below the log start offset. */
  private pruneAborted(): void {
    if (this.aborted.length > 0) {
      this.aborted = this.aborted.filter((a) => a.lastOffset >= this.logStartOffset);
    }
  }

  /** Waits for pending writes, syncs, and closes every segment. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    while (this.writing !== undefined) await this.writing;
    await this.sync();
    for (const s of this.segments) await s.close();
    for (const s of this.rolled) await s.close();
    this.notify();
  }

  /** Closes and removes the partition's directory (DeleteTopics). */
  async destroy(): Promise<void> {
    await this.close();
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}

function resolveUpTo(waiters: Waiter[], offset: number): void {
  let kept = 0;
  for (const w of waiters) {
    if (w.offset <= offset) w.resolve();
    else waiters[kept++] = w;
  }
  waiters.length = kept;
}

function concat(parts: Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
