/**
 * The broker's defaults, written once: its config (config.ts) and {@linkcode startBroker}
 * (broker.ts) both take them from here, and the supervisor's child specs take the ports.
 *
 * @module
 */

const DAY_MS = 24 * 60 * 60 * 1000;

/** Every default of the broker role (see `BrokerOptions` for what each one means). */
export const BROKER_DEFAULTS = {
  /** The Kafka port (`BROKER_PORT`) and the health and metrics port (`PORT_HTTP`). */
  ports: { kafka: 9092, http: 9644 },
  host: "127.0.0.1",
  nodeId: 1,
  flush: "sync",
  flushIntervalMs: 1000,
  segmentBytes: 64 * 1024 * 1024,
  segmentMs: 7 * DAY_MS,
  retentionBytes: -1,
  retentionMs: 7 * DAY_MS,
  retentionCheckIntervalMs: 60_000,
  maxFrameBytes: 100 * 1024 * 1024,
  /** Kafka's connections.max.idle.ms. */
  connectionsMaxIdleMs: 600_000,
  /** A frame whole within this of its first byte; clients' request.timeout.ms is 30000. */
  requestReadTimeoutMs: 30_000,
  maxConnections: 1000,
  maxBatchBytes: 16 * 1024 * 1024,
  /** Kafka's broker fetch.max.bytes (55 MiB). */
  fetchMaxBytes: 55 * 1024 * 1024,
  maxDecompressedBytes: 64 * 1024 * 1024,
  maxTimestampAheadMs: 3_600_000,
  autoCreateTopics: true,
  defaultPartitions: 1,
  maxPartitionsPerTopic: 1000,
  /** Kafka's advice for one broker (KIP-578); 2-3 open files each: 8000-12000 fds. */
  maxPartitions: 4000,
  minSessionTimeoutMs: 1000,
  maxSessionTimeoutMs: 1_800_000,
  initialRebalanceDelayMs: 0,
  /** Kafka's offsets.retention.check.interval.ms. */
  groupCleanupIntervalMs: 600_000,
  /** Kafka's offsets.retention.minutes (7 days). */
  offsetsRetentionMs: 7 * DAY_MS,
  transactionMaxTimeoutMs: 900_000,
  transactionAbortCheckMs: 10_000,
} as const;
