/**
 * A workaround for kafkajs 2.2.4 on clusters whose Metadata names no reachable controller.
 *
 * kafkajs sends an idempotent producer's InitProducerId (and the admin's CreateTopics,
 * DeleteTopics, CreatePartitions...) to "the controller": the broker whose id Metadata
 * reports as `controller_id`. When that id is not among the brokers of the same answer,
 * `findControllerBroker()` throws `Broker <id> not found in the cached metadata` on every
 * attempt, and a service's start-up retries forever. That happens on Kafka-compatible
 * clusters that report no controller (-1) or an id clients cannot reach: librdkafka's mock
 * cluster (brokers 1..N, controller 0), and KRaft or proxy set-ups where the controllers are
 * not brokers. Apache Kafka answers InitProducerId without a transactional id on any broker,
 * and (since 2.7, KIP-590) forwards admin requests sent to a non-controller, so any listed
 * broker is a correct target then.
 *
 * The fix makes `Cluster.findControllerBroker()` use the listed broker with the lowest id
 * when the reported controller is not listed, and leaves kafkajs's behaviour unchanged when it
 * is. The patch is applied to kafkajs's class in memory, once, by `createKafka`
 * (./kafka.ts); node_modules stays as installed.
 *
 * @module
 */
import Cluster from "kafkajs/src/cluster/index.js";

interface BrokerMetadata {
  nodeId: number;
}

/** The part of kafkajs's internal Cluster (src/cluster) the fix touches. */
interface ClusterPrototype {
  brokerPool: { metadata?: { controllerId?: number | null; brokers?: BrokerMetadata[] } | null };
  findBroker(this: ClusterPrototype, query: { nodeId: number }): Promise<unknown>;
  findControllerBroker(this: ClusterPrototype): Promise<unknown>;
  [FIXED]?: true;
}

const FIXED = Symbol.for("trading.kafkajsControllerFix");

/**
 * The broker to use as the controller: the reported one when Metadata lists it, else the
 * listed broker with the lowest id; undefined when nothing is listed.
 */
export function controllerTarget(
  controllerId: number | null | undefined,
  brokers: readonly BrokerMetadata[],
): number | undefined {
  if (brokers.some((b) => b.nodeId === controllerId)) return controllerId ?? undefined;
  const ids = brokers.map((b) => b.nodeId).sort((a, b) => a - b);
  return ids[0];
}

/**
 * Makes kafkajs fall back to a listed broker when Metadata's controller is not one of them
 * (see the module comment). Idempotent; throws when the kafkajs in use has no such method.
 */
export function applyKafkaJsControllerFix(): void {
  const prototype = (Cluster as { prototype?: ClusterPrototype }).prototype;
  const original = prototype?.findControllerBroker;
  if (prototype === undefined || typeof original !== "function") {
    throw new Error(
      "Unsupported kafkajs version: expected 2.2.x with Cluster.findControllerBroker",
    );
  }
  if (prototype[FIXED]) return;
  prototype[FIXED] = true;
  prototype.findControllerBroker = function () {
    const metadata = this.brokerPool.metadata;
    const brokers = metadata?.brokers ?? [];
    const target = controllerTarget(metadata?.controllerId, brokers);
    if (metadata == null || target === undefined || target === metadata.controllerId) {
      return original.call(this);
    }
    return this.findBroker({ nodeId: target });
  };
}
