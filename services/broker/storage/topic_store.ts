/**
 * The broker's topics: one {@linkcode PartitionLog} per partition, in directories named
 * `<topic>-<partition>` under the data dir (Kafka's layout), found again on start, each
 * topic's id (KIP-516, in every partition's `partition.metadata`, see topic_id.ts), and each
 * topic's config overrides ({@linkcode TopicConfigStore}), which its partitions act on.
 *
 * @module
 */
import { join } from "node:path";
import { getLogger } from "@trading/shared/log";
import { syncDirectory } from "./durable_file.ts";
import type { Flusher } from "./flusher.ts";
import { type LogOptions, PartitionLog } from "./partition_log.ts";
import {
  effectiveTopicConfig,
  type TopicConfigOverrides,
  TopicConfigStore,
} from "./topic_config.ts";
import { newTopicId, readTopicId, topicIdToString, writeTopicId } from "./topic_id.ts";

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

/** The broker-wide log settings: the defaults of every topic's configs. */
export interface BrokerLogDefaults {
  segmentBytes: number;
  segmentMs: number;
  retentionBytes: number;
  retentionMs: number;
  /** Largest record batch a produce may carry (Kafka's message.max.bytes). */
  maxMessageBytes: number;
  durableHighWatermark: boolean;
}

/** How many partitions the broker may hold (each keeps two or three files open). */
export interface PartitionLimits {
  /** Partitions of one topic at most (`BROKER_MAX_PARTITIONS_PER_TOPIC`). */
  maxPartitionsPerTopic: number;
  /** Partitions of every topic together at most (`BROKER_MAX_PARTITIONS`). */
  maxPartitions: number;
}

/** A topic creation or growth that would exceed a {@linkcode PartitionLimits} limit. */
export class PartitionLimitError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PartitionLimitError";
  }
}

/** Every topic and partition log of the broker. */
export class TopicStore {
  private readonly topics = new Map<string, PartitionLog[]>();
  /** Each topic's id, and the topic of each id (by its text form). */
  private readonly ids = new Map<string, Uint8Array>();
  private readonly topicsById = new Map<string, string>();
  /** The options object of each topic, shared by its partitions and updated in place. */
  private readonly topicOptions = new Map<string, LogOptions>();
  /** Topics being created, so concurrent CreateTopics for one name agree. */
  private readonly creating = new Map<string, Promise<PartitionLog[]>>();
  /** Partitions being created or added, counted against the limits before they exist. */
  private reserved = 0;
  /** The broker's static values of the topic configs, by topic config name (Kafka's synonyms). */
  readonly staticBrokerConfigs: Readonly<Record<string, string>>;
  /** The dynamic broker configs' values of the topic configs (AlterConfigs on the broker). */
  private dynamicBrokerConfigs: Readonly<Record<string, string>> = {};

  private constructor(
    readonly dataDir: string,
    private readonly defaults: BrokerLogDefaults,
    private readonly flusher: Flusher,
    private readonly configs: TopicConfigStore,
    private readonly limits: PartitionLimits,
  ) {
    this.staticBrokerConfigs = {
      "retention.ms": String(defaults.retentionMs),
      "retention.bytes": String(defaults.retentionBytes),
      "segment.bytes": String(defaults.segmentBytes),
      "segment.ms": String(defaults.segmentMs),
      "max.message.bytes": String(defaults.maxMessageBytes),
    };
  }

  /** Opens every partition found under `dataDir`, recovering each log. */
  static async open(
    dataDir: string,
    defaults: BrokerLogDefaults,
    flusher: Flusher,
    limits: PartitionLimits = { maxPartitionsPerTopic: 10_000, maxPartitions: 100_000 },
  ): Promise<TopicStore> {
    await Deno.mkdir(dataDir, { recursive: true });
    const configs = await TopicConfigStore.open(join(dataDir, "_meta"));
    const store = new TopicStore(dataDir, defaults, flusher, configs, limits);
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
      const options = store.optionsOf(topic);
      const logs: PartitionLog[] = [];
      for (let p = 0; p < count; p++) {
        logs.push(await PartitionLog.open(dataDir, topic, p, options, flusher));
      }
      await store.recoverTopicId(topic, logs);
      store.topics.set(topic, logs);
    }
    // Overrides of a topic whose directories are gone (a crash inside DeleteTopics, or
    // between saving the configs of a new topic and creating it) must not outlive it.
    for (const topic of configs.topics()) if (!found.has(topic)) await configs.delete(topic);
    if (found.size > 0) {
      log.info("Opened {topics} topics from {dir}", { topics: found.size, dir: dataDir });
    }
    // Topics made under higher limits are kept and served; they only cannot grow.
    const total = store.partitionCount();
    if (total > limits.maxPartitions) {
      log.warn("The data dir holds {total} partitions, more than BROKER_MAX_PARTITIONS ({max})", {
        total,
        max: limits.maxPartitions,
      });
    }
    return store;
  }

  /**
   * Finds `topic`'s id in its partitions' `partition.metadata` and writes it into those that
   * lack it (a crash while creating the topic or its partitions, or a data dir from before
   * topic ids); a topic none of whose partitions has one gets a new id.
   */
  private async recoverTopicId(topic: string, logs: readonly PartitionLog[]): Promise<void> {
    const found = await Promise.all(logs.map((plog) => readTopicId(plog.dir)));
    const id = found.find((f) => f !== undefined) ?? newTopicId();
    const text = topicIdToString(id);
    for (const [i, plog] of logs.entries()) {
      const own = found[i];
      if (own !== undefined && topicIdToString(own) !== text) {
        log.warn("Partition {dir} has topic id {own}, not the topic's {id}: rewritten", {
          dir: plog.dir,
          own: topicIdToString(own),
          id: text,
        });
      }
      if (own === undefined || topicIdToString(own) !== text) await writeTopicId(plog.dir, id);
    }
    this.setTopicId(topic, id);
  }

  private setTopicId(topic: string, id: Uint8Array): void {
    this.ids.set(topic, id);
    this.topicsById.set(topicIdToString(id), topic);
  }

  /** `topic`'s id (KIP-516), or undefined for a topic that does not exist. */
  topicId(topic: string): Uint8Array | undefined {
    return this.topics.has(topic) ? this.ids.get(topic) : undefined;
  }

  /** The broker's values of the topic configs: dynamic ones over the static ones. */
  get brokerConfigs(): Readonly<Record<string, string>> {
    return { ...this.staticBrokerConfigs, ...this.dynamicBrokerConfigs };
  }

  /**
   * Sets the topic config defaults that dynamic broker configs give (by topic config name) and
   * applies them at once to every topic that does not override them, as Kafka's
   * `DynamicLogConfig` reconfigures its logs.
   */
  setDynamicBrokerConfigs(values: Readonly<Record<string, string>>): void {
    this.dynamicBrokerConfigs = { ...values };
    const brokerValues = this.brokerConfigs;
    for (const [topic, options] of this.topicOptions) {
      Object.assign(options, effectiveTopicConfig(this.configs.get(topic), brokerValues));
    }
  }

  /** The name of the existing topic with id `id`, or undefined. */
  topicNameOf(id: Uint8Array): string | undefined {
    const topic = this.topicsById.get(topicIdToString(id));
    return topic !== undefined && this.topics.has(topic) ? topic : undefined;
  }

  /** The options object of `topic`, built from its overrides on first use. */
  private optionsOf(topic: string): LogOptions {
    let options = this.topicOptions.get(topic);
    if (options === undefined) {
      options = {
        durableHighWatermark: this.defaults.durableHighWatermark,
        ...effectiveTopicConfig(this.configs.get(topic), this.brokerConfigs),
      };
      this.topicOptions.set(topic, options);
    }
    return options;
  }

  /** The config overrides of `topic` (empty when none). */
  configOverrides(topic: string): TopicConfigOverrides {
    return this.configs.get(topic);
  }

  /** What `topic`'s partitions act on now. */
  effectiveConfig(topic: string): Readonly<LogOptions> {
    return this.optionsOf(topic);
  }

  /**
   * Replaces the config overrides of an existing topic (validated by the caller), durably,
   * and applies them to its partitions at once.
   */
  async setConfigOverrides(topic: string, overrides: TopicConfigOverrides): Promise<void> {
    await this.configs.set(topic, overrides);
    Object.assign(this.optionsOf(topic), effectiveTopicConfig(overrides, this.brokerConfigs));
  }

  /** Partitions of every topic, those being created included. */
  partitionCount(): number {
    let total = this.reserved;
    for (const logs of this.topics.values()) total += logs.length;
    return total;
  }

  /**
   * Why `topic` may not have `count` partitions under the broker's limits, or undefined when
   * it may (for a new topic or one that grows; the caller checked `count` is at least 1).
   */
  partitionLimitExceeded(topic: string, count: number): string | undefined {
    const { maxPartitionsPerTopic, maxPartitions } = this.limits;
    if (count > maxPartitionsPerTopic) {
      return `Topic "${topic}" would have ${count} partitions, more than ${maxPartitionsPerTopic} (BROKER_MAX_PARTITIONS_PER_TOPIC)`;
    }
    const total = this.partitionCount() - (this.topics.get(topic)?.length ?? 0) + count;
    if (total > maxPartitions) {
      return `The broker would have ${total} partitions, more than ${maxPartitions} (BROKER_MAX_PARTITIONS)`;
    }
    return undefined;
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
   * Creates `topic` with `partitions` partitions and config `overrides` (validated by the
   * caller); returns false if it already exists. Throws on an invalid name or count, and
   * {@linkcode PartitionLimitError} beyond the partition limits.
   */
  async create(
    topic: string,
    partitions: number,
    overrides: TopicConfigOverrides = {},
  ): Promise<boolean> {
    const invalid = invalidTopicName(topic);
    if (invalid !== undefined) throw new RangeError(invalid);
    if (!Number.isInteger(partitions) || partitions < 1) {
      throw new RangeError(`Invalid partition count ${partitions}: expected at least 1`);
    }
    if (this.topics.has(topic)) return false;
    const pending = this.creating.get(topic);
    if (pending !== undefined) {
      await pending;
      return false;
    }
    const exceeded = this.partitionLimitExceeded(topic, partitions);
    if (exceeded !== undefined) throw new PartitionLimitError(exceeded);
    // Reserved at once, so that concurrent creations cannot pass the check together.
    this.reserved += partitions;
    const creation = (async () => {
      if (Object.keys(overrides).length > 0) await this.configs.set(topic, overrides);
      this.topicOptions.delete(topic);
      const options = this.optionsOf(topic);
      const logs: PartitionLog[] = [];
      const id = newTopicId();
      for (let p = 0; p < partitions; p++) {
        const plog = await PartitionLog.open(this.dataDir, topic, p, options, this.flusher);
        await writeTopicId(plog.dir, id);
        logs.push(plog);
      }
      // The partition directories are durable once the data dir's entries are.
      await syncDirectory(this.dataDir);
      this.setTopicId(topic, id);
      return logs;
    })();
    this.creating.set(topic, creation);
    try {
      this.topics.set(topic, await creation);
    } finally {
      this.creating.delete(topic);
      this.reserved -= partitions;
    }
    log.info("Created topic {topic} with {partitions} partitions", { topic, partitions });
    return true;
  }

  /**
   * Grows `topic` to `count` partitions (CreatePartitions); the caller checked that the topic
   * exists and has fewer. New partitions start empty at offset 0. Throws
   * {@linkcode PartitionLimitError} beyond the partition limits.
   */
  async addPartitions(topic: string, count: number): Promise<void> {
    const logs = this.topics.get(topic);
    if (logs === undefined) throw new RangeError(`Unknown topic "${topic}"`);
    const exceeded = this.partitionLimitExceeded(topic, count);
    if (exceeded !== undefined) throw new PartitionLimitError(exceeded);
    const reserved = count - logs.length;
    this.reserved += reserved;
    const options = this.optionsOf(topic);
    const added: PartitionLog[] = [];
    const id = this.ids.get(topic)!;
    try {
      for (let p = logs.length; p < count; p++) {
        const plog = await PartitionLog.open(this.dataDir, topic, p, options, this.flusher);
        await writeTopicId(plog.dir, id);
        added.push(plog);
      }
      await syncDirectory(this.dataDir);
      // Published at once, so that no reader sees a partition count between the two.
      logs.push(...added);
    } finally {
      this.reserved -= reserved;
    }
    log.info("Topic {topic} now has {partitions} partitions", { topic, partitions: count });
  }

  /** Deletes `topic` and its data; returns false if it did not exist. */
  async delete(topic: string): Promise<boolean> {
    const logs = this.topics.get(topic);
    if (logs === undefined) return false;
    this.topics.delete(topic);
    this.topicOptions.delete(topic);
    const id = this.ids.get(topic);
    this.ids.delete(topic);
    if (id !== undefined) this.topicsById.delete(topicIdToString(id));
    for (const plog of logs) await plog.destroy();
    await this.configs.delete(topic);
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
