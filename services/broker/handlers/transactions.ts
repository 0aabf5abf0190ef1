/**
 * AddPartitionsToTxn, AddOffsetsToTxn, EndTxn and TxnOffsetCommit: the transaction APIs,
 * answered by the {@linkcode TransactionCoordinator}. Versions that predate KIP-588 get
 * INVALID_PRODUCER_EPOCH where newer ones get PRODUCER_FENCED, as Kafka's KafkaApis does.
 *
 * @module
 */
import { ErrorCode } from "../protocol/error_codes.ts";
import type {
  AddOffsetsToTxnRequest,
  AddOffsetsToTxnResponse,
  AddPartitionsToTxnRequest,
  AddPartitionsToTxnResponse,
  EndTxnRequest,
  EndTxnResponse,
  TxnOffsetCommitRequest,
  TxnOffsetCommitResponse,
} from "../protocol/types.ts";
import type { BrokerState, RequestContext } from "./context.ts";

/**
 * PRODUCER_FENCED as an API version understands it: INVALID_PRODUCER_EPOCH below
 * `fencedFrom` (clients before KIP-588 do not know code 90).
 */
export function fencedForVersion(errorCode: number, version: number, fencedFrom: number): number {
  return errorCode === ErrorCode.PRODUCER_FENCED && version < fencedFrom
    ? ErrorCode.INVALID_PRODUCER_EPOCH
    : errorCode;
}

/** AddPartitionsToTxn (v0-3): one error code per partition. */
export async function handleAddPartitionsToTxn(
  state: BrokerState,
  ctx: RequestContext,
  request: AddPartitionsToTxnRequest,
): Promise<AddPartitionsToTxnResponse> {
  const partitions = request.topics.flatMap((t) =>
    t.partitions.map((partition) => ({ topic: t.name, partition }))
  );
  const codes = await state.transactions.addPartitions(
    request.transactionalId,
    request.producerId,
    request.producerEpoch,
    partitions,
  );
  let i = 0;
  return {
    throttleTimeMs: 0,
    results: request.topics.map((t) => ({
      name: t.name,
      results: t.partitions.map((partitionIndex) => ({
        partitionIndex,
        errorCode: fencedForVersion(codes[i++]!, ctx.apiVersion, 2),
      })),
    })),
  };
}

/** AddOffsetsToTxn (v0-3). */
export async function handleAddOffsetsToTxn(
  state: BrokerState,
  ctx: RequestContext,
  request: AddOffsetsToTxnRequest,
): Promise<AddOffsetsToTxnResponse> {
  const errorCode = await state.transactions.addOffsets(
    request.transactionalId,
    request.producerId,
    request.producerEpoch,
    request.groupId,
  );
  return { throttleTimeMs: 0, errorCode: fencedForVersion(errorCode, ctx.apiVersion, 2) };
}

/** EndTxn (v0-3): answered once the markers are durable. */
export async function handleEndTxn(
  state: BrokerState,
  ctx: RequestContext,
  request: EndTxnRequest,
): Promise<EndTxnResponse> {
  const errorCode = await state.transactions.endTxn(
    request.transactionalId,
    request.producerId,
    request.producerEpoch,
    request.committed,
  );
  return { throttleTimeMs: 0, errorCode: fencedForVersion(errorCode, ctx.apiVersion, 2) };
}

/**
 * TxnOffsetCommit (v0-3): offsets kept with the transaction until it ends. From v3 the
 * consumer's generation is checked as OffsetCommit does (KIP-447), so a member rebalanced
 * away cannot commit; a commit without a generation (v0-2, or -1) is not checked, as Kafka.
 */
export async function handleTxnOffsetCommit(
  state: BrokerState,
  ctx: RequestContext,
  request: TxnOffsetCommitRequest,
): Promise<TxnOffsetCommitResponse> {
  let errorCode: number = ErrorCode.NONE;
  if (request.generationId >= 0 || request.memberId !== "") {
    errorCode = state.coordinator.validateCommit(
      request.groupId,
      request.memberId,
      request.generationId,
      request.groupInstanceId,
    );
  } else if (request.groupId === "") {
    errorCode = ErrorCode.INVALID_GROUP_ID;
  }
  const offsets = request.topics.flatMap((t) =>
    t.partitions.map((p) => ({
      topic: t.name,
      partition: p.partitionIndex,
      offset: p.committedOffset,
      leaderEpoch: p.committedLeaderEpoch,
      metadata: p.committedMetadata,
    }))
  );
  const unknown = offsets.some((o) => state.topics.get(o.topic, o.partition) === undefined);
  if (errorCode === ErrorCode.NONE && !unknown) {
    errorCode = await state.transactions.commitOffsets(
      request.transactionalId,
      request.producerId,
      request.producerEpoch,
      request.groupId,
      offsets,
    );
  }
  return {
    throttleTimeMs: 0,
    topics: request.topics.map((t) => ({
      name: t.name,
      partitions: t.partitions.map((p) => ({
        partitionIndex: p.partitionIndex,
        errorCode: errorCode !== ErrorCode.NONE
          ? fencedForVersion(errorCode, ctx.apiVersion, 2)
          : state.topics.get(t.name, p.partitionIndex) === undefined
          ? ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
          : unknown
          ? ErrorCode.OPERATION_NOT_ATTEMPTED
          : ErrorCode.NONE,
      })),
    })),
  };
}
