/**
 * The stream-processor's defaults, written once: its config (config.ts) and its Kafka flow
 * (stream_processor.ts) both take them from here, and the supervisor's child specs take the
 * ports.
 *
 * @module
 */

/** Every default the stream-processor's config and its Kafka flow share. */
export const STREAM_PROCESSOR_DEFAULTS = {
  /** `PORT_GRPC` and `PORT_HTTP`. */
  ports: { grpc: 50052, http: 8084 },
  /** Consumer-group session timeout, ms. */
  sessionTimeoutMs: 10_000,
  /** Largest number of ticks processed, produced and saved together. */
  chunkSize: 2000,
  /** Save the state at most this often, ms (0: after every chunk). */
  saveIntervalMs: 100,
} as const;
