/**
 * The pipeline's topics and the partition counts they are created with: the one list, which
 * shared/kafka/kafka.ts re-exports and the supervisor hands to the embedded broker. No Kafka client
 * is loaded by importing it.
 *
 * @module
 */

/** The topics of the pipeline. */
export const TOPICS = {
  ticks: "market.ticks",
  commands: "orders.commands",
  events: "orders.events",
  dlq: "orders.dlq",
} as const;

/** Partition counts the pipeline creates its topics with. */
export const TOPIC_PARTITIONS: Record<string, number> = {
  [TOPICS.ticks]: 3,
  [TOPICS.commands]: 3,
  [TOPICS.events]: 3,
  [TOPICS.dlq]: 3,
};
