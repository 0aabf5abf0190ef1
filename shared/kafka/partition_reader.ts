/**
 * Reads chosen partitions of a topic between offsets, without a consumer group.
 *
 * kafkajs has no public `assign()`: its consumer always joins a group, which costs a
 * rebalance and leaves a group behind for every short read. The verifier, the
 * market-ingestor's sequence recovery and the executor's outbox reconciliation all need
 * "read partition P from offset A to the high watermark" (or "the offset at time T"), so this
 * module drives kafkajs's own cluster object (the one its consumer uses, created by the
 * client from {@linkcode createKafka}'s settings) and issues Fetch and ListOffsets itself.
 * The internals are pinned by the lock file; they are reached in this one file only.
 *
 * @module
 */
import type { Kafka } from "kafkajs";

/** One record read from a partition. */
export interface PartitionRecord {
  topic: string;
  partition: number;
  offset: number;
  /** Record timestamp, epoch ms (create time as set by the producer). */
  timestamp: number;
  key: Uint8Array | null;
  value: Uint8Array | null;
  headers: Record<string, string>;
}

/** Options of {@linkcode PartitionReader.fetch}. */
export interface FetchOptions {
  /** Upper bound of the response size (a first record batch larger than this still comes). */
  maxBytes?: number;
  /** How long the broker may wait for data before answering with none. Default 100. */
  maxWaitMs?: number;
}

/** Low and high watermark of one partition (`high` is the next offset to be written). */
export interface PartitionOffsets {
  partition: number;
  low: number;
  high: number;
}

// The untyped kafkajs internals this module relies on (kafkajs 2.2.4, src/cluster, src/broker).
interface KafkaJsRecord {
  offset: string;
  timestamp: string;
  key: Uint8Array | null;
  value: Uint8Array | null;
  headers?: Record<
    string,
    Uint8Array | string | null | Array<Uint8Array | string | null> | undefined
  >;
  isControlRecord?: boolean;
  batchContext?: { producerId: string; inTransaction: boolean };
}
interface KafkaJsBroker {
  fetch(request: {
    replicaId?: number;
    isolationLevel?: number;
    maxWaitTime: number;
    minBytes: number;
    maxBytes: number;
    topics: Array<
      {
        topic: string;
        partitions: Array<{ partition: number; fetchOffset: string; maxBytes: number }>;
      }
    >;
  }): Promise<{
    responses: Array<{
      topicName: string;
      partitions: Array<{
        partition: number;
        highWatermark: string;
        lastStableOffset?: string;
        abortedTransactions?: Array<{ producerId: string; firstOffset: string }> | null;
        messages: KafkaJsRecord[];
      }>;
    }>;
  }>;
}
interface KafkaJsCluster {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  addTargetTopic(topic: string): Promise<void>;
  refreshMetadata(): Promise<void>;
  findTopicPartitionMetadata(topic: string): Array<{ partitionId: number; leader: number }>;
  findLeaderForPartitions(topic: string, partitions: number[]): Record<string, number[]>;
  findBroker(query: { nodeId: string }): Promise<KafkaJsBroker>;
  fetchTopicsOffset(
    topics: Array<{
      topic: string;
      partitions: Array<{ partition: number }>;
      fromBeginning?: boolean;
      fromTimestamp?: number;
    }>,
  ): Promise<Array<{ topic: string; partitions: Array<{ partition: number; offset: string }> }>>;
}
type CreateCluster = (options: {
  metadataMaxAge?: number;
  allowAutoTopicCreation?: boolean;
  maxInFlightRequests?: number | null;
  isolationLevel?: number;
}) => KafkaJsCluster;

/** What {@linkcode PartitionReader.fetchMany} returns. */
export interface FetchManyResult {
  records: PartitionRecord[];
  highWatermarks: Map<number, number>;
  lastStableOffsets: Map<number, number>;
  nextOffsets: Map<number, number>;
}

/** kafkajs error types and names that mean the cached metadata (leaders, brokers) is stale. */
const STALE_METADATA = new Set([
  "NOT_LEADER_FOR_PARTITION",
  "LEADER_NOT_AVAILABLE",
  "UNKNOWN_TOPIC_OR_PARTITION",
  "FENCED_LEADER_EPOCH",
  "UNKNOWN_LEADER_EPOCH",
  "NOT_COORDINATOR",
  "KafkaJSBrokerNotFound",
  "KafkaJSConnectionError",
  "KafkaJSConnectionClosedError",
]);

/** Thrown by {@linkcode PartitionReader.requireTopics} for a topic the cluster does not have. */
export class MissingTopicError extends Error {
  constructor(readonly topic: string) {
    super(`Missing topic ${topic}: expected the pipeline's topics to exist (deno task topics)`);
    this.name = "MissingTopicError";
  }
}

/** kafkajs's READ_COMMITTED isolation level (src/protocol/isolationLevel.js). */
const READ_COMMITTED = 1;

function clusterFactory(kafka: Kafka): CreateCluster {
  const symbol = Object.getOwnPropertySymbols(kafka).find((s) =>
    s.description === "private:Kafka:createCluster"
  );
  const factory = symbol && (kafka as unknown as Record<symbol, unknown>)[symbol];
  if (typeof factory !== "function") {
    throw new Error("Unsupported kafkajs version: expected 2.2.x with a private createCluster");
  }
  return factory as CreateCluster;
}

const decoder = new TextDecoder();

/** A control record's key is (version int16, type int16); type 0 is ABORT. */
function isAbortMarker(key: Uint8Array | null): boolean {
  return key !== null && key.length >= 4 && key[2] === 0 && key[3] === 0;
}

/**
 * The first value of every header, as text. Whatever another client wrote must not fail the
 * read (a header with a null value, kafkajs' `null`, used to): a null value reads as "".
 */
function toHeaders(raw: KafkaJsRecord["headers"]): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(raw ?? {})) {
    const first = Array.isArray(value) ? value[0] : value;
    if (first === undefined) continue;
    headers[name] = first === null ? "" : typeof first === "string" ? first : decoder.decode(first);
  }
  return headers;
}

/**
 * A group-less reader of partitions. Create it with {@linkcode PartitionReader.connect},
 * close it when done.
 */
export class PartitionReader {
  #cluster: KafkaJsCluster;
  #topics = new Set<string>();

  private constructor(cluster: KafkaJsCluster) {
    this.#cluster = cluster;
  }

  /** Connects a reader using the client's brokers and settings. */
  static async connect(kafka: Kafka): Promise<PartitionReader> {
    const cluster = clusterFactory(kafka)({
      allowAutoTopicCreation: false,
      isolationLevel: READ_COMMITTED,
      metadataMaxAge: 60_000,
    });
    await cluster.connect();
    return new PartitionReader(cluster);
  }

  async #target(topic: string): Promise<void> {
    if (this.#topics.has(topic)) return;
    await this.#cluster.addTargetTopic(topic);
    this.#topics.add(topic);
  }

  /** Returns the partition ids of `topic` (empty when the topic does not exist). */
  async partitions(topic: string): Promise<number[]> {
    await this.#target(topic);
    return this.#cluster.findTopicPartitionMetadata(topic).map((p) => p.partitionId).sort((
      a,
      b,
    ) => a - b);
  }

  /**
   * Returns the partition count of each of `topics`, or throws a {@linkcode MissingTopicError}
   * naming the first that does not exist. Services check their topics with it at start-up
   * instead of relying on a broker to create them (Kafka's auto.create.topics.enable can be
   * off, and Produce never creates a topic), and never mistake a topic they cannot see yet for
   * an empty one.
   */
  async requireTopics(topics: readonly string[]): Promise<Map<string, number>> {
    const counts = new Map<string, number>();
    for (const topic of topics) {
      let count: number;
      try {
        count = (await this.partitions(topic)).length;
      } catch (error) {
        // kafkajs refuses to target a topic the Metadata answer does not have.
        if ((error as { type?: unknown }).type !== "UNKNOWN_TOPIC_OR_PARTITION") throw error;
        count = 0;
      }
      if (count === 0) throw new MissingTopicError(topic);
      counts.set(topic, count);
    }
    return counts;
  }

  /** Returns the low and high watermark of every partition of `topic`. */
  async offsets(topic: string): Promise<PartitionOffsets[]> {
    const partitions = await this.partitions(topic);
    if (partitions.length === 0) return [];
    const query = (fromBeginning: boolean) =>
      this.#leaderRetry(() =>
        this.#cluster.fetchTopicsOffset([{
          topic,
          partitions: partitions.map((partition) => ({ partition })),
          fromBeginning,
        }])
      );
    const [low, high] = await Promise.all([query(true), query(false)]);
    const lowOf = new Map(low[0]?.partitions.map((p) => [p.partition, Number(p.offset)]));
    return (high[0]?.partitions ?? []).map((p) => ({
      partition: p.partition,
      low: lowOf.get(p.partition) ?? 0,
      high: Number(p.offset),
    })).sort((a, b) => a.partition - b.partition);
  }

  /** Returns the high watermark of one partition (the offset the next record will get). */
  async highWatermark(topic: string, partition: number): Promise<number> {
    await this.#target(topic);
    const result = await this.#leaderRetry(() =>
      this.#cluster.fetchTopicsOffset([{
        topic,
        partitions: [{ partition }],
        fromBeginning: false,
      }])
    );
    const offset = result[0]?.partitions.find((p) => p.partition === partition)?.offset;
    if (offset === undefined) {
      throw new Error(`Unknown partition ${topic}/${partition}: expected an existing partition`);
    }
    return Number(offset);
  }

  /**
   * Returns the first offset of `partition` whose record timestamp is at or after
   * `timestampMs` (ListOffsets by time), or the high watermark when there is none.
   */
  async offsetForTimestamp(topic: string, partition: number, timestampMs: number): Promise<number> {
    await this.#target(topic);
    const result = await this.#leaderRetry(() =>
      this.#cluster.fetchTopicsOffset([{
        topic,
        partitions: [{ partition }],
        fromTimestamp: Math.max(0, Math.floor(timestampMs)),
      }])
    );
    const offset = Number(result[0]?.partitions[0]?.offset ?? -1);
    if (offset >= 0) return offset;
    // Kafka answers -1 when no record is that recent: everything is older, start at the end.
    const all = await this.offsets(topic);
    return all.find((p) => p.partition === partition)?.high ?? 0;
  }

  /**
   * Fetches records of one partition starting at `fromOffset` (one Fetch round trip, up to
   * about `maxBytes`). Returns them in offset order, possibly none, the end of what this
   * read_committed reader can read (`highWatermark`: the last stable offset) and the offset
   * to fetch next;
   * `maxWaitMs` is how long the broker may hold the request waiting for data.
   */
  async fetch(
    topic: string,
    partition: number,
    fromOffset: number,
    options: FetchOptions = {},
  ): Promise<{ records: PartitionRecord[]; highWatermark: number; nextOffset: number }> {
    const result = await this.fetchMany(topic, new Map([[partition, fromOffset]]), options);
    return {
      records: result.records,
      highWatermark: result.lastStableOffsets.get(partition) ?? fromOffset,
      nextOffset: result.nextOffsets.get(partition) ?? fromOffset,
    };
  }

  /**
   * Fetches records of several partitions of `topic`, each from its own offset, in one Fetch
   * per leader (one long poll for all of them). Returns the records (in offset order within a
   * partition), each partition's high watermark, its last stable offset (the end of what a
   * read_committed reader can read: the first offset of an open transaction, else the high
   * watermark) and the offset to fetch next (past transaction markers and records of aborted
   * transactions, which are dropped as Kafka's consumer drops them).
   */
  fetchMany(
    topic: string,
    positions: ReadonlyMap<number, number>,
    options: FetchOptions = {},
  ): Promise<FetchManyResult> {
    return this.#leaderRetry(() => this.#fetchMany(topic, positions, options));
  }

  /**
   * Runs `op`; when it fails because the cached metadata is stale (a partition's leader
   * moved, a broker went away), refreshes the metadata and runs it once more. Without it a
   * reader kept asking the old leader forever on a multi-broker cluster.
   */
  async #leaderRetry<T>(op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (error) {
      const { type, name } = error as { type?: string; name?: string };
      if (!STALE_METADATA.has(type ?? "") && !STALE_METADATA.has(name ?? "")) throw error;
      await this.#cluster.refreshMetadata();
      return await op();
    }
  }

  async #fetchMany(
    topic: string,
    positions: ReadonlyMap<number, number>,
    { maxBytes = 4 * 1024 * 1024, maxWaitMs = 100 }: FetchOptions,
  ): Promise<FetchManyResult> {
    await this.#target(topic);
    const leaders = this.#cluster.findLeaderForPartitions(topic, [...positions.keys()]);
    const found = Object.values(leaders).flat();
    const missing = [...positions.keys()].find((p) => !found.includes(p));
    if (missing !== undefined) {
      await this.#cluster.refreshMetadata();
      throw new Error(`Unknown partition ${topic}/${missing}: expected an existing partition`);
    }
    const records: PartitionRecord[] = [];
    const highWatermarks = new Map<number, number>();
    const lastStableOffsets = new Map<number, number>();
    const nextOffsets = new Map<number, number>();
    await Promise.all(
      Object.entries(leaders).map(async ([nodeId, partitions]) => {
        const broker = await this.#cluster.findBroker({ nodeId });
        const response = await broker.fetch({
          replicaId: -1,
          isolationLevel: READ_COMMITTED,
          maxWaitTime: maxWaitMs,
          minBytes: 1,
          maxBytes,
          topics: [{
            topic,
            partitions: partitions.map((partition) => ({
              partition,
              fetchOffset: String(positions.get(partition)!),
              maxBytes,
            })),
          }],
        });
        for (
          const data of response.responses.find((r) => r.topicName === topic)?.partitions ?? []
        ) {
          const fromOffset = positions.get(data.partition);
          if (fromOffset === undefined) continue;
          highWatermarks.set(data.partition, Number(data.highWatermark));
          const lastStable = Number(data.lastStableOffset ?? -1);
          lastStableOffsets.set(
            data.partition,
            lastStable >= 0 ? lastStable : Number(data.highWatermark),
          );
          let next = fromOffset;
          // Kafka's consumer: a producer is aborting from the first offset of its aborted
          // transaction until its ABORT marker; its transactional records in between are
          // dropped.
          const aborted = [...(data.abortedTransactions ?? [])]
            .map((a) => ({ producerId: a.producerId, firstOffset: Number(a.firstOffset) }))
            .sort((a, b) => a.firstOffset - b.firstOffset);
          const aborting = new Set<string>();
          for (const message of data.messages) {
            const offset = Number(message.offset);
            while (aborted.length > 0 && aborted[0]!.firstOffset <= offset) {
              aborting.add(aborted.shift()!.producerId);
            }
            const producerId = message.batchContext?.producerId;
            if (message.isControlRecord) {
              if (producerId !== undefined && isAbortMarker(message.key)) {
                aborting.delete(producerId);
              }
            }
            // A fetch returns whole record batches, which may start before the asked offset.
            if (offset < fromOffset) continue;
            next = Math.max(next, offset + 1);
            if (message.isControlRecord) continue;
            if (
              message.batchContext?.inTransaction && producerId !== undefined &&
              aborting.has(producerId)
            ) continue;
            records.push({
              topic,
              partition: data.partition,
              offset,
              timestamp: Number(message.timestamp),
              key: message.key,
              value: message.value,
              headers: toHeaders(message.headers),
            });
          }
          nextOffsets.set(data.partition, next);
        }
      }),
    );
    return { records, highWatermarks, lastStableOffsets, nextOffsets };
  }

  /**
   * Reads every record of `partition` in [`fromOffset`, `toOffset`) and passes them to
   * `onRecord` in order. Stops early when `signal` is aborted.
   */
  async readRange(
    topic: string,
    partition: number,
    fromOffset: number,
    toOffset: number,
    onRecord: (record: PartitionRecord) => void,
    signal?: AbortSignal,
  ): Promise<void> {
    let next = fromOffset;
    while (next < toOffset) {
      signal?.throwIfAborted();
      const { records, highWatermark, nextOffset } = await this.fetch(topic, partition, next);
      if (records.length === 0) {
        // Only markers or aborted records: go past them. Nothing at `next`: either
        // compacted/deleted (jump) or not readable yet (stop at the last stable offset).
        if (nextOffset > next) next = nextOffset;
        else if (highWatermark <= next) return;
        else next++;
        continue;
      }
      for (const record of records) {
        if (record.offset >= toOffset) return;
        onRecord(record);
        next = record.offset + 1;
      }
    }
  }

  /** Disconnects from the brokers. */
  async close(): Promise<void> {
    await this.#cluster.disconnect();
  }
}
