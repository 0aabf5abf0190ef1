/**
 * The order-executor's configuration: environment variables validated at the edge. See
 * {@linkcode orderExecutorEnv} for every variable and its default.
 *
 * @module
 */
import {
  bool,
  commonEnv,
  int,
  kafkaEnv,
  loadConfig,
  raftClientEnv,
  text,
} from "@trading/shared/config";
import type { LogLevel } from "@trading/shared/log";
import type { RiskLimits } from "./risk_checks.ts";
import { ORDER_EXECUTOR_DEFAULTS as DEFAULTS } from "./defaults.ts";

/** Every variable of the order-executor role. */
export const orderExecutorEnv = {
  ...commonEnv({ grpcPort: DEFAULTS.ports.grpc, httpPort: DEFAULTS.ports.http }),
  ...kafkaEnv,
  ...raftClientEnv,
  /** Unique among running executors; names the outbox file and appears in every event. */
  EXECUTOR_ID: text("an id of letters, digits, - or _", "order-executor", /^[A-Za-z0-9_-]{1,64}$/),
  /** Where the outbox lives (`<dir>/<EXECUTOR_ID>.outbox.db`). */
  EXECUTOR_DATA_DIR: text("a directory path", "./.data/order-executor"),
  EXECUTOR_GROUP_ID: text("a consumer group id", "order-executor", /^[A-Za-z0-9._-]{1,128}$/),
  EXECUTOR_SESSION_TIMEOUT_MS: int(1000, 300_000, DEFAULTS.sessionTimeoutMs),
  /** Largest number of commands recorded, published and committed together. */
  EXECUTOR_CHUNK_SIZE: int(1, 100_000, DEFAULTS.chunkSize),
  /** How long a command may wait for the price feed to reach its tick. */
  EXECUTOR_PRICE_WAIT_MS: int(0, 60_000, DEFAULTS.priceWaitMs),
  /** How long a published event stays in the outbox before it is pruned (default 24 h). */
  EXECUTOR_OUTBOX_RETENTION_MS: int(60_000, 365 * 86_400_000, DEFAULTS.outboxRetentionMs),
  /** Publish each chunk's events and commit its offset in one Kafka transaction. */
  EXECUTOR_TRANSACTIONS: bool(DEFAULTS.transactions),
  /** `transaction.timeout.ms`; at most the broker's `transaction.max.timeout.ms`. */
  EXECUTOR_TRANSACTION_TIMEOUT_MS: int(1000, 900_000, DEFAULTS.transactionTimeoutMs),
  RISK_MAX_QUANTITY: int(1, Number.MAX_SAFE_INTEGER, 150),
  /** Quantity x limit price, in minor units (default 50,000.00). */
  RISK_MAX_NOTIONAL: int(1, Number.MAX_SAFE_INTEGER, 5_000_000),
  /** Allowed distance of the limit price from the last price, basis points (default 1%). */
  RISK_PRICE_BAND_BPS: int(0, 1_000_000, 100),
  /** Largest absolute position per symbol over all executors; 0 disables the check. */
  RISK_MAX_POSITION: int(0, Number.MAX_SAFE_INTEGER, 200),
};

/** The executor's typed configuration. */
export interface OrderExecutorConfig {
  logLevel: LogLevel;
  /** `CLUSTER_SECRET`: required of every gRPC caller when set. */
  clusterSecret: string | undefined;
  httpPort: number;
  grpcPort: number | undefined;
  kafkaBrokers: string[];
  raftAddresses: string[];
  executorId: string;
  dataDir: string;
  groupId: string;
  sessionTimeoutMs: number;
  priceWaitMs: number;
  chunkSize: number;
  outboxRetentionMs: number;
  transactions: boolean;
  transactionTimeoutMs: number;
  limits: RiskLimits;
}

/** Loads and validates the configuration; throws ConfigError naming the bad variable. */
export function loadOrderExecutorConfig(
  env: Record<string, string | undefined> = Deno.env.toObject(),
): OrderExecutorConfig {
  const c = loadConfig(orderExecutorEnv, env);
  return {
    logLevel: c.LOG_LEVEL,
    clusterSecret: c.CLUSTER_SECRET,
    httpPort: c.PORT_HTTP,
    grpcPort: c.PORT_GRPC,
    kafkaBrokers: c.KAFKA_BROKERS,
    raftAddresses: c.RAFT_NODE_GRPC_ADDR,
    executorId: c.EXECUTOR_ID,
    dataDir: c.EXECUTOR_DATA_DIR,
    groupId: c.EXECUTOR_GROUP_ID,
    sessionTimeoutMs: c.EXECUTOR_SESSION_TIMEOUT_MS,
    priceWaitMs: c.EXECUTOR_PRICE_WAIT_MS,
    chunkSize: c.EXECUTOR_CHUNK_SIZE,
    outboxRetentionMs: c.EXECUTOR_OUTBOX_RETENTION_MS,
    transactions: c.EXECUTOR_TRANSACTIONS,
    transactionTimeoutMs: c.EXECUTOR_TRANSACTION_TIMEOUT_MS,
    limits: {
      maxQuantity: c.RISK_MAX_QUANTITY,
      maxNotional: c.RISK_MAX_NOTIONAL,
      priceBandBps: c.RISK_PRICE_BAND_BPS,
      maxPosition: c.RISK_MAX_POSITION,
    },
  };
}
