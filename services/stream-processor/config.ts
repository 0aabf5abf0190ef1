/**
 * The stream-processor's configuration: environment variables validated at the edge. See
 * {@linkcode streamProcessorEnv} for every variable and its default.
 *
 * @module
 */
import { commonEnv, int, kafkaEnv, loadConfig, text } from "@trading/shared/config";
import type { LogLevel } from "@trading/shared/log";
import { Breakout } from "./breakout.ts";
import { MovingAverageCrossover } from "./moving_average_crossover.ts";
import type { Strategy } from "./strategy.ts";
import { STREAM_PROCESSOR_DEFAULTS as DEFAULTS } from "./defaults.ts";

/** Every variable of the stream-processor role. */
export const streamProcessorEnv = {
  ...commonEnv({ grpcPort: DEFAULTS.ports.grpc, httpPort: DEFAULTS.ports.http }),
  ...kafkaEnv,
  /** Where the strategy state lives (`<dir>/state.db`); instances on one host may share it. */
  STREAM_PROCESSOR_DATA_DIR: text("a directory path", "./.data/stream-processor"),
  STREAM_PROCESSOR_GROUP_ID: text(
    "a consumer group id",
    "stream-processor",
    /^[A-Za-z0-9._-]{1,128}$/,
  ),
  STREAM_PROCESSOR_SESSION_TIMEOUT_MS: int(1000, 300_000, DEFAULTS.sessionTimeoutMs),
  /** Largest number of ticks processed, produced and saved together. */
  STREAM_PROCESSOR_CHUNK_SIZE: int(1, 100_000, DEFAULTS.chunkSize),
  /** Save the state at most this often (0: after every chunk); a crash re-emits up to this much. */
  STREAM_PROCESSOR_SAVE_INTERVAL_MS: int(0, 60_000, DEFAULTS.saveIntervalMs),
  /** The strategies to run, a comma list of `mac` (moving-average crossover) and `brk` (breakout). */
  STRATEGIES: text("a comma list of mac, brk", "mac,brk", /^(mac|brk)(,(mac|brk))*$/),
  MAC_SHORT_WINDOW: int(1, 10_000, 5),
  MAC_LONG_WINDOW: int(2, 10_000, 20),
  MAC_MAX_POSITION: int(1, 1_000_000_000, 100),
  MAC_MAX_ORDER_QUANTITY: int(1, 1_000_000_000, 100),
  BRK_WINDOW: int(2, 10_000, 30),
  /** Prices a symbol needs before its first breakout trade. */
  BRK_MIN_TICKS: int(1, 10_000, 2),
  BRK_MAX_POSITION: int(1, 1_000_000_000, 60),
  BRK_MAX_ORDER_QUANTITY: int(1, 1_000_000_000, 30),
};

/** The stream-processor's typed configuration. */
export interface StreamProcessorConfig {
  logLevel: LogLevel;
  /** `CLUSTER_SECRET`: required of every gRPC caller when set. */
  clusterSecret: string | undefined;
  httpPort: number;
  grpcPort: number | undefined;
  kafkaBrokers: string[];
  dataDir: string;
  groupId: string;
  sessionTimeoutMs: number;
  chunkSize: number;
  saveIntervalMs: number;
  strategies: Strategy[];
}

/** Loads and validates the configuration; throws ConfigError naming the bad variable. */
export function loadStreamProcessorConfig(
  env: Record<string, string | undefined> = Deno.env.toObject(),
): StreamProcessorConfig {
  const c = loadConfig(streamProcessorEnv, env);
  const strategies = [...new Set(c.STRATEGIES.split(","))].map((id): Strategy =>
    id === "mac"
      ? new MovingAverageCrossover({
        shortWindow: c.MAC_SHORT_WINDOW,
        longWindow: c.MAC_LONG_WINDOW,
        maxPosition: c.MAC_MAX_POSITION,
        maxOrderQuantity: c.MAC_MAX_ORDER_QUANTITY,
      })
      : new Breakout({
        window: c.BRK_WINDOW,
        minTicks: c.BRK_MIN_TICKS,
        maxPosition: c.BRK_MAX_POSITION,
        maxOrderQuantity: c.BRK_MAX_ORDER_QUANTITY,
      })
  );
  return {
    logLevel: c.LOG_LEVEL,
    clusterSecret: c.CLUSTER_SECRET,
    httpPort: c.PORT_HTTP,
    grpcPort: c.PORT_GRPC,
    kafkaBrokers: c.KAFKA_BROKERS,
    dataDir: c.STREAM_PROCESSOR_DATA_DIR,
    groupId: c.STREAM_PROCESSOR_GROUP_ID,
    sessionTimeoutMs: c.STREAM_PROCESSOR_SESSION_TIMEOUT_MS,
    chunkSize: c.STREAM_PROCESSOR_CHUNK_SIZE,
    saveIntervalMs: c.STREAM_PROCESSOR_SAVE_INTERVAL_MS,
    strategies,
  };
}
