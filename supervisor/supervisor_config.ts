/**
 * The supervisor's environment: where its HTTP API listens, the admin token, and where the
 * pipeline's ports and data go. Validated at start-up; a bad value stops it with one line and
 * exit code 2.
 *
 * @module
 */
import {
  clusterSecret,
  ConfigError,
  hostPortList,
  int,
  isLoopbackHost,
  loadConfig,
  oneOf,
  optional,
  port,
  text,
} from "@trading/shared/config";
import { connectionLimitsEnv } from "@trading/shared/connection-limits";

/** The variables of the `up` role. */
export const supervisorEnv = {
  SUPERVISOR_HTTP_PORT: port(8090, true),
  SUPERVISOR_HTTP_HOST: text("a host name or IP address", "127.0.0.1", /^[A-Za-z0-9.:\[\]-]+$/),
  /** More host names the HTTP API answers to (Host header), beside loopback and its own host. */
  SUPERVISOR_ALLOWED_HOSTS: optional(
    text("a comma list of host names", undefined, /^[A-Za-z0-9.:\[\]-]+(,[A-Za-z0-9.:\[\]-]+)*$/),
  ),
  SUPERVISOR_TOKEN: optional(text("a token of at least 8 characters", undefined, /^\S{8,}$/)),
  /** Largest request body the HTTP API reads (16 KiB); a larger one is answered 413. */
  SUPERVISOR_MAX_REQUEST_BYTES: int(1024, 64 * 1024 * 1024, 16 * 1024),
  // 15463 keeps the highest default port (50072) within 65535.
  SUPERVISOR_PORT_OFFSET: int(0, 15463, 0),
  SUPERVISOR_DATA_DIR: text("a directory path", ".data"),
  /** Set: use that Kafka, start no embedded broker. */
  KAFKA_BROKERS: optional(hostPortList()),
  LOG_LEVEL: oneOf(["debug", "info", "warn", "error"] as const, "info"),
  /** The pipeline's cluster secret; generated per `up` when unset (supervisor/main.ts). */
  CLUSTER_SECRET: clusterSecret(),
  /** HTTP_MAX_CONNECTIONS, HTTP_IDLE_TIMEOUT_MS, HTTP_READ_TIMEOUT_MS (and the gRPC ones). */
  ...connectionLimitsEnv,
};

/** The validated configuration of the `up` role. */
export type SupervisorConfig = ReturnType<typeof loadSupervisorConfig>;

/**
 * Loads the supervisor's configuration from `env`. Throws ConfigError for a bad value, and
 * for a non-loopback `SUPERVISOR_HTTP_HOST` without `SUPERVISOR_TOKEN`: the control API can
 * kill processes, so it is never reachable from the network without a token.
 */
export function loadSupervisorConfig(
  env: Record<string, string | undefined> = Deno.env.toObject(),
) {
  const config = loadConfig(supervisorEnv, env);
  if (!isLoopbackHost(config.SUPERVISOR_HTTP_HOST) && config.SUPERVISOR_TOKEN === undefined) {
    throw new ConfigError(
      "SUPERVISOR_TOKEN",
      `Missing SUPERVISOR_TOKEN: expected a token when SUPERVISOR_HTTP_HOST "${config.SUPERVISOR_HTTP_HOST}" is not a loopback address`,
    );
  }
  return config;
}
