/**
 * The partition a keyed message lands on, computed exactly as kafkajs's default partitioner
 * (murmur2, as the Java client) does, so that a process can know where a producer put a key
 * without asking the broker.
 *
 * @module
 */
import { Partitioners } from "kafkajs";

const partitioner = Partitioners.DefaultPartitioner();

/** Returns the partition of `key` in a topic of `partitionCount` partitions. */
export function partitionForKey(key: string, partitionCount: number): number {
  if (!Number.isInteger(partitionCount) || partitionCount < 1) {
    throw new Error(`Invalid partition count ${partitionCount}: expected an integer >= 1`);
  }
  const partitionMetadata = Array.from({ length: partitionCount }, (_, partitionId) => ({
    partitionId,
    leader: 0,
    replicas: [0],
    isr: [0],
    offlineReplicas: [],
    partitionErrorCode: 0,
  }));
  return partitioner({ topic: "", partitionMetadata, message: { key, value: null } });
}
