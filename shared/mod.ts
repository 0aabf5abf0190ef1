/**
 * Shared libraries of every process: config, logging, retry, health, metrics, shutdown,
 * gRPC and Kafka helpers. Import the subpath you need (`@trading/shared/config`).
 *
 * @module
 */
export * from "./config.ts";
export * from "./log.ts";
export * from "./retry.ts";
