/**
 * The broker role's configuration: environment variables validated at the edge with the
 * shared building blocks. See {@linkcode brokerEnv} for every variable and its default.
 *
 * @module
 */
import {
  bool,
  commonEnv,
  ConfigError,
  int,
  loadConfig,
  oneOf,
  optional,
  port,
  text,
} from "@trading/shared/config";
import type { BrokerOptions } from "./broker.ts";
import { BROKER_DEFAULTS as D } from "./defaults.ts";

const DAY_MS = 24 * 60 * 60 * 1000;
const MAX_INT32 = 2 ** 31 - 1;

/** `name:partitions[,name:partitions...]`, the format of `BROKER_CREATE_TOPICS`. */
const TOPIC_LIST = /^[A-Za-z0-9._-]{1,249}:\d{1,5}(,[A-Za-z0-9._-]{1,249}:\d{1,5})*$/;

/** Every variable of the broker role. */
export const brokerEnv = {
  ...commonEnv({ httpPort: D.ports.http }),
  /** Address to listen on (loopback by default). */
  BROKER_HOST: text("a host name or IP address", D.host, /^[A-Za-z0-9.:-]+$/),
  /** Kafka port; 0 picks a free one. */
  BROKER_PORT: port(D.ports.kafka, true),
  /** Host advertised to clients in Metadata; default BROKER_HOST (127.0.0.1 for 0.0.0.0). */
  BROKER_ADVERTISED_HOST: optional(
    text("a host name or IP address", undefined, /^[A-Za-z0-9.:-]+$/),
  ),
  BROKER_DATA_DIR: text("a directory path", "./.data/broker"),
  BROKER_NODE_ID: int(0, MAX_INT32, D.nodeId),
  /** sync: fdatasync before acknowledging acks=-1 (group commit); interval: timed fsync. */
  BROKER_FLUSH: oneOf(["sync", "interval"] as const, D.flush),
  BROKER_FLUSH_INTERVAL_MS: int(1, 600_000, D.flushIntervalMs),
  BROKER_SEGMENT_BYTES: int(4096, 1024 * 1024 * 1024, D.segmentBytes),
  BROKER_SEGMENT_MS: int(1000, 365 * DAY_MS, D.segmentMs),
  /** Per-partition size limit in bytes; -1 for none. */
  BROKER_RETENTION_BYTES: int(-1, Number.MAX_SAFE_INTEGER, D.retentionBytes),
  /** Age limit in ms; -1 for none. */
  BROKER_RETENTION_MS: int(-1, Number.MAX_SAFE_INTEGER, D.retentionMs),
  BROKER_RETENTION_CHECK_MS: int(100, DAY_MS, D.retentionCheckIntervalMs),
  BROKER_MAX_FRAME_BYTES: int(1024, MAX_INT32, D.maxFrameBytes),
  /** Close a connection idle this long, ms (Kafka's connections.max.idle.ms). */
  BROKER_CONNECTIONS_MAX_IDLE_MS: int(10, MAX_INT32, D.connectionsMaxIdleMs),
  /** A request frame must arrive whole within this of its first byte, ms. */
  BROKER_REQUEST_READ_TIMEOUT_MS: int(10, MAX_INT32, D.requestReadTimeoutMs),
  /** Open client connections at most; more are closed at once with a log line. */
  BROKER_MAX_CONNECTIONS: int(1, 1_000_000, D.maxConnections),
  BROKER_MAX_BATCH_BYTES: int(1024, MAX_INT32, D.maxBatchBytes),
  /** Largest Fetch response, whatever the request asks (Kafka's broker fetch.max.bytes). */
  BROKER_FETCH_MAX_BYTES: int(1024, MAX_INT32, D.fetchMaxBytes),
  /** Largest decompressed size of one produced batch's records. */
  BROKER_MAX_DECOMPRESSED_BYTES: int(1024, MAX_INT32, D.maxDecompressedBytes),
  /** How far in the future a record timestamp may be, ms (Kafka's message.timestamp.after.max.ms). */
  BROKER_MESSAGE_TIMESTAMP_AFTER_MAX_MS: int(0, Number.MAX_SAFE_INTEGER, D.maxTimestampAheadMs),
  /** Create unknown topics named in Metadata requests, as Kafka's auto.create.topics.enable (true). */
  BROKER_AUTO_CREATE_TOPICS: bool(D.autoCreateTopics),
  BROKER_DEFAULT_PARTITIONS: int(1, 100_000, D.defaultPartitions),
  /** Partitions one topic may have (CreateTopics, CreatePartitions, auto-creation). */
  BROKER_MAX_PARTITIONS_PER_TOPIC: int(1, 100_000, D.maxPartitionsPerTopic),
  /** Partitions of every topic together; each keeps two or three files open. */
  BROKER_MAX_PARTITIONS: int(1, 1_000_000, D.maxPartitions),
  /** Topics created on start when missing, e.g. `market.ticks:3,orders.commands:3`. */
  BROKER_CREATE_TOPICS: optional(
    text("a list like name:partitions,name:partitions", undefined, TOPIC_LIST),
  ),
  BROKER_GROUP_MIN_SESSION_TIMEOUT_MS: int(1, 3_600_000, D.minSessionTimeoutMs),
  BROKER_GROUP_MAX_SESSION_TIMEOUT_MS: int(1, 3_600_000, D.maxSessionTimeoutMs),
  BROKER_GROUP_INITIAL_REBALANCE_DELAY_MS: int(0, 600_000, D.initialRebalanceDelayMs),
  /** How often vacant groups are removed and expired offsets deleted (Kafka's offsets.retention.check.interval.ms). */
  BROKER_OFFSETS_RETENTION_CHECK_MS: int(10, DAY_MS, D.groupCleanupIntervalMs),
  /** How long a vacant group's offsets are kept, ms (Kafka's offsets.retention.minutes); -1 forever. */
  BROKER_OFFSETS_RETENTION_MS: int(-1, Number.MAX_SAFE_INTEGER, D.offsetsRetentionMs),
  /** Largest transaction.timeout.ms a producer may ask for (Kafka's transaction.max.timeout.ms). */
  BROKER_TRANSACTION_MAX_TIMEOUT_MS: int(1, MAX_INT32, D.transactionMaxTimeoutMs),
  /** How often transactions past their timeout are aborted. */
  BROKER_TRANSACTION_ABORT_CHECK_MS: int(10, 3_600_000, D.transactionAbortCheckMs),
};

/** The validated configuration of the broker role. */
export interface BrokerConfig {
  httpPort: number;
  logLevel: "debug" | "info" | "warn" | "error";
  broker: BrokerOptions;
}

/** Parses `BROKER_CREATE_TOPICS`; the format was validated by the schema. */
export function parseTopicList(value: string | undefined): { name: string; partitions: number }[] {
  if (value === undefined) return [];
  return value.split(",").map((part) => {
    const [name, partitions] = part.split(":") as [string, string];
    return { name, partitions: Number(partitions) };
  });
}

/** Loads the broker configuration from `env`; throws ConfigError naming a bad variable. */
export function loadBrokerConfig(env?: Record<string, string | undefined>): BrokerConfig {
  const c = loadConfig(brokerEnv, env);
  if (c.BROKER_DEFAULT_PARTITIONS > c.BROKER_MAX_PARTITIONS_PER_TOPIC) {
    throw new ConfigError(
      "BROKER_DEFAULT_PARTITIONS",
      `Invalid BROKER_DEFAULT_PARTITIONS ${c.BROKER_DEFAULT_PARTITIONS}: expected at most BROKER_MAX_PARTITIONS_PER_TOPIC (${c.BROKER_MAX_PARTITIONS_PER_TOPIC})`,
    );
  }
  return {
    httpPort: c.PORT_HTTP,
    logLevel: c.LOG_LEVEL,
    broker: {
      dataDir: c.BROKER_DATA_DIR,
      host: c.BROKER_HOST,
      port: c.BROKER_PORT,
      ...(c.BROKER_ADVERTISED_HOST === undefined
        ? {}
        : { advertisedHost: c.BROKER_ADVERTISED_HOST }),
      nodeId: c.BROKER_NODE_ID,
      flush: c.BROKER_FLUSH,
      flushIntervalMs: c.BROKER_FLUSH_INTERVAL_MS,
      segmentBytes: c.BROKER_SEGMENT_BYTES,
      segmentMs: c.BROKER_SEGMENT_MS,
      retentionBytes: c.BROKER_RETENTION_BYTES,
      retentionMs: c.BROKER_RETENTION_MS,
      retentionCheckIntervalMs: c.BROKER_RETENTION_CHECK_MS,
      maxFrameBytes: c.BROKER_MAX_FRAME_BYTES,
      maxBatchBytes: c.BROKER_MAX_BATCH_BYTES,
      fetchMaxBytes: c.BROKER_FETCH_MAX_BYTES,
      connectionsMaxIdleMs: c.BROKER_CONNECTIONS_MAX_IDLE_MS,
      maxConnections: c.BROKER_MAX_CONNECTIONS,
      requestReadTimeoutMs: c.BROKER_REQUEST_READ_TIMEOUT_MS,
      maxDecompressedBytes: c.BROKER_MAX_DECOMPRESSED_BYTES,
      maxTimestampAheadMs: c.BROKER_MESSAGE_TIMESTAMP_AFTER_MAX_MS,
      autoCreateTopics: c.BROKER_AUTO_CREATE_TOPICS,
      defaultPartitions: c.BROKER_DEFAULT_PARTITIONS,
      maxPartitionsPerTopic: c.BROKER_MAX_PARTITIONS_PER_TOPIC,
      maxPartitions: c.BROKER_MAX_PARTITIONS,
      createTopics: parseTopicList(c.BROKER_CREATE_TOPICS),
      minSessionTimeoutMs: c.BROKER_GROUP_MIN_SESSION_TIMEOUT_MS,
      maxSessionTimeoutMs: c.BROKER_GROUP_MAX_SESSION_TIMEOUT_MS,
      initialRebalanceDelayMs: c.BROKER_GROUP_INITIAL_REBALANCE_DELAY_MS,
      groupCleanupIntervalMs: c.BROKER_OFFSETS_RETENTION_CHECK_MS,
      offsetsRetentionMs: c.BROKER_OFFSETS_RETENTION_MS,
      transactionMaxTimeoutMs: c.BROKER_TRANSACTION_MAX_TIMEOUT_MS,
      transactionAbortCheckMs: c.BROKER_TRANSACTION_ABORT_CHECK_MS,
    },
  };
}
