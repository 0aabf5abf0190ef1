/**
 * TypeScript shapes of the decoded requests and of the responses the handlers build, all
 * derived from the schemas in messages.ts, so the schema is the one source of each. A
 * request's type is `Decoded` (schema.ts): every field present, absent versions' fields
 * holding defaults. A response's type is `Encodable`: what a handler gives the encoder, where
 * a field that declares a default in its schema may be left out. A client that reads a
 * response (the raw test client) gets `Decoded` of the response schema.
 *
 * @module
 */
import type * as M from "./messages.ts";
import type { Decoded, Encodable } from "./schema.ts";

export type ProduceRequest = Decoded<typeof M.produce.request>;
export type ProduceResponse = Encodable<typeof M.produce.response>;
export type ProducePartitionResponse = ProduceResponse["responses"][number]["partitions"][number];

export type FetchRequest = Decoded<typeof M.fetch.request>;
export type FetchResponse = Encodable<typeof M.fetch.response>;
export type FetchPartitionResponse = FetchResponse["responses"][number]["partitions"][number];

export type ListOffsetsRequest = Decoded<typeof M.listOffsets.request>;
export type ListOffsetsResponse = Encodable<typeof M.listOffsets.response>;
export type ListOffsetsPartitionResponse =
  ListOffsetsResponse["topics"][number]["partitions"][number];

export type MetadataRequest = Decoded<typeof M.metadata.request>;
export type MetadataResponse = Encodable<typeof M.metadata.response>;
export type MetadataTopic = MetadataResponse["topics"][number];
export type MetadataPartition = MetadataTopic["partitions"][number];

export type OffsetCommitRequest = Decoded<typeof M.offsetCommit.request>;
export type OffsetCommitResponse = Encodable<typeof M.offsetCommit.response>;

export type OffsetFetchRequest = Decoded<typeof M.offsetFetch.request>;
export type OffsetFetchResponse = Encodable<typeof M.offsetFetch.response>;

export type FindCoordinatorRequest = Decoded<typeof M.findCoordinator.request>;
export type FindCoordinatorResponse = Encodable<typeof M.findCoordinator.response>;

export type JoinGroupRequest = Decoded<typeof M.joinGroup.request>;
export type JoinGroupResponse = Encodable<typeof M.joinGroup.response>;

export type HeartbeatRequest = Decoded<typeof M.heartbeat.request>;
export type HeartbeatResponse = Encodable<typeof M.heartbeat.response>;

export type LeaveGroupRequest = Decoded<typeof M.leaveGroup.request>;
export type LeaveGroupResponse = Encodable<typeof M.leaveGroup.response>;

export type SyncGroupRequest = Decoded<typeof M.syncGroup.request>;
export type SyncGroupResponse = Encodable<typeof M.syncGroup.response>;

export type DescribeGroupsRequest = Decoded<typeof M.describeGroups.request>;
export type DescribeGroupsResponse = Encodable<typeof M.describeGroups.response>;
export type DescribedGroup = DescribeGroupsResponse["groups"][number];

export type ListGroupsRequest = Decoded<typeof M.listGroups.request>;
export type ListGroupsResponse = Encodable<typeof M.listGroups.response>;

export type ApiVersionsRequest = Decoded<typeof M.apiVersions.request>;
export type ApiVersionsResponse = Encodable<typeof M.apiVersions.response>;

export type CreateTopicsRequest = Decoded<typeof M.createTopics.request>;
export type CreateTopicsResponse = Encodable<typeof M.createTopics.response>;
/** One config of a created topic in CreateTopics v5+ (KIP-525). */
export type CreatedTopicConfig = NonNullable<
  CreateTopicsResponse["topics"][number]["configs"]
>[number];

export type CreatePartitionsRequest = Decoded<typeof M.createPartitions.request>;
export type CreatePartitionsResponse = Encodable<typeof M.createPartitions.response>;

export type DeleteGroupsRequest = Decoded<typeof M.deleteGroups.request>;
export type DeleteGroupsResponse = Encodable<typeof M.deleteGroups.response>;

export type OffsetDeleteRequest = Decoded<typeof M.offsetDelete.request>;
export type OffsetDeleteResponse = Encodable<typeof M.offsetDelete.response>;

export type DeleteRecordsRequest = Decoded<typeof M.deleteRecords.request>;
export type DeleteRecordsResponse = Encodable<typeof M.deleteRecords.response>;

export type DescribeConfigsRequest = Decoded<typeof M.describeConfigs.request>;
export type DescribeConfigsResponse = Encodable<typeof M.describeConfigs.response>;
/** One described config entry. */
export type DescribedConfig = DescribeConfigsResponse["results"][number]["configs"][number];

export type AlterConfigsRequest = Decoded<typeof M.alterConfigs.request>;
export type IncrementalAlterConfigsRequest = Decoded<typeof M.incrementalAlterConfigs.request>;
/** The response of AlterConfigs and of IncrementalAlterConfigs (one schema, messages.ts). */
export type AlterConfigsResponse = Encodable<typeof M.alterConfigs.response>;

export type DeleteTopicsRequest = Decoded<typeof M.deleteTopics.request>;
export type DeleteTopicsResponse = Encodable<typeof M.deleteTopics.response>;

export type InitProducerIdRequest = Decoded<typeof M.initProducerId.request>;
export type InitProducerIdResponse = Encodable<typeof M.initProducerId.response>;

export type AddPartitionsToTxnRequest = Decoded<typeof M.addPartitionsToTxn.request>;
export type AddPartitionsToTxnResponse = Encodable<typeof M.addPartitionsToTxn.response>;

export type AddOffsetsToTxnRequest = Decoded<typeof M.addOffsetsToTxn.request>;
export type AddOffsetsToTxnResponse = Encodable<typeof M.addOffsetsToTxn.response>;

export type EndTxnRequest = Decoded<typeof M.endTxn.request>;
export type EndTxnResponse = Encodable<typeof M.endTxn.response>;

export type TxnOffsetCommitRequest = Decoded<typeof M.txnOffsetCommit.request>;
export type TxnOffsetCommitResponse = Encodable<typeof M.txnOffsetCommit.response>;
