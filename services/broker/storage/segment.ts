/**
 * One segment of a partition's log: `<baseOffset>.log` holding record batches exactly as
 * produced (offsets rewritten), and `<baseOffset>.index` with one 16-byte entry per batch
 * (relative base offset u32, position u32, max timestamp int64). The in-memory index is the
 * authority while running; the index file is rewritten from the log on recovery.
 *
 * @module
 */
import { join } from "node:path";

/** Width of a segment file name's offset, as in Kafka (`00000000000000000042.log`). */
const NAME_DIGITS = 20;
/** Bytes per index entry. */
export const INDEX_ENTRY_SIZE = 16;

/** The file name stem of a segment starting at `baseOffset`. */
export function segmentName(baseOffset: number): string {
  return String(baseOffset).padStart(NAME_DIGITS, "0");
}

/** Serializes concurrent operations on one file handle (seek + read is not atomic). */
class Mutex {
  private tail: Promise<void> = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(fn);
    this.tail = result.then(() => {}, () => {});
    return result;
  }
}

/** A log segment with its batch index. */
export class Segment {
  readonly baseOffset: number;
  readonly logPath: string;
  readonly indexPath: string;
  /** Bytes in the log file that hold complete batches. */
  size = 0;
  /** Base offset of each batch. */
  readonly batchBase: number[] = [];
  /** Last offset of each batch. */
  readonly batchLast: number[] = [];
  /** Byte position of each batch. */
  readonly batchPosition: number[] = [];
  /** Max timestamp of each batch. */
  readonly batchMaxTimestamp: number[] = [];
  /** Largest timestamp in the segment (for retention by age), -1 if empty. */
  maxTimestamp = -1;
  /** When the segment was created or opened (for rolling by age). */
  readonly createdAt: number;
  /** True when written since the last sync. */
  unsynced = false;

  private writer: Deno.FsFile | undefined;
  private indexWriter: Deno.FsFile | undefined;
  private reader: Deno.FsFile | undefined;
  private readonly readLock = new Mutex();
  private pendingIndex: Uint8Array[] = [];

  private constructor(dir: string, baseOffset: number, createdAt: number) {
    this.baseOffset = baseOffset;
    this.logPath = join(dir, `${segmentName(baseOffset)}.log`);
    this.indexPath = join(dir, `${segmentName(baseOffset)}.index`);
    this.createdAt = createdAt;
  }

  /** Creates a new empty segment (files created, not yet synced). */
  static async create(dir: string, baseOffset: number): Promise<Segment> {
    const segment = new Segment(dir, baseOffset, Date.now());
    segment.writer = await Deno.open(segment.logPath, {
      read: true,
      write: true,
      create: true,
      truncate: true,
    });
    segment.indexWriter = await Deno.open(segment.indexPath, {
      write: true,
      create: true,
      truncate: true,
    });
    segment.unsynced = true;
    return segment;
  }

  /** Wraps an existing segment whose batches the caller has scanned (see PartitionLog recovery). */
  static existing(dir: string, baseOffset: number, createdAt: number): Segment {
    return new Segment(dir, baseOffset, createdAt);
  }

  /** True when open for appending. */
  get writable(): boolean {
    return this.writer !== undefined;
  }

  /** Number of batches. */
  get batchCount(): number {
    return this.batchBase.length;
  }

  /** Offset after the last batch, or the base offset when empty. */
  get nextOffset(): number {
    const n = this.batchLast.length;
    return n === 0 ? this.baseOffset : this.batchLast[n - 1]! + 1;
  }

  /** Adds a batch to the in-memory index and queues its index file entry. */
  indexBatch(baseOffset: number, lastOffset: number, position: number, maxTimestamp: number): void {
    this.batchBase.push(baseOffset);
    this.batchLast.push(lastOffset);
    this.batchPosition.push(position);
    this.batchMaxTimestamp.push(maxTimestamp);
    if (maxTimestamp > this.maxTimestamp) this.maxTimestamp = maxTimestamp;
    const entry = new Uint8Array(INDEX_ENTRY_SIZE);
    const view = new DataView(entry.buffer);
    view.setUint32(0, baseOffset - this.baseOffset);
    view.setUint32(4, position);
    view.setBigInt64(8, BigInt(maxTimestamp));
    this.pendingIndex.push(entry);
  }

  /** Opens the files for appending after recovery. */
  async openForAppend(): Promise<void> {
    this.writer = await Deno.open(this.logPath, { read: true, write: true });
    await this.writer.seek(this.size, Deno.SeekMode.Start);
    this.indexWriter = await Deno.open(this.indexPath, {
      write: true,
      create: true,
      truncate: true,
    });
    await this.flushIndex();
  }

  /** Rewrites the index file of a closed segment from the batches indexed during recovery. */
  async writeIndexFile(): Promise<void> {
    this.indexWriter = await Deno.open(this.indexPath, {
      write: true,
      create: true,
      truncate: true,
    });
    await this.flushIndex();
    this.indexWriter.close();
    this.indexWriter = undefined;
  }

  /** Appends bytes at the end of the log file (the caller indexes the batches). */
  async append(bytes: Uint8Array): Promise<void> {
    if (this.writer === undefined) {
      throw new Error(`Segment ${this.logPath} is not open for writing`);
    }
    await writeAll(this.writer, bytes);
    this.size += bytes.length;
    this.unsynced = true;
    await this.flushIndex();
  }

  private async flushIndex(): Promise<void> {
    if (this.pendingIndex.length === 0 || this.indexWriter === undefined) return;
    const entries = this.pendingIndex;
    this.pendingIndex = [];
    const all = new Uint8Array(entries.length * INDEX_ENTRY_SIZE);
    entries.forEach((e, i) => all.set(e, i * INDEX_ENTRY_SIZE));
    await writeAll(this.indexWriter, all);
  }

  /** fdatasync of the log file (the index is rebuilt from the log, so it is not synced). */
  async sync(): Promise<void> {
    if (!this.unsynced || this.writer === undefined) return;
    this.unsynced = false;
    await this.writer.syncData();
  }

  /** Reads `length` bytes at `position` of the log file. */
  read(position: number, length: number): Promise<Uint8Array> {
    return this.readLock.run(async () => {
      this.reader ??= await Deno.open(this.logPath, { read: true });
      await this.reader.seek(position, Deno.SeekMode.Start);
      const out = new Uint8Array(length);
      let filled = 0;
      while (filled < length) {
        const n = await this.reader.read(out.subarray(filled));
        if (n === null) break;
        filled += n;
      }
      return filled === length ? out : out.subarray(0, filled);
    });
  }

  /** Index of the batch holding `offset`, or -1 when the offset is not in this segment. */
  findBatch(offset: number): number {
    let lo = 0;
    let hi = this.batchBase.length - 1;
    if (hi < 0 || offset < this.batchBase[0]! || offset > this.batchLast[hi]!) return -1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.batchBase[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** Index of the first batch whose max timestamp is >= `timestamp`, or -1. */
  findTimestamp(timestamp: number): number {
    for (let i = 0; i < this.batchMaxTimestamp.length; i++) {
      if (this.batchMaxTimestamp[i]! >= timestamp) return i;
    }
    return -1;
  }

  /** Closes the writer (the segment stays readable). */
  async closeWriter(): Promise<void> {
    await this.flushIndex();
    this.writer?.close();
    this.writer = undefined;
    this.indexWriter?.close();
    this.indexWriter = undefined;
  }

  /** Closes every handle. */
  async close(): Promise<void> {
    await this.closeWriter();
    await this.readLock.run(() => {
      this.reader?.close();
      this.reader = undefined;
      return Promise.resolve();
    });
  }

  /** Closes and deletes the segment's files. */
  async delete(): Promise<void> {
    await this.close();
    await Deno.remove(this.logPath).catch(() => {});
    await Deno.remove(this.indexPath).catch(() => {});
  }
}

/** Writes all of `bytes` to `file` (a write may be partial). */
export async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) written += await file.write(bytes.subarray(written));
}
