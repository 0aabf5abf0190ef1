/**
 * TypeScript shapes of the decoded requests and the responses the handlers build. A request's
 * type is derived from its schema in messages.ts (`Decoded`, schema.ts), so the schema is the
 * one source of both (fields absent in a version hold defaults). The responses are written
 * here, since a handler may leave out fields whose schema gives a default.
 *
 * @module
 */
import type * as M from "./messages.ts";
import type { Decoded } from "./schema.ts";

export type ProduceRequest = Decoded<typeof M.produce.request>;
export interface ProducePartitionResponse {
  index: number;
  errorCode: number;
  baseOffset: number;
  logAppendTimeMs: number;
  logStartOffset: number;
  errorMessage?: string | null;
}
export interface ProduceResponse {
  responses: { name: string; partitions: ProducePartitionResponse[] }[];
  throttleTimeMs: number;
}

export type FetchRequest = Decoded<typeof M.fetch.request>;
export interface FetchPartitionResponse {
  partitionIndex: number;
  errorCode: number;
  highWatermark: number;
  lastStableOffset: number;
  logStartOffset: number;
  abortedTransactions: { producerId: number; firstOffset: number }[] | null;
  preferredReadReplica: number;
  records: Uint8Array | null;
}
export interface FetchResponse {
  throttleTimeMs: number;
  errorCode: number;
  sessionId: number;
  responses: { topic: string; partitions: FetchPartitionResponse[] }[];
}

export type ListOffsetsRequest = Decoded<typeof M.listOffsets.request>;
export interface ListOffsetsPartitionResponse {
  partitionIndex: number;
  errorCode: number;
  oldStyleOffsets: number[];
  timestamp: number;
  offset: number;
  leaderEpoch: number;
}
export interface ListOffsetsResponse {
  throttleTimeMs: number;
  topics: { name: string; partitions: ListOffsetsPartitionResponse[] }[];
}

export type MetadataRequest = Decoded<typeof M.metadata.request>;
export interface MetadataPartition {
  errorCode: number;
  partitionIndex: number;
  leaderId: number;
  leaderEpoch: number;
  replicaNodes: number[];
  isrNodes: number[];
  offlineReplicas: number[];
}
export interface MetadataTopic {
  errorCode: number;
  name: string;
  isInternal: boolean;
  partitions: MetadataPartition[];
}
export interface MetadataResponse {
  throttleTimeMs: number;
  brokers: { nodeId: number; host: string; port: number; rack: string | null }[];
  clusterId: string | null;
  controllerId: number;
  topics: MetadataTopic[];
}

export type OffsetCommitRequest = Decoded<typeof M.offsetCommit.request>;
export interface OffsetCommitResponse {
  throttleTimeMs: number;
  topics: { name: string; partitions: { partitionIndex: number; errorCode: number }[] }[];
}

export type OffsetFetchRequest = Decoded<typeof M.offsetFetch.request>;
export interface OffsetFetchResponse {
  throttleTimeMs: number;
  topics: {
    name: string;
    partitions: {
      partitionIndex: number;
      committedOffset: number;
      committedLeaderEpoch: number;
      metadata: string | null;
      errorCode: number;
    }[];
  }[];
  errorCode: number;
}

export type FindCoordinatorRequest = Decoded<typeof M.findCoordinator.request>;
export interface FindCoordinatorResponse {
  throttleTimeMs: number;
  errorCode: number;
  errorMessage: string | null;
  nodeId: number;
  host: string;
  port: number;
}

export type JoinGroupRequest = Decoded<typeof M.joinGroup.request>;
export interface JoinGroupResponse {
  throttleTimeMs: number;
  errorCode: number;
  generationId: number;
  protocolType: string | null;
  protocolName: string | null;
  leader: string;
  memberId: string;
  members: { memberId: string; groupInstanceId: string | null; metadata: Uint8Array }[];
}

export type HeartbeatRequest = Decoded<typeof M.heartbeat.request>;
export interface ErrorOnlyResponse {
  throttleTimeMs: number;
  errorCode: number;
}

export type LeaveGroupRequest = Decoded<typeof M.leaveGroup.request>;
export interface LeaveGroupResponse {
  throttleTimeMs: number;
  errorCode: number;
  members: { memberId: string; groupInstanceId: string | null; errorCode: number }[];
}

export type SyncGroupRequest = Decoded<typeof M.syncGroup.request>;
export interface SyncGroupResponse {
  throttleTimeMs: number;
  errorCode: number;
  protocolType: string | null;
  protocolName: string | null;
  assignment: Uint8Array;
}

export type DescribeGroupsRequest = Decoded<typeof M.describeGroups.request>;
export interface DescribedGroup {
  errorCode: number;
  groupId: string;
  groupState: string;
  protocolType: string;
  protocolData: string;
  members: {
    memberId: string;
    groupInstanceId: string | null;
    clientId: string;
    clientHost: string;
    memberMetadata: Uint8Array;
    memberAssignment: Uint8Array;
  }[];
}
export interface DescribeGroupsResponse {
  throttleTimeMs: number;
  groups: DescribedGroup[];
}

export type ListGroupsRequest = Decoded<typeof M.listGroups.request>;
export interface ListGroupsResponse {
  throttleTimeMs: number;
  errorCode: number;
  groups: { groupId: string; protocolType: string; groupState: string }[];
}

export type ApiVersionsRequest = Decoded<typeof M.apiVersions.request>;
export interface ApiVersionsResponse {
  errorCode: number;
  apiKeys: { apiKey: number; minVersion: number; maxVersion: number }[];
  throttleTimeMs: number;
}

export type CreateTopicsRequest = Decoded<typeof M.createTopics.request>;
export interface CreateTopicsResponse {
  throttleTimeMs: number;
  topics: {
    name: string;
    errorCode: number;
    errorMessage: string | null;
    numPartitions: number;
    replicationFactor: number;
    configs: CreatedTopicConfig[] | null;
  }[];
}
/** One config of a created topic in CreateTopics v5+ (KIP-525). */
export interface CreatedTopicConfig {
  name: string;
  value: string | null;
  readOnly: boolean;
  configSource: number;
  isSensitive: boolean;
}

export type CreatePartitionsRequest = Decoded<typeof M.createPartitions.request>;
export interface CreatePartitionsResponse {
  throttleTimeMs: number;
  results: { name: string; errorCode: number; errorMessage: string | null }[];
}

export type DeleteGroupsRequest = Decoded<typeof M.deleteGroups.request>;
export interface DeleteGroupsResponse {
  throttleTimeMs: number;
  results: { groupId: string; errorCode: number }[];
}

export type OffsetDeleteRequest = Decoded<typeof M.offsetDelete.request>;
export interface OffsetDeleteResponse {
  errorCode: number;
  throttleTimeMs: number;
  topics: { name: string; partitions: { partitionIndex: number; errorCode: number }[] }[];
}

export type DeleteRecordsRequest = Decoded<typeof M.deleteRecords.request>;
export interface DeleteRecordsResponse {
  throttleTimeMs: number;
  topics: {
    name: string;
    partitions: { partitionIndex: number; lowWatermark: number; errorCode: number }[];
  }[];
}

export type DescribeConfigsRequest = Decoded<typeof M.describeConfigs.request>;
/** One described config entry. */
export interface DescribedConfig {
  name: string;
  value: string | null;
  readOnly: boolean;
  /** DescribeConfigs v0 only. */
  isDefault: boolean;
  configSource: number;
  isSensitive: boolean;
  synonyms: { name: string; value: string | null; source: number }[];
  configType: number;
  documentation: string | null;
}
export interface DescribeConfigsResponse {
  throttleTimeMs: number;
  results: {
    errorCode: number;
    errorMessage: string | null;
    resourceType: number;
    resourceName: string;
    configs: DescribedConfig[];
  }[];
}

export type AlterConfigsRequest = Decoded<typeof M.alterConfigs.request>;
export type IncrementalAlterConfigsRequest = Decoded<typeof M.incrementalAlterConfigs.request>;
/** The response of AlterConfigs and of IncrementalAlterConfigs. */
export interface AlterConfigsResponse {
  throttleTimeMs: number;
  responses: {
    errorCode: number;
    errorMessage: string | null;
    resourceType: number;
    resourceName: string;
  }[];
}

export type DeleteTopicsRequest = Decoded<typeof M.deleteTopics.request>;
export interface DeleteTopicsResponse {
  throttleTimeMs: number;
  responses: { name: string; errorCode: number }[];
}

export type InitProducerIdRequest = Decoded<typeof M.initProducerId.request>;
export interface InitProducerIdResponse {
  throttleTimeMs: number;
  errorCode: number;
  producerId: number;
  producerEpoch: number;
}

export type AddPartitionsToTxnRequest = Decoded<typeof M.addPartitionsToTxn.request>;
export interface AddPartitionsToTxnResponse {
  throttleTimeMs: number;
  results: { name: string; results: { partitionIndex: number; errorCode: number }[] }[];
}

export type AddOffsetsToTxnRequest = Decoded<typeof M.addOffsetsToTxn.request>;
export interface AddOffsetsToTxnResponse {
  throttleTimeMs: number;
  errorCode: number;
}

export type EndTxnRequest = Decoded<typeof M.endTxn.request>;
export interface EndTxnResponse {
  throttleTimeMs: number;
  errorCode: number;
}

export type TxnOffsetCommitRequest = Decoded<typeof M.txnOffsetCommit.request>;
export interface TxnOffsetCommitResponse {
  throttleTimeMs: number;
  topics: { name: string; partitions: { partitionIndex: number; errorCode: number }[] }[];
}
