/**
 * Durable committed offsets of consumer groups: an append-only file of checksummed records
 * (`_meta/group_offsets.log`: length u32, CRC32C u32, JSON payload), replayed on start (the
 * last record of a group/topic/partition wins; a torn tail is cut off) and compacted when it
 * holds mostly superseded records. A commit is acknowledged after its record is synced
 * through the same group-commit {@linkcode Flusher} as the partition logs.
 *
 * @module
 */
import { join } from "node:path";
import { getLogger } from "@trading/shared/log";
import type { Flusher, Syncable } from "./flusher.ts";
import { writeFileDurably } from "./durable_file.ts";
import { encodeJsonRecord, replayJsonRecords } from "./json_record_file.ts";
import { writeAll } from "./segment.ts";

const log = getLogger(["broker", "storage"]);

/** A committed offset. */
export interface CommittedOffset {
  offset: number;
  leaderEpoch: number;
  metadata: string | null;
  commitTimestamp: number;
}

interface OffsetRecord {
  g: string;
  t: string;
  p: number;
  o: number;
  e: number;
  m: string | null;
  ts: number;
  /** 1: a tombstone, the offset was deleted (DeleteGroups). */
  d?: 1;
}

const FILE_NAME = "group_offsets.log";

/** The broker's store of committed group offsets. */
export class OffsetStore implements Syncable {
  /** group -> "topic\u0000partition" -> offset */
  private readonly groups = new Map<string, Map<string, CommittedOffset>>();
  private file: Deno.FsFile | undefined;
  private writing: Promise<void> = Promise.resolve();
  private written = 0;
  private durable = 0;
  private waiters: { seq: number; resolve: () => void; reject: (e: Error) => void }[] = [];
  private failure: Error | undefined;

  private constructor(
    private readonly path: string,
    private readonly flusher: Flusher,
    private readonly waitForSync: boolean,
  ) {}

  /** Opens the store under `metaDir`, replaying and (if worthwhile) compacting it. */
  static async open(metaDir: string, flusher: Flusher, waitForSync: boolean): Promise<OffsetStore> {
    await Deno.mkdir(metaDir, { recursive: true });
    const store = new OffsetStore(join(metaDir, FILE_NAME), flusher, waitForSync);
    const records = await store.replay();
    let live = 0;
    for (const group of store.groups.values()) live += group.size;
    if (records > 2 * live + 1000) await store.compact();
    store.file = await Deno.open(store.path, { append: true, create: true });
    return store;
  }

  private replay(): Promise<number> {
    return replayJsonRecords<OffsetRecord>(this.path, (r) => this.apply(r), {
      log,
      what: "group offsets",
    });
  }

  private apply(r: OffsetRecord): void {
    if (r.d === 1) {
      const offsets = this.groups.get(r.g);
      offsets?.delete(`${r.t}\u0000${r.p}`);
      if (offsets?.size === 0) this.groups.delete(r.g);
      return;
    }
    let group = this.groups.get(r.g);
    if (group === undefined) {
      group = new Map();
      this.groups.set(r.g, group);
    }
    group.set(`${r.t}\u0000${r.p}`, {
      offset: r.o,
      leaderEpoch: r.e,
      metadata: r.m,
      commitTimestamp: r.ts,
    });
  }

  private async compact(): Promise<void> {
    const parts: Uint8Array[] = [];
    for (const [g, offsets] of this.groups) {
      for (const [key, c] of offsets) {
        const [t, p] = key.split("\u0000") as [string, string];
        parts.push(
          encodeJsonRecord({
            g,
            t,
            p: Number(p),
            o: c.offset,
            e: c.leaderEpoch,
            m: c.metadata,
            ts: c.commitTimestamp,
          }),
        );
      }
    }
    await writeFileDurably(this.path, parts);
    log.info("Compacted group offsets file to {records} records", { records: parts.length });
  }

  /** The committed offset of a group's partition, or undefined. */
  get(group: string, topic: string, partition: number): CommittedOffset | undefined {
    return this.groups.get(group)?.get(`${topic}\u0000${partition}`);
  }

  /** Every committed offset of a group, as [topic, partition, offset]. */
  list(group: string): [string, number, CommittedOffset][] {
    const out: [string, number, CommittedOffset][] = [];
    for (const [key, c] of this.groups.get(group) ?? []) {
      const [t, p] = key.split("\u0000") as [string, string];
      out.push([t, Number(p), c]);
    }
    return out;
  }

  /** Groups that have committed offsets. */
  groupIds(): string[] {
    return [...this.groups.keys()];
  }

  /** Forgets offsets of a deleted topic (records stay until compaction; harmless). */
  forgetTopic(topic: string): void {
    for (const group of this.groups.values()) {
      for (const key of [...group.keys()]) if (key.startsWith(`${topic}\u0000`)) group.delete(key);
    }
  }

  /** Commits offsets; resolves once durable (sync mode) or written (interval mode). */
  commit(
    group: string,
    entries: { topic: string; partition: number; offset: CommittedOffset }[],
  ): Promise<void> {
    return this.append(entries.map(({ topic, partition, offset }) => ({
      g: group,
      t: topic,
      p: partition,
      o: offset.offset,
      e: offset.leaderEpoch,
      m: offset.metadata,
      ts: offset.commitTimestamp,
    })));
  }

  /**
   * Deletes every committed offset of a group (tombstones, durable as commits are); resolves
   * once durable (sync mode) or written (interval mode).
   */
  deleteGroup(group: string): Promise<void> {
    return this.deleteOffsets(
      group,
      this.list(group).map(([topic, partition]) => ({ topic, partition })),
    );
  }

  /** Deletes committed offsets of a group's partitions (those it has); as {@linkcode deleteGroup}. */
  deleteOffsets(group: string, partitions: { topic: string; partition: number }[]): Promise<void> {
    const committed = partitions.filter(({ topic, partition }) =>
      this.get(group, topic, partition) !== undefined
    );
    return this.append(committed.map(({ topic, partition }) => ({
      g: group,
      t: topic,
      p: partition,
      o: -1,
      e: -1,
      m: null,
      ts: 0,
      d: 1 as const,
    })));
  }

  private append(records: OffsetRecord[]): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (records.length === 0) return Promise.resolve();
    const parts = records.map((record) => {
      this.apply(record);
      return encodeJsonRecord(record);
    });
    const seq = ++this.written;
    const bytes = parts.length === 1 ? parts[0]! : concatAll(parts);
    this.writing = this.writing.then(async () => {
      if (this.failure !== undefined || this.file === undefined) return;
      try {
        await writeAll(this.file, bytes);
      } catch (error) {
        this.fail(error);
      }
    });
    if (!this.waitForSync) {
      this.flusher.markDirty(this);
      return this.writing.then(() => {
        if (this.failure !== undefined) throw this.failure;
      });
    }
    return new Promise((resolve, reject) => {
      this.waiters.push({ seq, resolve, reject });
      void this.writing.then(() => this.flusher.markDirty(this));
    });
  }

  /** Syncs what was written (called by the flusher); never throws. */
  async sync(): Promise<void> {
    await this.writing;
    const target = this.written;
    try {
      await this.file?.syncData();
    } catch (error) {
      this.fail(error);
      return;
    }
    this.durable = target;
    const waiting = this.waiters;
    this.waiters = [];
    for (const w of waiting) {
      if (w.seq <= this.durable) w.resolve();
      else this.waiters.push(w);
    }
  }

  private fail(error: unknown): void {
    this.failure ??= new Error(
      `Group offsets storage failed: ${error instanceof Error ? error.message : String(error)}`,
    );
    log.error("{message}", { message: this.failure.message });
    for (const w of this.waiters) w.reject(this.failure);
    this.waiters = [];
  }

  /** Waits for pending writes, syncs and closes the file. */
  async close(): Promise<void> {
    await this.writing;
    await this.sync();
    this.file?.close();
    this.file = undefined;
  }
}

function concatAll(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
