/**
 * The consumer group APIs: JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetCommit,
 * OffsetFetch, DescribeGroups and ListGroups, over the {@linkcode GroupCoordinator}.
 *
 * @module
 */
import { ErrorCode } from "../protocol/error_codes.ts";
import type {
  DeleteGroupsRequest,
  DeleteGroupsResponse,
  DescribeGroupsRequest,
  DescribeGroupsResponse,
  HeartbeatRequest,
  HeartbeatResponse,
  JoinGroupRequest,
  JoinGroupResponse,
  LeaveGroupRequest,
  LeaveGroupResponse,
  ListGroupsRequest,
  ListGroupsResponse,
  OffsetCommitRequest,
  OffsetCommitResponse,
  OffsetDeleteRequest,
  OffsetDeleteResponse,
  OffsetFetchRequest,
  OffsetFetchResponse,
  SyncGroupRequest,
  SyncGroupResponse,
} from "../protocol/types.ts";
import type { BrokerState, RequestContext } from "./context.ts";

/** JoinGroup: waits for the rebalance to complete. */
export function handleJoinGroup(
  state: BrokerState,
  ctx: RequestContext,
  request: JoinGroupRequest,
): Promise<JoinGroupResponse> {
  return state.coordinator.join(request.groupId, {
    request,
    clientId: ctx.clientId ?? "",
    clientHost: ctx.clientHost,
    requireKnownMemberId: ctx.apiVersion >= 4,
  });
}

/** SyncGroup: waits for the leader's assignment. */
export function handleSyncGroup(
  state: BrokerState,
  request: SyncGroupRequest,
): Promise<SyncGroupResponse> {
  return state.coordinator.sync(request);
}

/** Heartbeat. */
export function handleHeartbeat(state: BrokerState, request: HeartbeatRequest): HeartbeatResponse {
  return {
    throttleTimeMs: 0,
    errorCode: state.coordinator.heartbeat(
      request.groupId,
      request.memberId,
      request.generationId,
      request.groupInstanceId,
    ),
  };
}

/** LeaveGroup: one member (v0-v2) or a batch of members (v3+). */
export function handleLeaveGroup(
  state: BrokerState,
  ctx: RequestContext,
  request: LeaveGroupRequest,
): LeaveGroupResponse {
  if (ctx.apiVersion < 3) {
    return {
      throttleTimeMs: 0,
      errorCode: state.coordinator.leave(request.groupId, request.memberId),
      members: [],
    };
  }
  const members = request.members.map((m) => ({
    memberId: m.memberId,
    groupInstanceId: m.groupInstanceId,
    errorCode: state.coordinator.leave(request.groupId, m.memberId, m.groupInstanceId),
  }));
  return { throttleTimeMs: 0, errorCode: ErrorCode.NONE, members };
}

/** OffsetCommit: validated against the group's generation, acknowledged once durable. */
export async function handleOffsetCommit(
  state: BrokerState,
  request: OffsetCommitRequest,
): Promise<OffsetCommitResponse> {
  const groupError = state.coordinator.validateCommit(
    request.groupId,
    request.memberId,
    request.generationId,
    request.groupInstanceId,
  );
  const now = Date.now();
  const entries: Parameters<typeof state.coordinator.commit>[1] = [];
  const topics = request.topics.map((topic) => ({
    name: topic.name,
    partitions: topic.partitions.map((p) => {
      let errorCode: number = groupError;
      if (
        errorCode === ErrorCode.NONE && state.topics.get(topic.name, p.partitionIndex) === undefined
      ) {
        errorCode = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
      }
      if (errorCode === ErrorCode.NONE) {
        entries.push({
          topic: topic.name,
          partition: p.partitionIndex,
          offset: {
            offset: p.committedOffset,
            leaderEpoch: p.committedLeaderEpoch,
            metadata: p.committedMetadata,
            commitTimestamp: now,
          },
        });
      }
      return { partitionIndex: p.partitionIndex, errorCode };
    }),
  }));
  if (entries.length > 0) {
    try {
      await state.coordinator.commit(request.groupId, entries);
    } catch {
      for (const topic of topics) {
        for (const p of topic.partitions) {
          if (p.errorCode === ErrorCode.NONE) p.errorCode = ErrorCode.KAFKA_STORAGE_ERROR;
        }
      }
    }
  }
  return { throttleTimeMs: 0, topics };
}

/** OffsetFetch: committed offsets (-1 when none) for the listed partitions, or all (null). */
export function handleOffsetFetch(
  state: BrokerState,
  request: OffsetFetchRequest,
): OffsetFetchResponse {
  const offsets = state.coordinator.offsets;
  if (request.topics === null) {
    const byTopic = new Map<string, OffsetFetchResponse["topics"][number]>();
    for (const [topic, partition, c] of offsets.list(request.groupId)) {
      let entry = byTopic.get(topic);
      if (entry === undefined) {
        entry = { name: topic, partitions: [] };
        byTopic.set(topic, entry);
      }
      entry.partitions.push({
        partitionIndex: partition,
        committedOffset: c.offset,
        committedLeaderEpoch: c.leaderEpoch,
        metadata: c.metadata ?? "",
        errorCode: ErrorCode.NONE,
      });
    }
    return { throttleTimeMs: 0, topics: [...byTopic.values()], errorCode: ErrorCode.NONE };
  }
  return {
    throttleTimeMs: 0,
    errorCode: ErrorCode.NONE,
    topics: request.topics.map((topic) => ({
      name: topic.name,
      partitions: topic.partitionIndexes.map((partition) => {
        const c = offsets.get(request.groupId, topic.name, partition);
        return {
          partitionIndex: partition,
          committedOffset: c?.offset ?? -1,
          committedLeaderEpoch: c?.leaderEpoch ?? -1,
          metadata: c?.metadata ?? "",
          errorCode: ErrorCode.NONE,
        };
      }),
    })),
  };
}

/** DescribeGroups. */
export function handleDescribeGroups(
  state: BrokerState,
  request: DescribeGroupsRequest,
): DescribeGroupsResponse {
  return { throttleTimeMs: 0, groups: request.groups.map((g) => state.coordinator.describe(g)) };
}

/** ListGroups, filtered by state (v4+) when the filter is not empty. */
export function handleListGroups(
  state: BrokerState,
  request: ListGroupsRequest,
): ListGroupsResponse {
  const filter = new Set(request.statesFilter.map((s) => s.toLowerCase()));
  const groups = state.coordinator.list().filter((g) =>
    filter.size === 0 || filter.has(g.groupState.toLowerCase())
  );
  return { throttleTimeMs: 0, errorCode: ErrorCode.NONE, groups };
}

/** DeleteGroups: each group with its offsets, once durable; a group with members is refused. */
export async function handleDeleteGroups(
  state: BrokerState,
  request: DeleteGroupsRequest,
): Promise<DeleteGroupsResponse> {
  const results = [];
  for (const groupId of request.groupsNames) {
    let errorCode: number;
    try {
      errorCode = await state.coordinator.deleteGroup(groupId);
    } catch {
      errorCode = ErrorCode.KAFKA_STORAGE_ERROR;
    }
    results.push({ groupId, errorCode });
  }
  return { throttleTimeMs: 0, results };
}

/** OffsetDelete: committed offsets of partitions no member subscribes to, once durable. */
export async function handleOffsetDelete(
  state: BrokerState,
  request: OffsetDeleteRequest,
): Promise<OffsetDeleteResponse> {
  const partitions = request.topics.flatMap((t) =>
    t.partitions.map((partition) => ({ topic: t.name, partition }))
  );
  let result: { errorCode: number; partitionErrors: number[] };
  try {
    result = await state.coordinator.deleteOffsets(request.groupId, partitions);
  } catch {
    result = { errorCode: ErrorCode.KAFKA_STORAGE_ERROR, partitionErrors: [] };
  }
  if (result.errorCode !== ErrorCode.NONE) {
    return { errorCode: result.errorCode, throttleTimeMs: 0, topics: [] };
  }
  let i = 0;
  const topics = request.topics.map((t) => ({
    name: t.name,
    partitions: t.partitions.map((partitionIndex) => {
      const subscribedError = result.partitionErrors[i++] ?? ErrorCode.NONE;
      const unknown = state.topics.get(t.name, partitionIndex) === undefined;
      return {
        partitionIndex,
        errorCode: subscribedError !== ErrorCode.NONE
          ? subscribedError
          : unknown
          ? ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
          : ErrorCode.NONE,
      };
    }),
  }));
  return { errorCode: ErrorCode.NONE, throttleTimeMs: 0, topics };
}
