/**
 * The embedded broker: a single-node Kafka-protocol server over TCP with a durable log.
 * {@linkcode startBroker} is the one way to run it, from the `broker` role and from tests
 * and other suites that need a real broker in-process.
 *
 * @module
 */
import { join } from "node:path";
import type { Registry } from "prom-client";
import { getLogger } from "@trading/shared/log";
import { errorMessage } from "@trading/shared/retry";
import { ClientConnection } from "./connection.ts";
import { GroupCoordinator } from "./groups/group_coordinator.ts";
import type { BrokerState } from "./handlers/context.ts";
import { BrokerMetrics } from "./metrics.ts";
import { BrokerConfigStore } from "./storage/broker_config.ts";
import { Flusher } from "./storage/flusher.ts";
import { OffsetStore } from "./storage/offset_store.ts";
import { removeStagingFiles, syncDirectory, writeFileDurably } from "./storage/durable_file.ts";
import { ProducerIdAllocator } from "./storage/producer_ids.ts";
import { TopicStore } from "./storage/topic_store.ts";
import { BROKER_DEFAULTS as D } from "./defaults.ts";
import { TransactionCoordinator } from "./transactions/transaction_coordinator.ts";

const log = getLogger(["broker"]);

/** How the broker makes produced data durable before acknowledging acks=-1. */
export type FlushMode = "sync" | "interval";

/** Options of {@linkcode startBroker}; everything but `dataDir` has a default. */
export interface BrokerOptions {
  /** Directory of the log segments and group offsets. */
  dataDir: string;
  /** Address to listen on. Default 127.0.0.1. */
  host?: string;
  /** TCP port; 0 picks a free one (see {@linkcode Broker.port}). Default 9092. */
  port?: number;
  /** Host clients are told to connect to (Metadata, FindCoordinator). Default: `host`, or 127.0.0.1 for a wildcard host. */
  advertisedHost?: string;
  /** Broker id in Metadata. Default 1. */
  nodeId?: number;
  /**
   * `sync` (default): acks=-1 is answered after an fdatasync covering the request (group
   * commit), and consumers only see synced data. `interval`: acks=-1 is answered after the
   * write; data is synced every `flushIntervalMs`.
   */
  flush?: FlushMode;
  /** Sync period of the interval mode. Default 1000. */
  flushIntervalMs?: number;
  /** Segment size that triggers a roll. Default 64 MiB. */
  segmentBytes?: number;
  /** Segment age that triggers a roll. Default 7 days. */
  segmentMs?: number;
  /** Per-partition size limit; -1 unlimited (default). */
  retentionBytes?: number;
  /** Age limit of segments; -1 unlimited. Default 7 days. */
  retentionMs?: number;
  /** How often retention runs. Default 60000. */
  retentionCheckIntervalMs?: number;
  /** Largest request frame; a bigger one closes the connection. Default 100 MiB. */
  maxFrameBytes?: number;
  /** A connection with no request in flight and no traffic for this long is closed. Default 600000 (Kafka's connections.max.idle.ms). */
  connectionsMaxIdleMs?: number;
  /**
   * A request frame must arrive whole within this many ms of its first byte, or the
   * connection is closed. Default 30000: clients give up on a request after their own
   * request.timeout.ms (30000 in the Java client, kafkajs and librdkafka) anyway.
   */
  requestReadTimeoutMs?: number;
  /** Open client connections; one more is closed at once, with a log line. Default 1000. */
  maxConnections?: number;
  /** Largest record batch accepted by Produce. Default 16 MiB. */
  maxBatchBytes?: number;
  /**
   * Largest Fetch response, bytes, whatever the request's maxBytes (Kafka's broker
   * `fetch.max.bytes`); the first batch of the first partition with data may exceed it
   * (KIP-74). Default 55 MiB, as Kafka.
   */
  fetchMaxBytes?: number;
  /** Largest decompressed size of a produced batch's records. Default 64 MiB. */
  maxDecompressedBytes?: number;
  /**
   * How far ahead of the broker's clock a record's timestamp may be, ms (Kafka's
   * `message.timestamp.after.max.ms`). Default 3600000 (1 hour).
   */
  maxTimestampAheadMs?: number;
  /**
   * Create unknown topics named in Metadata requests that allow it, with `defaultPartitions`
   * partitions. Default true, as Kafka's `auto.create.topics.enable`.
   */
  autoCreateTopics?: boolean;
  /** Partitions of auto-created topics and of CreateTopics with -1. Default 1. */
  defaultPartitions?: number;
  /**
   * Partitions one topic may have; CreateTopics, CreatePartitions beyond it are refused
   * with POLICY_VIOLATION, an auto-creation is not done. Default 1000.
   */
  maxPartitionsPerTopic?: number;
  /**
   * Partitions of every topic together (each keeps two or three files open). Default 4000,
   * Kafka's long-standing advice for one broker (KIP-578).
   */
  maxPartitions?: number;
  /** Topics to create on start if missing. */
  createTopics?: { name: string; partitions: number }[];
  /** Smallest session timeout a consumer may ask for. Default 1000 (Kafka: 6000). */
  minSessionTimeoutMs?: number;
  /** Largest session timeout. Default 1800000, as Kafka. */
  maxSessionTimeoutMs?: number;
  /** Delay before the first rebalance of an empty group completes. Default 0 (Kafka: 3000). */
  initialRebalanceDelayMs?: number;
  /**
   * How often groups without members or offsets are removed and expired offsets deleted, ms
   * (Kafka's offsets.retention.check.interval.ms). Default 600000.
   */
  groupCleanupIntervalMs?: number;
  /**
   * How long the offsets of a group without members are kept, ms, from the later of its
   * last member leaving and the commit (Kafka's offsets.retention.minutes); -1 forever.
   * Default 604800000 (7 days).
   */
  offsetsRetentionMs?: number;
  /**
   * Largest `transaction.timeout.ms` a transactional producer may ask for, ms (Kafka's
   * `transaction.max.timeout.ms`). Default 900000 (15 minutes).
   */
  transactionMaxTimeoutMs?: number;
  /** How often transactions past their timeout are aborted, ms. Default 10000, as Kafka. */
  transactionAbortCheckMs?: number;
  /** Registry for the metrics. Default: a private one. */
  metricsRegistry?: Registry;
}

/** A running broker. */
export interface Broker {
  /** The bound TCP port. */
  readonly port: number;
  /** The advertised `host:port`, for `KAFKA_BROKERS`. */
  readonly address: string;
  readonly dataDir: string;
  readonly metrics: BrokerMetrics;
  /** The topic store (for health checks and tests). */
  readonly topics: TopicStore;
  /** The transaction coordinator (for tests). */
  readonly transactions: TransactionCoordinator;
  /** Stops accepting, closes connections, flushes and closes every segment. */
  close(): Promise<void>;
}

/**
 * Starts a broker: recovers the data dir, creates `createTopics`, and listens.
 *
 * @example
 * ```ts
 * await using dir = await tempDir();
 * const broker = await startBroker({ dataDir: dir.path, port: 0 });
 * // connect kafkajs to broker.address ...
 * await broker.close();
 * ```
 */
export async function startBroker(options: BrokerOptions): Promise<Broker> {
  const host = options.host ?? D.host;
  const flushMode = options.flush ?? D.flush;
  const flusher = new Flusher(
    flushMode === "interval" ? options.flushIntervalMs ?? D.flushIntervalMs : undefined,
  );
  const topics = await TopicStore.open(
    options.dataDir,
    {
      segmentBytes: options.segmentBytes ?? D.segmentBytes,
      segmentMs: options.segmentMs ?? D.segmentMs,
      retentionBytes: options.retentionBytes ?? D.retentionBytes,
      retentionMs: options.retentionMs ?? D.retentionMs,
      maxMessageBytes: options.maxBatchBytes ?? D.maxBatchBytes,
      durableHighWatermark: flushMode === "sync",
    },
    flusher,
    {
      maxPartitionsPerTopic: options.maxPartitionsPerTopic ?? D.maxPartitionsPerTopic,
      maxPartitions: options.maxPartitions ?? D.maxPartitions,
    },
  );
  const metaDir = topics.metaDir();
  // A staging file is what a writer killed mid-writeFileDurably left; the file it was to
  // replace is intact, so the leftover is only removed.
  for (const name of await removeStagingFiles(metaDir)) {
    log.warn("Removed {name} left by an interrupted metadata write", { name });
  }
  const nodeId = options.nodeId ?? D.nodeId;
  const brokerConfigs = await BrokerConfigStore.open(metaDir);
  topics.setDynamicBrokerConfigs(brokerConfigs.topicDefaults(nodeId));
  const offsets = await OffsetStore.open(metaDir, flusher, flushMode === "sync");
  const producerIds = await ProducerIdAllocator.open(metaDir);
  const clusterId = await loadClusterId(metaDir);
  // Opened after the logs: it completes transactions the last run left half-ended.
  const transactions = await TransactionCoordinator.open(metaDir, {
    maxTimeoutMs: options.transactionMaxTimeoutMs ?? D.transactionMaxTimeoutMs,
    abortCheckIntervalMs: options.transactionAbortCheckMs ?? D.transactionAbortCheckMs,
  }, { topics, offsets, producerIds });
  // The files the stores created on open (offsets, transactions) and _meta itself are
  // durable only once their directories are.
  await syncDirectory(metaDir);
  await syncDirectory(options.dataDir);
  for (const topic of options.createTopics ?? []) {
    if (await topics.create(topic.name, topic.partitions)) continue;
    const existing = topics.partitions(topic.name)?.length ?? 0;
    if (existing !== topic.partitions) {
      log.warn("Topic {topic} exists with {existing} partitions, not {wanted}", {
        topic: topic.name,
        existing,
        wanted: topic.partitions,
      });
    }
  }
  const coordinator = new GroupCoordinator({
    minSessionTimeoutMs: options.minSessionTimeoutMs ?? D.minSessionTimeoutMs,
    maxSessionTimeoutMs: options.maxSessionTimeoutMs ?? D.maxSessionTimeoutMs,
    initialRebalanceDelayMs: options.initialRebalanceDelayMs ?? D.initialRebalanceDelayMs,
    groupCleanupIntervalMs: options.groupCleanupIntervalMs ?? D.groupCleanupIntervalMs,
    offsetsRetentionMs: options.offsetsRetentionMs ?? D.offsetsRetentionMs,
  }, offsets);
  const metrics = new BrokerMetrics(options.metricsRegistry);
  metrics.watch(() => topics, () => coordinator);

  let listener: Deno.TcpListener;
  try {
    listener = Deno.listen({ hostname: host, port: options.port ?? D.ports.kafka });
  } catch (error) {
    coordinator.close();
    await transactions.close();
    await topics.close();
    await offsets.close();
    await flusher.close();
    throw new Error(
      `Cannot listen on ${host}:${options.port ?? D.ports.kafka}: ${errorMessage(error)}`,
      {
        cause: error,
      },
    );
  }
  const port = (listener.addr as Deno.NetAddr).port;
  const advertisedHost = options.advertisedHost ??
    (host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host);
  const closing = new AbortController();
  const state: BrokerState = {
    nodeId,
    advertisedHost,
    advertisedPort: port,
    clusterId,
    topics,
    brokerConfigs,
    coordinator,
    producerIds,
    transactions,
    metrics,
    autoCreateTopics: options.autoCreateTopics ?? D.autoCreateTopics,
    defaultPartitions: options.defaultPartitions ?? D.defaultPartitions,
    maxBatchBytes: options.maxBatchBytes ?? D.maxBatchBytes,
    fetchMaxBytes: options.fetchMaxBytes ?? D.fetchMaxBytes,
    maxDecompressedBytes: options.maxDecompressedBytes ?? D.maxDecompressedBytes,
    maxTimestampAheadMs: options.maxTimestampAheadMs ?? D.maxTimestampAheadMs,
    closing: closing.signal,
  };
  const limits = {
    maxFrameBytes: options.maxFrameBytes ?? D.maxFrameBytes,
    idleMs: options.connectionsMaxIdleMs ?? D.connectionsMaxIdleMs,
    requestReadTimeoutMs: options.requestReadTimeoutMs ?? D.requestReadTimeoutMs,
  };
  const maxConnections = options.maxConnections ?? D.maxConnections;
  let refused = 0;
  let refusedLoggedAt = -Infinity;
  let acceptBackoffMs = 0;
  const connections = new Set<ClientConnection>();
  const serving = new Set<Promise<void>>();

  const acceptLoop = (async () => {
    for (;;) {
      let conn: Deno.TcpConn;
      try {
        conn = await listener.accept();
      } catch (error) {
        if (closing.signal.aborted) return;
        // EMFILE and the like repeat at once: back off (10 ms doubling to 1 s) instead of
        // spinning, and start again at 10 ms after the next accept that works.
        acceptBackoffMs = Math.min(1000, Math.max(10, acceptBackoffMs * 2));
        log.warn("Accept failed: {reason}; retrying in {ms} ms", {
          reason: errorMessage(error),
          ms: acceptBackoffMs,
        });
        await abortableDelay(acceptBackoffMs, closing.signal);
        continue;
      }
      acceptBackoffMs = 0;
      if (closing.signal.aborted) {
        conn.close();
        return;
      }
      if (connections.size >= maxConnections) {
        conn.close();
        metrics.refusedConnections.inc({ reason: "too_many" });
        refused++;
        const now = performance.now();
        if (now - refusedLoggedAt >= 10_000) {
          log.warn(
            "Refused {count} connection(s): {max} are open (BROKER_MAX_CONNECTIONS)",
            { count: refused, max: maxConnections },
          );
          refused = 0;
          refusedLoggedAt = now;
        }
        continue;
      }
      conn.setNoDelay(true);
      const client = new ClientConnection(conn, state, limits);
      connections.add(client);
      metrics.connections.inc();
      const done: Promise<void> = client.serve().finally(() => {
        connections.delete(client);
        serving.delete(done);
        metrics.connections.dec();
      });
      serving.add(done);
    }
  })();

  const retentionTimer = setInterval(() => {
    topics.enforceRetention().catch((error) => {
      log.error("Retention failed: {reason}", { reason: errorMessage(error) });
    });
  }, options.retentionCheckIntervalMs ?? D.retentionCheckIntervalMs);

  log.info(
    "Broker listening on {host}:{port} (advertised {advertised}), data in {dataDir}, flush {flush}",
    {
      host,
      port,
      advertised: `${advertisedHost}:${port}`,
      dataDir: options.dataDir,
      flush: flushMode,
    },
  );

  let closed: Promise<void> | undefined;
  return {
    port,
    address: `${advertisedHost}:${port}`,
    dataDir: options.dataDir,
    metrics,
    topics,
    transactions,
    close() {
      closed ??= (async () => {
        closing.abort();
        clearInterval(retentionTimer);
        listener.close();
        await acceptLoop;
        coordinator.close();
        for (const client of connections) client.close();
        await Promise.all(serving);
        await transactions.close();
        await topics.close();
        await offsets.close();
        await flusher.close();
        log.info("Broker on port {port} closed", { port });
      })();
      return closed;
    },
  };
}

async function loadClusterId(metaDir: string): Promise<string> {
  const path = join(metaDir, "cluster_id");
  try {
    return (await Deno.readTextFile(path)).trim();
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  // Kafka cluster ids are 22-character URL-safe base64 UUIDs.
  const id = btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_").slice(
    0,
    22,
  );
  await writeFileDurably(path, `${id}\n`);
  return id;
}

/** Resolves after `ms`, or at once when `signal` aborts. */
function abortableDelay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done);
  });
}
