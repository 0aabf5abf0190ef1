/**
 * Shared libraries of every process. Import the subpath you need, so that a process loads
 * only what it uses:
 *
 * - `@trading/shared/config`: env config with zod ({@linkcode loadConfig})
 * - `@trading/shared/log`: LogTape JSON lines ({@linkcode setupLogging}, `getLogger`)
 * - `@trading/shared/retry`: backoff with jitter ({@linkcode retry})
 * - `@trading/shared/health`: readiness, `/healthz` `/readyz` `/metrics`, gRPC health
 * - `@trading/shared/metrics`: the Prometheus registry
 * - `@trading/shared/shutdown`: graceful shutdown
 * - `@trading/shared/grpc`: server start and unary calls with deadlines
 * - `@trading/shared/kafka`: the Kafka client factory and topics
 * - `@trading/shared/partition-reader`: group-less reads of partitions (kafkajs has no `assign()`)
 * - `@trading/shared/partition-for-key`: the partition of a key (Kafka's murmur2 partitioner)
 * - `@trading/shared/kafka-cluster-id`: the cluster id that local state is bound to
 * - `@trading/shared/tick-schema`, `command-schema`, `event-schema`: the messages' contracts
 *   (decoded and validated through `@trading/shared/decode-message`)
 * - `@trading/shared/dead-letter-queue`: `orders.dlq` with reason and origin headers
 * - `@trading/shared/invalid-message-error`: the error of a message that goes to the DLQ
 * - `@trading/shared/now-us`: the message clock, epoch microseconds
 * - `@trading/shared/seeded-random`: the seeded generator (synthetic market, chaos schedules)
 * - `@trading/shared/failpoint`: crash points for tests (`TRADING_FAILPOINTS`)
 * - `@trading/shared/service`: the common start-up of a service process
 * - `@trading/shared/start-up`: a Kafka service's retried start-up and its exit codes
 * - `@trading/shared/group-consumer`: a consumer-group member with manual commits
 * - `@trading/shared/bind-to-kafka-cluster`: local SQLite state bound to its Kafka cluster
 *
 * @module
 */
export * from "./runtime/config.ts";
export * from "./runtime/log.ts";
export * from "./runtime/retry.ts";
