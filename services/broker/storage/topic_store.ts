/**
 * The broker's topics: one {@linkcode PartitionLog} per partition, in directories named
 * `<topic>-<partition>` under the data dir (Kafka's layout), found again on start.
 *
 * @module
 */
import { join } from "node:path";
import { getLogger } from "@trading/shared/log";
import type { Flusher } from "./flusher.ts";
import { type LogOptions, PartitionLog } from "./partition_log.ts";

const log = getLogger(["broker", "storage"]);

/** Legal topic names, as Kafka's: letters, digits, `.`, `_`, `-`, at most 249. */
const TOPIC_NAME = /^[A-Za-z0-9._-]{1,249}$/;

/** Returns why `name` is not a legal topic name, or undefined when it is. */
export function invalidTopicName(name: string): string | undefined {
  if (!TOPIC_NAME.test(name) || name === "." || name === "..") {
    return `Invalid topic name "${name}": expected 1-249 of letters, digits, '.', '_' or '-'`;
  }
  return undefined;
}

/** Every topic and partition log of the broker. */
export class TopicStore {
  private readonly topics = new Map<string, PartitionLog[]>();
  /** Topics being created, so concurrent CreateTopics for one name agree. */
  private readonly creating = new Map<string, Promise<PartitionLog[]>>();

  private constructor(
    readonly dataDir: string,
    private readonly options: LogOptions,
    private readonly flusher: Flusher,
  ) {}

  /** Opens every partition found under `dataDir`, recovering each log. */
  static async open(dataDir: string, options: LogOptions, flusher: Flusher): Promise<TopicStore> {
    await Deno.mkdir(dataDir, { recursive: true });
    const store = new TopicStore(dataDir, options, flusher);
    const found = new Map<string, number[]>();
    for await (const entry of Deno.readDir(dataDir)) {
      const match = /^(.+)-(\d+)$/.exec(entry.name);
      if (!entry.isDirectory || !match || invalidTopicName(match[1]!) !== undefined) continue;
      const partitions = found.get(match[1]!) ?? [];
      partitions.push(Number(match[2]));
      found.set(match[1]!, partitions);
    }
    for (const [topic, partitions] of found) {
      partitions.sort((a, b) => a - b);
      const count = partitions[partitions.length - 1]! + 1;
      const logs: PartitionLog[] = [];
      for (let p = 0; p < count; p++) {
        logs.push(await PartitionLog.open(dataDir, topic, p, options, flusher));
      }
      store.topics.set(topic, logs);
    }
    if (found.size > 0) {
      log.info("Opened {topics} topics from {dir}", { topics: found.size, dir: dataDir });
    }
    return store;
  }

  /** Topic names, sorted. */
  names(): string[] {
    return [...this.topics.keys()].sort();
  }

  /** The partitions of `topic`, or undefined. */
  partitions(topic: string): readonly PartitionLog[] | undefined {
    return this.topics.get(topic);
  }

  /** One partition log, or undefined. */
  get(topic: string, partition: number): PartitionLog | undefined {
    return this.topics.get(topic)?.[partition];
  }

  /** Every partition log. */
  *all(): Generator<PartitionLog> {
    for (const logs of this.topics.values()) yield* logs;
  }

  /** True when `topic` exists. */
  has(topic: string): boolean {
    return this.topics.has(topic);
  }

  /**
   * Creates `topic` with `partitions` partitions; returns false if it already exists.
   * Throws on an invalid name or count.
   */
  async create(topic: string, partitions: number): Promise<boolean> {
    const invalid = invalidTopicName(topic);
    if (invalid !== undefined) throw new RangeError(invalid);
    if (!Number.isInteger(partitions) || partitions < 1 || partitions > 10_000) {
      throw new RangeError(`Invalid partition count ${partitions}: expected 1-10000`);
    }
    if (this.topics.has(topic)) return false;
    const pending = this.creating.get(topic);
    if (pending !== undefined) {
      await pending;
      return false;
    }
    const creation = (async () => {
      const logs: PartitionLog[] = [];
      for (let p = 0; p < partitions; p++) {
        logs.push(await PartitionLog.open(this.dataDir, topic, p, this.options, this.flusher));
      }
      return logs;
    })();
    this.creating.set(topic, creation);
    try {
      this.topics.set(topic, await creation);
    } finally {
      this.creating.delete(topic);
    }
    log.info("Created topic {topic} with {partitions} partitions", { topic, partitions });
    return true;
  }

  /** Deletes `topic` and its data; returns false if it did not exist. */
  async delete(topic: string): Promise<boolean> {
    const logs = this.topics.get(topic);
    if (logs === undefined) return false;
    this.topics.delete(topic);
    for (const plog of logs) await plog.destroy();
    log.info("Deleted topic {topic}", { topic });
    return true;
  }

  /** Applies retention to every partition; returns the number of segments deleted. */
  async enforceRetention(now = Date.now()): Promise<number> {
    let deleted = 0;
    for (const plog of this.all()) deleted += await plog.enforceRetention(now);
    return deleted;
  }

  /** Closes every partition (pending writes finish and are synced). */
  async close(): Promise<void> {
    await Promise.all([...this.all()].map((plog) => plog.close()));
  }

  /** Path of the broker's own metadata directory (group offsets, producer ids). */
  metaDir(): string {
    return join(this.dataDir, "_meta");
  }
}
