/**
 * The environment of a pipeline under chaos: a feed fast enough that orders flow every
 * second or so, and every service's data inside the run's own directory.
 *
 * @module
 */
import { join } from "node:path";

/**
 * The environment for `main.ts up` under chaos, with data under `dataDir`. Services read it
 * through the supervisor, whose environment every child inherits.
 */
export function chaosPipelineEnv(dataDir: string): Record<string, string> {
  return {
    // Ticks per second of the synthetic market: enough for several orders a second.
    INGESTOR_RATE: "50",
    // A SIGKILLed consumer never leaves its group: its partitions move once its session
    // expires. 5 s rather than the default 10 s halves that wait (heartbeats stay at 1 s).
    EXECUTOR_SESSION_TIMEOUT_MS: "5000",
    STREAM_PROCESSOR_SESSION_TIMEOUT_MS: "5000",
    // The services' own state, never the repository's .data (pipeline_specs.ts sets the
    // broker's and the Raft nodes'; these are set here in case it does not yet).
    EXECUTOR_DATA_DIR: join(dataDir, "order-executor"),
    STREAM_PROCESSOR_DATA_DIR: join(dataDir, "stream-processor"),
  };
}
