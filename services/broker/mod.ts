/**
 * The embedded Kafka-protocol broker: `startBroker()` runs a single-node broker over TCP
 * with a durable log that kafkajs, librdkafka and kafka-python use unchanged.
 *
 * @module
 */
export { type Broker, type BrokerOptions, type FlushMode, startBroker } from "./broker.ts";
