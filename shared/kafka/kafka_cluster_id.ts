/**
 * The id of the Kafka cluster a client talks to. Local state that only makes sense against
 * one log (the stream-processor's offsets, the executor's outbox) is bound to it, so that
 * pointing a service at a new cluster (or a broker started on empty data) cannot make it
 * skip offsets or suppress events of a log it never saw.
 *
 * @module
 */
import type { Kafka } from "kafkajs";

/** Returns the cluster id reported by the brokers (Metadata v2+). */
export async function kafkaClusterId(kafka: Kafka): Promise<string> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const { clusterId } = await admin.describeCluster();
    if (!clusterId) throw new Error("Missing cluster id in Metadata: expected a Kafka >= 0.10.1");
    return clusterId;
  } finally {
    await admin.disconnect();
  }
}
