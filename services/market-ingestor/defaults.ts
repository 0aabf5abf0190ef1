/**
 * The market-ingestor's defaults, written once: its config (config.ts) and its publisher
 * (market_ingestor.ts) both take them from here, and the supervisor's child specs take the
 * ports.
 *
 * @module
 */

/** Every default the market-ingestor's config and its publisher share. */
export const MARKET_INGESTOR_DEFAULTS = {
  /** `PORT_GRPC` and `PORT_HTTP`. */
  ports: { grpc: 50051, http: 8083 },
  /** Largest batch per publish. */
  maxBatch: 5000,
  /** Least time between two publishes, ms. */
  lingerMs: 5,
} as const;
