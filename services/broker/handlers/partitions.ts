/**
 * CreatePartitions (grow a topic) and DeleteRecords (move a partition's log start offset),
 * with the checks and error codes of Kafka's `ZkAdminManager.createPartitions` and
 * `ReplicaManager.deleteRecords`.
 *
 * @module
 */
import { ErrorCode } from "../protocol/error_codes.ts";
import type {
  CreatePartitionsRequest,
  CreatePartitionsResponse,
  DeleteRecordsRequest,
  DeleteRecordsResponse,
} from "../protocol/types.ts";
import { PartitionLimitError } from "../storage/topic_store.ts";
import type { BrokerState } from "./context.ts";

/** CreatePartitions: new empty partitions led by this broker, the only one. */
export async function handleCreatePartitions(
  state: BrokerState,
  request: CreatePartitionsRequest,
): Promise<CreatePartitionsResponse> {
  const seen = new Map<string, number>();
  for (const t of request.topics) seen.set(t.name, (seen.get(t.name) ?? 0) + 1);
  const results: CreatePartitionsResponse["results"] = [];
  for (const topic of request.topics) {
    const answer = (errorCode: number, errorMessage: string | null = null) => {
      results.push({ name: topic.name, errorCode, errorMessage });
    };
    if (seen.get(topic.name)! > 1) {
      answer(ErrorCode.INVALID_REQUEST, "Duplicate topic in request");
      continue;
    }
    const current = state.topics.partitions(topic.name)?.length;
    if (current === undefined) {
      answer(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `The topic '${topic.name}' does not exist`);
      continue;
    }
    if (topic.count < current) {
      answer(
        ErrorCode.INVALID_PARTITIONS,
        `Topic currently has ${current} partitions, which is higher than the requested ${topic.count}`,
      );
      continue;
    }
    if (topic.count === current) {
      answer(ErrorCode.INVALID_PARTITIONS, `Topic already has ${current} partitions`);
      continue;
    }
    const exceeded = state.topics.partitionLimitExceeded(topic.name, topic.count);
    if (exceeded !== undefined) {
      answer(ErrorCode.POLICY_VIOLATION, exceeded);
      continue;
    }
    const assignments = topic.assignments;
    if (assignments !== null) {
      const added = topic.count - current;
      if (assignments.length !== added) {
        answer(
          ErrorCode.INVALID_REPLICA_ASSIGNMENT,
          `Increasing the number of partitions by ${added} but ${assignments.length} assignments provided`,
        );
        continue;
      }
      const unknown = [
        ...new Set(assignments.flatMap((a) => a.brokerIds).filter((id) => id !== state.nodeId)),
      ];
      if (unknown.length > 0) {
        answer(
          ErrorCode.INVALID_REPLICA_ASSIGNMENT,
          `Unknown broker(s) in replica assignment: ${unknown.join(", ")}`,
        );
        continue;
      }
      if (assignments.some((a) => a.brokerIds.length !== 1)) {
        answer(
          ErrorCode.INVALID_REPLICA_ASSIGNMENT,
          `Invalid replica assignment: this broker is a single node, expected [${state.nodeId}]`,
        );
        continue;
      }
    }
    if (!request.validateOnly) {
      try {
        await state.topics.addPartitions(topic.name, topic.count);
      } catch (error) {
        // A concurrent request took the partitions the check above saw free.
        if (!(error instanceof PartitionLimitError)) throw error;
        answer(ErrorCode.POLICY_VIOLATION, error.message);
        continue;
      }
    }
    answer(ErrorCode.NONE);
  }
  return { throttleTimeMs: 0, results };
}

/** DeleteRecords: records before each offset (-1: the high watermark) become unreadable. */
export async function handleDeleteRecords(
  state: BrokerState,
  request: DeleteRecordsRequest,
): Promise<DeleteRecordsResponse> {
  const topics: DeleteRecordsResponse["topics"] = [];
  for (const topic of request.topics) {
    const partitions: DeleteRecordsResponse["topics"][number]["partitions"] = [];
    for (const p of topic.partitions) {
      const plog = state.topics.get(topic.name, p.partitionIndex);
      if (plog === undefined) {
        partitions.push({
          partitionIndex: p.partitionIndex,
          lowWatermark: -1,
          errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
        });
        continue;
      }
      try {
        const result = await plog.deleteRecordsBefore(p.offset);
        partitions.push({ partitionIndex: p.partitionIndex, ...result });
      } catch {
        // The checkpoint could not be written: nothing moved, the disk is at fault.
        partitions.push({
          partitionIndex: p.partitionIndex,
          lowWatermark: -1,
          errorCode: ErrorCode.KAFKA_STORAGE_ERROR,
        });
      }
    }
    topics.push({ name: topic.name, partitions });
  }
  return { throttleTimeMs: 0, topics };
}
