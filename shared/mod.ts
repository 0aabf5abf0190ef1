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
 * - `@trading/shared/service`: the common start-up of a service process
 *
 * @module
 */
export * from "./config.ts";
export * from "./log.ts";
export * from "./retry.ts";
