/**
 * The order-executor's defaults, written once: its config (config.ts) and its Kafka flow
 * (order_executor.ts) both take them from here, and the supervisor's child specs take the
 * ports.
 *
 * @module
 */

/** Every default of the order-executor role. */
export const ORDER_EXECUTOR_DEFAULTS = {
  /** `PORT_GRPC` and `PORT_HTTP`. */
  ports: { grpc: 50053, http: 8085 },
  /** How long a command waits for the price feed to reach its tick, ms. */
  priceWaitMs: 250,
  /** Consumer-group session timeout, ms. */
  sessionTimeoutMs: 10_000,
  /** Largest number of commands recorded, published and committed together. */
  chunkSize: 500,
  /** How long a published event stays in the outbox before it is pruned, ms (24 h). */
  outboxRetentionMs: 86_400_000,
  /** Publish a chunk's events and commit its offset in one Kafka transaction. */
  transactions: true,
  /**
   * `transaction.timeout.ms` of the transactional producers, ms: how long a transaction an
   * executor left open (killed mid-chunk) holds back read_committed readers at most, when no
   * executor takes its partition over sooner. Kafka Streams uses 10 s too.
   */
  transactionTimeoutMs: 10_000,
} as const;
