/**
 * The market-ingestor's configuration: environment variables validated at the edge. See
 * {@linkcode marketIngestorEnv} for every variable and its default.
 *
 * @module
 */
import {
  commonEnv,
  ConfigError,
  int,
  kafkaEnv,
  loadConfig,
  num,
  oneOf,
  optional,
  text,
} from "@trading/shared/config";
import type { LogLevel } from "@trading/shared/log";
import { MAX_RATE } from "./ingestor_api.ts";
import { MARKET_INGESTOR_DEFAULTS as DEFAULTS } from "./defaults.ts";

const SYMBOL_LIST = /^[A-Za-z0-9._-]{1,32}(,[A-Za-z0-9._-]{1,32})*$/;

/** Every variable of the market-ingestor role. */
export const marketIngestorEnv = {
  ...commonEnv({ grpcPort: DEFAULTS.ports.grpc, httpPort: DEFAULTS.ports.http }),
  ...kafkaEnv,
  /** `synthetic` (seeded random walk) or `replay` (INGESTOR_REPLAY_FILE). */
  INGESTOR_SOURCE: oneOf(["synthetic", "replay"] as const, "synthetic"),
  INGESTOR_SYMBOLS: text("a comma list of symbols", "AAPL,MSFT,GOOG,AMZN,TSLA", SYMBOL_LIST),
  /** Ticks per second over all symbols (synthetic source); changeable at run time by SetRate. */
  INGESTOR_RATE: num(0.001, MAX_RATE, 1),
  INGESTOR_SEED: int(0, 2 ** 32 - 1, 42),
  /** A .csv, .ndjson or .jsonl tick file (replay source). */
  INGESTOR_REPLAY_FILE: optional(text("a file path")),
  /** Replay speed factor: 1 is the recorded pace, 10 ten times faster. */
  INGESTOR_REPLAY_SPEED: num(0.001, 1_000_000, 1),
  /** Largest batch per publish. */
  INGESTOR_MAX_BATCH: int(1, 100_000, DEFAULTS.maxBatch),
  /** Least time between two publishes (ticks gather into batches at high rates), ms. */
  INGESTOR_LINGER_MS: int(0, 1000, DEFAULTS.lingerMs),
};

/** The ingestor's typed configuration. */
export interface MarketIngestorConfig {
  logLevel: LogLevel;
  /** `CLUSTER_SECRET`: required of every gRPC caller when set. */
  clusterSecret: string | undefined;
  httpPort: number;
  grpcPort: number | undefined;
  kafkaBrokers: string[];
  source: "synthetic" | "replay";
  symbols: string[];
  rate: number;
  seed: number;
  replayFile: string | undefined;
  replaySpeed: number;
  maxBatch: number;
  lingerMs: number;
}

/** Loads and validates the configuration; throws ConfigError naming the bad variable. */
export function loadMarketIngestorConfig(
  env: Record<string, string | undefined> = Deno.env.toObject(),
): MarketIngestorConfig {
  const c = loadConfig(marketIngestorEnv, env);
  if (c.INGESTOR_SOURCE === "replay" && c.INGESTOR_REPLAY_FILE === undefined) {
    throw new ConfigError(
      "INGESTOR_REPLAY_FILE",
      "Missing INGESTOR_REPLAY_FILE: expected a tick file when INGESTOR_SOURCE=replay",
    );
  }
  return {
    logLevel: c.LOG_LEVEL,
    clusterSecret: c.CLUSTER_SECRET,
    httpPort: c.PORT_HTTP,
    grpcPort: c.PORT_GRPC,
    kafkaBrokers: c.KAFKA_BROKERS,
    source: c.INGESTOR_SOURCE,
    symbols: [...new Set(c.INGESTOR_SYMBOLS.split(","))],
    rate: c.INGESTOR_RATE,
    seed: c.INGESTOR_SEED,
    replayFile: c.INGESTOR_REPLAY_FILE,
    replaySpeed: c.INGESTOR_REPLAY_SPEED,
    maxBatch: c.INGESTOR_MAX_BATCH,
    lingerMs: c.INGESTOR_LINGER_MS,
  };
}
