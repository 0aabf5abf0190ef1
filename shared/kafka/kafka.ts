/**
 * The one Kafka client factory (kafkajs), and the project's topics. Nothing here knows
 * whether it talks to the embedded broker or to a real Kafka/Redpanda cluster.
 *
 * @module
 */
import {
  Kafka,
  type KafkaConfig,
  type LogEntry,
  logLevel,
  Partitioners,
  type Producer,
} from "kafkajs";
import { applyKafkaJsControllerFix } from "./kafkajs_controller_fix.ts";
import { applyKafkaJsRequestQueueFix } from "./kafkajs_request_queue_fix.ts";
import { applyKafkaJsBatchGuard } from "./kafkajs_batch_guard.ts";
import { getLogger } from "../runtime/log.ts";
import { TOPIC_PARTITIONS, TOPICS } from "./topics.ts";

export { Kafka };
export { undecodableBatchError } from "./kafkajs_batch_guard.ts";

export { TOPIC_PARTITIONS, TOPICS } from "./topics.ts";

const LEVELS: Record<number, "error" | "warn" | "info" | "debug"> = {
  [logLevel.ERROR]: "error",
  [logLevel.WARN]: "warn",
  [logLevel.INFO]: "info",
  [logLevel.DEBUG]: "debug",
};

/** Bridges kafkajs's logger to ours (category `kafka`). */
function logCreator() {
  const log = getLogger("kafka");
  return ({ level, log: entry }: LogEntry) => {
    const { message, ...fields } = entry;
    const method = LEVELS[level] ?? "info";
    // kafkajs logs every broker disconnect at ERROR; they are retried, so they are warnings.
    const effective = method === "error" && /Connection|ECONNREFUSED|disconnect/i.test(message)
      ? "warn"
      : method;
    log[effective](message, fields);
  };
}

/** Options of {@linkcode createKafka}. */
export interface KafkaOptions {
  clientId: string;
  brokers: string[];
  /** Extra kafkajs settings (retry, timeouts). */
  overrides?: Partial<KafkaConfig>;
}

/**
 * Creates a kafkajs client with the project's defaults: logs through LogTape, retries with
 * backoff, short connection timeout for loopback. It also applies the fix of kafkajs's idle
 * 1 ms request-queue timer and its `TimeoutNegativeWarning`
 * ({@linkcode applyKafkaJsRequestQueueFix}), and makes it read the four codecs under a cap
 * and hand a batch it cannot read to its consumer as one dead-letter record instead of
 * failing the Fetch ({@linkcode applyKafkaJsBatchGuard}); and makes it find a broker for
 * controller requests when Metadata names an unlisted controller
 * ({@linkcode applyKafkaJsControllerFix}).
 */
export function createKafka({ clientId, brokers, overrides = {} }: KafkaOptions): Kafka {
  applyKafkaJsRequestQueueFix();
  applyKafkaJsBatchGuard();
  applyKafkaJsControllerFix();
  return new Kafka({
    clientId,
    brokers,
    logLevel: logLevel.WARN,
    logCreator,
    connectionTimeout: 3000,
    requestTimeout: 30000,
    retry: { initialRetryTime: 100, maxRetryTime: 2000, retries: 10 },
    ...overrides,
  });
}

/**
 * Creates the producer every service publishes with: idempotent with one request in flight,
 * so that a send kafkajs retries after a lost answer cannot write a batch twice or reorder
 * batches, and no topic is created by producing to it.
 */
export function createIdempotentProducer(kafka: Kafka): Producer {
  return kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
    // Explicit, so kafkajs does not warn about its v2 default change on every start.
    createPartitioner: Partitioners.DefaultPartitioner,
  });
}

/**
 * Creates a transactional producer (idempotent, one request in flight) for
 * `transactionalId`; the broker aborts a transaction left open longer than `timeoutMs`
 * (`transaction.timeout.ms`, at most the broker's `transaction.max.timeout.ms`).
 */
export function createTransactionalProducer(
  kafka: Kafka,
  transactionalId: string,
  timeoutMs: number,
): Producer {
  return kafka.producer({
    transactionalId,
    transactionTimeout: timeoutMs,
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
}

/**
 * Creates the pipeline's topics that do not exist yet (partitions from
 * {@linkcode TOPIC_PARTITIONS}). The replication factor is the cluster's own
 * (`default.replication.factor`: -1, KIP-464, which Kafka >= 2.4 and Redpanda honour) unless
 * given: a fixed 1 would leave every partition of a multi-broker cluster on one broker. Returns
 * the names it created.
 */
export async function ensureTopics(
  kafka: Kafka,
  { replicationFactor = -1, topics = Object.values(TOPICS) as string[] } = {},
): Promise<string[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = topics.filter((t) => !existing.has(t));
    if (missing.length > 0) {
      await admin.createTopics({
        waitForLeaders: true,
        topics: missing.map((topic) => ({
          topic,
          numPartitions: TOPIC_PARTITIONS[topic] ?? 3,
          replicationFactor,
        })),
      });
    }
    return missing;
  } finally {
    await admin.disconnect();
  }
}
