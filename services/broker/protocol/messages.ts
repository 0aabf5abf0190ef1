/**
 * The request and response schemas of every API the broker serves, transcribed from Apache
 * Kafka's JSON message definitions, with the versions we support. Field names are the
 * definitions' names in camelCase.
 *
 * @module
 */
import { field as f, message, type MessageSchema, structs } from "./schema.ts";

/** API keys of the Kafka protocol that the broker serves. */
export const ApiKey = {
  Produce: 0,
  Fetch: 1,
  ListOffsets: 2,
  Metadata: 3,
  OffsetCommit: 8,
  OffsetFetch: 9,
  FindCoordinator: 10,
  JoinGroup: 11,
  Heartbeat: 12,
  LeaveGroup: 13,
  SyncGroup: 14,
  DescribeGroups: 15,
  ListGroups: 16,
  ApiVersions: 18,
  CreateTopics: 19,
  DeleteTopics: 20,
  DeleteRecords: 21,
  InitProducerId: 22,
  AddPartitionsToTxn: 24,
  AddOffsetsToTxn: 25,
  EndTxn: 26,
  TxnOffsetCommit: 28,
  DescribeConfigs: 32,
  AlterConfigs: 33,
  CreatePartitions: 37,
  DeleteGroups: 42,
  OffsetDelete: 47,
  IncrementalAlterConfigs: 44,
} as const;

/** One API: its key, supported version range and the schemas of both directions. */
export interface ApiSpec<
  Req extends MessageSchema = MessageSchema,
  Res extends MessageSchema = MessageSchema,
> {
  key: number;
  name: string;
  minVersion: number;
  maxVersion: number;
  request: Req;
  response: Res;
}

/** Declares an API, keeping its schemas' types (see `Decoded` in schema.ts). */
function api<const Req extends MessageSchema, const Res extends MessageSchema>(
  spec: ApiSpec<Req, Res>,
): ApiSpec<Req, Res> {
  return spec;
}

const throttle = (v: string) => f("throttleTimeMs", "int32", v);

// Produce: min version 0 advertised because librdkafka refuses a broker that does not
// (it probes Produce v0 support for its MsgVer feature); only RecordBatch v2 is accepted.
// v9 is the first flexible version; v10 only adds the optional tagged CurrentLeader and
// NodeEndpoints to the response (KIP-951, not sent: there is one leader, which never moves)
// and v11 the TRANSACTION_ABORTABLE error code (KIP-890), which the broker never returns.
export const produce = api({
  key: ApiKey.Produce,
  name: "Produce",
  minVersion: 0,
  maxVersion: 11,
  request: message("ProduceRequest", "9+", [
    f("transactionalId", "string", "3+", { nullable: "0+", default: null }),
    f("acks", "int16"),
    f("timeoutMs", "int32"),
    structs("topics", "0+", [
      f("name", "string"),
      structs("partitions", "0+", [
        f("index", "int32"),
        f("records", "records", "0+", { nullable: "0+" }),
      ]),
    ]),
  ]),
  response: message("ProduceResponse", "9+", [
    structs("responses", "0+", [
      f("name", "string"),
      structs("partitions", "0+", [
        f("index", "int32"),
        f("errorCode", "int16"),
        f("baseOffset", "int64"),
        f("logAppendTimeMs", "int64", "2+", { default: -1 }),
        f("logStartOffset", "int64", "5+", { default: -1 }),
        structs("recordErrors", "8+", [
          f("batchIndex", "int32"),
          f("batchIndexErrorMessage", "string", "8+", { nullable: "8+" }),
        ]),
        f("errorMessage", "string", "8+", { nullable: "8+" }),
      ]),
    ]),
    throttle("1+"),
  ]),
});

// Fetch v12 is the first flexible version; v13 names topics by id (KIP-516); v15 moves the
// replica id into a tagged ReplicaState (KIP-903), v17 adds a tagged ReplicaDirectoryId
// (KIP-853): both are for followers and are skipped as unknown tags. The response's tagged
// DivergingEpoch, CurrentLeader, SnapshotId and NodeEndpoints (v16, KIP-951) are left out:
// they matter only when a leader moves or a follower diverges.
export const fetch = api({
  key: ApiKey.Fetch,
  name: "Fetch",
  minVersion: 4, // RecordBatch v2 only: v0-v3 would need down-conversion to message sets.
  maxVersion: 17,
  request: message("FetchRequest", "12+", [
    f("replicaId", "int32", "0-14", { default: -1 }),
    f("maxWaitMs", "int32"),
    f("minBytes", "int32"),
    f("maxBytes", "int32", "3+", { default: 0x7fffffff }),
    f("isolationLevel", "int8", "4+"),
    f("sessionId", "int32", "7+"),
    f("sessionEpoch", "int32", "7+", { default: -1 }),
    structs("topics", "0+", [
      f("topic", "string", "0-12"),
      f("topicId", "uuid", "13+"),
      structs("partitions", "0+", [
        f("partition", "int32"),
        f("currentLeaderEpoch", "int32", "9+", { default: -1 }),
        f("fetchOffset", "int64"),
        f("lastFetchedEpoch", "int32", "12+", { default: -1 }),
        f("logStartOffset", "int64", "5+", { default: -1 }),
        f("partitionMaxBytes", "int32"),
      ]),
    ]),
    structs("forgottenTopicsData", "7+", [
      f("topic", "string", "7-12"),
      f("topicId", "uuid", "13+"),
      f("partitions", "[]int32"),
    ]),
    f("rackId", "string", "11+"),
  ]),
  response: message("FetchResponse", "12+", [
    throttle("1+"),
    f("errorCode", "int16", "7+"),
    f("sessionId", "int32", "7+"),
    structs("responses", "0+", [
      f("topic", "string", "0-12"),
      f("topicId", "uuid", "13+"),
      structs("partitions", "0+", [
        f("partitionIndex", "int32"),
        f("errorCode", "int16"),
        f("highWatermark", "int64"),
        f("lastStableOffset", "int64", "4+", { default: -1 }),
        f("logStartOffset", "int64", "5+", { default: -1 }),
        structs("abortedTransactions", "4+", [
          f("producerId", "int64"),
          f("firstOffset", "int64"),
        ], { nullable: "4+" }),
        f("preferredReadReplica", "int32", "11+", { default: -1 }),
        f("records", "records", "0+", { nullable: "0+" }),
      ]),
    ]),
  ]),
});

export const listOffsets = api({
  key: ApiKey.ListOffsets,
  name: "ListOffsets",
  minVersion: 0,
  maxVersion: 7,
  request: message("ListOffsetsRequest", "6+", [
    f("replicaId", "int32"),
    f("isolationLevel", "int8", "2+"),
    structs("topics", "0+", [
      f("name", "string"),
      structs("partitions", "0+", [
        f("partitionIndex", "int32"),
        f("currentLeaderEpoch", "int32", "4+", { default: -1 }),
        f("timestamp", "int64"),
        f("maxNumOffsets", "int32", "0", { default: 1 }),
      ]),
    ]),
  ]),
  response: message("ListOffsetsResponse", "6+", [
    throttle("2+"),
    structs("topics", "0+", [
      f("name", "string"),
      structs("partitions", "0+", [
        f("partitionIndex", "int32"),
        f("errorCode", "int16"),
        f("oldStyleOffsets", "[]int64", "0"),
        f("timestamp", "int64", "1+", { default: -1 }),
        f("offset", "int64", "1+", { default: -1 }),
        f("leaderEpoch", "int32", "4+", { default: -1 }),
      ]),
    ]),
  ]),
});

// Metadata v10 adds topic ids (KIP-516), v11 drops includeClusterAuthorizedOperations, v12
// lets a request name a topic by id alone (a null name) and a response leave a name null.
export const metadata = api({
  key: ApiKey.Metadata,
  name: "Metadata",
  minVersion: 0,
  maxVersion: 12,
  request: message("MetadataRequest", "9+", [
    structs("topics", "0+", [
      f("topicId", "uuid", "10+"),
      f("name", "string", "0+", { nullable: "10+" }),
    ], { nullable: "1+" }),
    f("allowAutoTopicCreation", "bool", "4+", { default: true }),
    f("includeClusterAuthorizedOperations", "bool", "8-10"),
    f("includeTopicAuthorizedOperations", "bool", "8+"),
  ]),
  response: message("MetadataResponse", "9+", [
    throttle("3+"),
    structs("brokers", "0+", [
      f("nodeId", "int32"),
      f("host", "string"),
      f("port", "int32"),
      f("rack", "string", "1+", { nullable: "1+" }),
    ]),
    f("clusterId", "string", "2+", { nullable: "2+" }),
    f("controllerId", "int32", "1+", { default: -1 }),
    structs("topics", "0+", [
      f("errorCode", "int16"),
      f("name", "string", "0+", { nullable: "12+" }),
      f("topicId", "uuid", "10+"),
      f("isInternal", "bool", "1+"),
      structs("partitions", "0+", [
        f("errorCode", "int16"),
        f("partitionIndex", "int32"),
        f("leaderId", "int32"),
        f("leaderEpoch", "int32", "7+", { default: -1 }),
        f("replicaNodes", "[]int32"),
        f("isrNodes", "[]int32"),
        f("offlineReplicas", "[]int32", "5+"),
      ]),
      f("topicAuthorizedOperations", "int32", "8+", { default: -2147483648 }),
    ]),
    f("clusterAuthorizedOperations", "int32", "8-10", { default: -2147483648 }),
  ]),
});

export const offsetCommit = api({
  key: ApiKey.OffsetCommit,
  name: "OffsetCommit",
  minVersion: 0,
  maxVersion: 8,
  request: message("OffsetCommitRequest", "8+", [
    f("groupId", "string"),
    f("generationId", "int32", "1+", { default: -1 }),
    f("memberId", "string", "1+"),
    f("groupInstanceId", "string", "7+", { nullable: "7+" }),
    f("retentionTimeMs", "int64", "2-4", { default: -1 }),
    structs("topics", "0+", [
      f("name", "string"),
      structs("partitions", "0+", [
        f("partitionIndex", "int32"),
        f("committedOffset", "int64"),
        f("committedLeaderEpoch", "int32", "6+", { default: -1 }),
        f("commitTimestamp", "int64", "1", { default: -1 }),
        f("committedMetadata", "string", "0+", { nullable: "0+" }),
      ]),
    ]),
  ]),
  response: message("OffsetCommitResponse", "8+", [
    throttle("3+"),
    structs("topics", "0+", [
      f("name", "string"),
      structs("partitions", "0+", [f("partitionIndex", "int32"), f("errorCode", "int16")]),
    ]),
  ]),
});

export const offsetFetch = api({
  key: ApiKey.OffsetFetch,
  name: "OffsetFetch",
  minVersion: 0,
  maxVersion: 7,
  request: message("OffsetFetchRequest", "6+", [
    f("groupId", "string"),
    structs("topics", "0+", [f("name", "string"), f("partitionIndexes", "[]int32")], {
      nullable: "2+",
    }),
    f("requireStable", "bool", "7+"),
  ]),
  response: message("OffsetFetchResponse", "6+", [
    throttle("3+"),
    structs("topics", "0+", [
      f("name", "string"),
      structs("partitions", "0+", [
        f("partitionIndex", "int32"),
        f("committedOffset", "int64"),
        f("committedLeaderEpoch", "int32", "5+", { default: -1 }),
        f("metadata", "string", "0+", { nullable: "0+" }),
        f("errorCode", "int16"),
      ]),
    ]),
    f("errorCode", "int16", "2+"),
  ]),
});

export const findCoordinator = api({
  key: ApiKey.FindCoordinator,
  name: "FindCoordinator",
  minVersion: 0,
  maxVersion: 3,
  request: message("FindCoordinatorRequest", "3+", [
    f("key", "string"),
    f("keyType", "int8", "1+"),
  ]),
  response: message("FindCoordinatorResponse", "3+", [
    throttle("1+"),
    f("errorCode", "int16"),
    f("errorMessage", "string", "1+", { nullable: "1+" }),
    f("nodeId", "int32"),
    f("host", "string"),
    f("port", "int32"),
  ]),
});

export const joinGroup = api({
  key: ApiKey.JoinGroup,
  name: "JoinGroup",
  minVersion: 0,
  maxVersion: 7,
  request: message("JoinGroupRequest", "6+", [
    f("groupId", "string"),
    f("sessionTimeoutMs", "int32"),
    f("rebalanceTimeoutMs", "int32", "1+", { default: -1 }),
    f("memberId", "string"),
    f("groupInstanceId", "string", "5+", { nullable: "5+" }),
    f("protocolType", "string"),
    structs("protocols", "0+", [f("name", "string"), f("metadata", "bytes")]),
  ]),
  response: message("JoinGroupResponse", "6+", [
    throttle("2+"),
    f("errorCode", "int16"),
    f("generationId", "int32", "0+", { default: -1 }),
    f("protocolType", "string", "7+", { nullable: "7+" }),
    f("protocolName", "string", "0+", { nullable: "7+" }),
    f("leader", "string"),
    f("memberId", "string"),
    structs("members", "0+", [
      f("memberId", "string"),
      f("groupInstanceId", "string", "5+", { nullable: "5+" }),
      f("metadata", "bytes"),
    ]),
  ]),
});

export const heartbeat = api({
  key: ApiKey.Heartbeat,
  name: "Heartbeat",
  minVersion: 0,
  maxVersion: 4,
  request: message("HeartbeatRequest", "4+", [
    f("groupId", "string"),
    f("generationId", "int32"),
    f("memberId", "string"),
    f("groupInstanceId", "string", "3+", { nullable: "3+" }),
  ]),
  response: message("HeartbeatResponse", "4+", [throttle("1+"), f("errorCode", "int16")]),
});

export const leaveGroup = api({
  key: ApiKey.LeaveGroup,
  name: "LeaveGroup",
  minVersion: 0,
  maxVersion: 4,
  request: message("LeaveGroupRequest", "4+", [
    f("groupId", "string"),
    f("memberId", "string", "0-2"),
    structs("members", "3+", [
      f("memberId", "string"),
      f("groupInstanceId", "string", "3+", { nullable: "3+" }),
    ]),
  ]),
  response: message("LeaveGroupResponse", "4+", [
    throttle("1+"),
    f("errorCode", "int16"),
    structs("members", "3+", [
      f("memberId", "string"),
      f("groupInstanceId", "string", "3+", { nullable: "3+" }),
      f("errorCode", "int16"),
    ]),
  ]),
});

export const syncGroup = api({
  key: ApiKey.SyncGroup,
  name: "SyncGroup",
  minVersion: 0,
  maxVersion: 5,
  request: message("SyncGroupRequest", "4+", [
    f("groupId", "string"),
    f("generationId", "int32"),
    f("memberId", "string"),
    f("groupInstanceId", "string", "3+", { nullable: "3+" }),
    f("protocolType", "string", "5+", { nullable: "5+" }),
    f("protocolName", "string", "5+", { nullable: "5+" }),
    structs("assignments", "0+", [f("memberId", "string"), f("assignment", "bytes")]),
  ]),
  response: message("SyncGroupResponse", "4+", [
    throttle("1+"),
    f("errorCode", "int16"),
    f("protocolType", "string", "5+", { nullable: "5+" }),
    f("protocolName", "string", "5+", { nullable: "5+" }),
    f("assignment", "bytes"),
  ]),
});

export const describeGroups = api({
  key: ApiKey.DescribeGroups,
  name: "DescribeGroups",
  minVersion: 0,
  maxVersion: 5,
  request: message("DescribeGroupsRequest", "5+", [
    f("groups", "[]string"),
    f("includeAuthorizedOperations", "bool", "3+"),
  ]),
  response: message("DescribeGroupsResponse", "5+", [
    throttle("1+"),
    structs("groups", "0+", [
      f("errorCode", "int16"),
      f("groupId", "string"),
      f("groupState", "string"),
      f("protocolType", "string"),
      f("protocolData", "string"),
      structs("members", "0+", [
        f("memberId", "string"),
        f("groupInstanceId", "string", "4+", { nullable: "4+" }),
        f("clientId", "string"),
        f("clientHost", "string"),
        f("memberMetadata", "bytes"),
        f("memberAssignment", "bytes"),
      ]),
      f("authorizedOperations", "int32", "3+", { default: -2147483648 }),
    ]),
  ]),
});

export const listGroups = api({
  key: ApiKey.ListGroups,
  name: "ListGroups",
  minVersion: 0,
  maxVersion: 4,
  request: message("ListGroupsRequest", "3+", [f("statesFilter", "[]string", "4+")]),
  response: message("ListGroupsResponse", "3+", [
    throttle("1+"),
    f("errorCode", "int16"),
    structs("groups", "0+", [
      f("groupId", "string"),
      f("protocolType", "string"),
      f("groupState", "string", "4+"),
    ]),
  ]),
});

export const deleteGroups = api({
  key: ApiKey.DeleteGroups,
  name: "DeleteGroups",
  minVersion: 0,
  maxVersion: 2,
  request: message("DeleteGroupsRequest", "2+", [f("groupsNames", "[]string")]),
  response: message("DeleteGroupsResponse", "2+", [
    throttle("0+"),
    structs("results", "0+", [f("groupId", "string"), f("errorCode", "int16")]),
  ]),
});

// OffsetDelete's partitions are structs of one int32 (partitionIndex) in Kafka's definition;
// v0 is not flexible, so that is byte for byte an int32 array.
export const offsetDelete = api({
  key: ApiKey.OffsetDelete,
  name: "OffsetDelete",
  minVersion: 0,
  maxVersion: 0,
  request: message("OffsetDeleteRequest", "none", [
    f("groupId", "string"),
    structs("topics", "0+", [f("name", "string"), f("partitions", "[]int32")]),
  ]),
  response: message("OffsetDeleteResponse", "none", [
    f("errorCode", "int16"),
    throttle("0+"),
    structs("topics", "0+", [
      f("name", "string"),
      structs("partitions", "0+", [f("partitionIndex", "int32"), f("errorCode", "int16")]),
    ]),
  ]),
});

export const apiVersions = api({
  key: ApiKey.ApiVersions,
  name: "ApiVersions",
  minVersion: 0,
  maxVersion: 3,
  request: message("ApiVersionsRequest", "3+", [
    f("clientSoftwareName", "string", "3+"),
    f("clientSoftwareVersion", "string", "3+"),
  ]),
  response: message("ApiVersionsResponse", "3+", [
    f("errorCode", "int16"),
    structs("apiKeys", "0+", [
      f("apiKey", "int16"),
      f("minVersion", "int16"),
      f("maxVersion", "int16"),
    ]),
    throttle("1+"),
  ]),
});

export const createTopics = api({
  key: ApiKey.CreateTopics,
  name: "CreateTopics",
  minVersion: 0,
  maxVersion: 5,
  request: message("CreateTopicsRequest", "5+", [
    structs("topics", "0+", [
      f("name", "string"),
      f("numPartitions", "int32"),
      f("replicationFactor", "int16"),
      structs("assignments", "0+", [f("partitionIndex", "int32"), f("brokerIds", "[]int32")]),
      structs("configs", "0+", [
        f("name", "string"),
        f("value", "string", "0+", { nullable: "0+" }),
      ]),
    ]),
    f("timeoutMs", "int32"),
    f("validateOnly", "bool", "1+"),
  ]),
  response: message("CreateTopicsResponse", "5+", [
    throttle("2+"),
    structs("topics", "0+", [
      f("name", "string"),
      f("errorCode", "int16"),
      f("errorMessage", "string", "1+", { nullable: "0+" }),
      f("numPartitions", "int32", "5+", { default: -1 }),
      f("replicationFactor", "int16", "5+", { default: -1 }),
      structs("configs", "5+", [
        f("name", "string"),
        f("value", "string", "5+", { nullable: "5+" }),
        f("readOnly", "bool"),
        f("configSource", "int8", "5+", { default: -1 }),
        f("isSensitive", "bool"),
      ], { nullable: "5+" }),
    ]),
  ]),
});

export const deleteTopics = api({
  key: ApiKey.DeleteTopics,
  name: "DeleteTopics",
  minVersion: 0,
  maxVersion: 4,
  request: message("DeleteTopicsRequest", "4+", [
    f("topicNames", "[]string"),
    f("timeoutMs", "int32"),
  ]),
  response: message("DeleteTopicsResponse", "4+", [
    throttle("1+"),
    structs("responses", "0+", [f("name", "string"), f("errorCode", "int16")]),
  ]),
});

export const deleteRecords = api({
  key: ApiKey.DeleteRecords,
  name: "DeleteRecords",
  minVersion: 0,
  maxVersion: 2,
  request: message("DeleteRecordsRequest", "2+", [
    structs("topics", "0+", [
      f("name", "string"),
      structs("partitions", "0+", [f("partitionIndex", "int32"), f("offset", "int64")]),
    ]),
    f("timeoutMs", "int32"),
  ]),
  response: message("DeleteRecordsResponse", "2+", [
    throttle("0+"),
    structs("topics", "0+", [
      f("name", "string"),
      structs("partitions", "0+", [
        f("partitionIndex", "int32"),
        f("lowWatermark", "int64"),
        f("errorCode", "int16"),
      ]),
    ]),
  ]),
});

export const describeConfigs = api({
  key: ApiKey.DescribeConfigs,
  name: "DescribeConfigs",
  minVersion: 0,
  maxVersion: 4,
  request: message("DescribeConfigsRequest", "4+", [
    structs("resources", "0+", [
      f("resourceType", "int8"),
      f("resourceName", "string"),
      f("configurationKeys", "[]string", "0+", { nullable: "0+" }),
    ]),
    f("includeSynonyms", "bool", "1+"),
    f("includeDocumentation", "bool", "3+"),
  ]),
  response: message("DescribeConfigsResponse", "4+", [
    throttle("0+"),
    structs("results", "0+", [
      f("errorCode", "int16"),
      f("errorMessage", "string", "0+", { nullable: "0+" }),
      f("resourceType", "int8"),
      f("resourceName", "string"),
      structs("configs", "0+", [
        f("name", "string"),
        f("value", "string", "0+", { nullable: "0+" }),
        f("readOnly", "bool"),
        f("isDefault", "bool", "0"),
        f("configSource", "int8", "1+", { default: -1 }),
        f("isSensitive", "bool"),
        structs("synonyms", "1+", [
          f("name", "string"),
          f("value", "string", "1+", { nullable: "0+" }),
          f("source", "int8"),
        ]),
        f("configType", "int8", "3+"),
        f("documentation", "string", "3+", { nullable: "0+" }),
      ]),
    ]),
  ]),
});

export const alterConfigs = api({
  key: ApiKey.AlterConfigs,
  name: "AlterConfigs",
  minVersion: 0,
  maxVersion: 2,
  request: message("AlterConfigsRequest", "2+", [
    structs("resources", "0+", [
      f("resourceType", "int8"),
      f("resourceName", "string"),
      structs("configs", "0+", [
        f("name", "string"),
        f("value", "string", "0+", { nullable: "0+" }),
      ]),
    ]),
    f("validateOnly", "bool"),
  ]),
  response: message("AlterConfigsResponse", "2+", alterConfigsResponseFields()),
});

export const createPartitions = api({
  key: ApiKey.CreatePartitions,
  name: "CreatePartitions",
  minVersion: 0,
  maxVersion: 3,
  request: message("CreatePartitionsRequest", "2+", [
    structs("topics", "0+", [
      f("name", "string"),
      f("count", "int32"),
      structs("assignments", "0+", [f("brokerIds", "[]int32")], { nullable: "0+" }),
    ]),
    f("timeoutMs", "int32"),
    f("validateOnly", "bool"),
  ]),
  response: message("CreatePartitionsResponse", "2+", [
    throttle("0+"),
    structs("results", "0+", [
      f("name", "string"),
      f("errorCode", "int16"),
      f("errorMessage", "string", "0+", { nullable: "0+", default: null }),
    ]),
  ]),
});

export const incrementalAlterConfigs = api({
  key: ApiKey.IncrementalAlterConfigs,
  name: "IncrementalAlterConfigs",
  minVersion: 0,
  maxVersion: 1,
  request: message("IncrementalAlterConfigsRequest", "1+", [
    structs("resources", "0+", [
      f("resourceType", "int8"),
      f("resourceName", "string"),
      structs("configs", "0+", [
        f("name", "string"),
        f("configOperation", "int8"),
        f("value", "string", "0+", { nullable: "0+" }),
      ]),
    ]),
    f("validateOnly", "bool"),
  ]),
  response: message("IncrementalAlterConfigsResponse", "1+", alterConfigsResponseFields()),
});

function alterConfigsResponseFields() {
  return [
    throttle("0+"),
    structs("responses", "0+", [
      f("errorCode", "int16"),
      f("errorMessage", "string", "0+", { nullable: "0+" }),
      f("resourceType", "int8"),
      f("resourceName", "string"),
    ]),
  ];
}

export const initProducerId = api({
  key: ApiKey.InitProducerId,
  name: "InitProducerId",
  minVersion: 0,
  maxVersion: 4,
  request: message("InitProducerIdRequest", "2+", [
    f("transactionalId", "string", "0+", { nullable: "0+" }),
    f("transactionTimeoutMs", "int32"),
    f("producerId", "int64", "3+", { default: -1 }),
    f("producerEpoch", "int16", "3+", { default: -1 }),
  ]),
  response: message("InitProducerIdResponse", "2+", [
    throttle("0+"),
    f("errorCode", "int16"),
    f("producerId", "int64", "0+", { default: -1 }),
    f("producerEpoch", "int16"),
  ]),
});

// Transactions (KIP-98). AddPartitionsToTxn v4+ is the broker-to-broker verification of
// KIP-890 and EndTxn v4+ belongs to transactions v2: neither is served.
export const addPartitionsToTxn = api({
  key: ApiKey.AddPartitionsToTxn,
  name: "AddPartitionsToTxn",
  minVersion: 0,
  maxVersion: 3,
  request: message("AddPartitionsToTxnRequest", "3+", [
    f("transactionalId", "string"),
    f("producerId", "int64"),
    f("producerEpoch", "int16"),
    structs("topics", "0+", [f("name", "string"), f("partitions", "[]int32")]),
  ]),
  response: message("AddPartitionsToTxnResponse", "3+", [
    throttle("0+"),
    structs("results", "0+", [
      f("name", "string"),
      structs("results", "0+", [f("partitionIndex", "int32"), f("errorCode", "int16")]),
    ]),
  ]),
});

export const addOffsetsToTxn = api({
  key: ApiKey.AddOffsetsToTxn,
  name: "AddOffsetsToTxn",
  minVersion: 0,
  maxVersion: 3,
  request: message("AddOffsetsToTxnRequest", "3+", [
    f("transactionalId", "string"),
    f("producerId", "int64"),
    f("producerEpoch", "int16"),
    f("groupId", "string"),
  ]),
  response: message("AddOffsetsToTxnResponse", "3+", [throttle("0+"), f("errorCode", "int16")]),
});

export const endTxn = api({
  key: ApiKey.EndTxn,
  name: "EndTxn",
  minVersion: 0,
  maxVersion: 3,
  request: message("EndTxnRequest", "3+", [
    f("transactionalId", "string"),
    f("producerId", "int64"),
    f("producerEpoch", "int16"),
    f("committed", "bool"),
  ]),
  response: message("EndTxnResponse", "3+", [throttle("0+"), f("errorCode", "int16")]),
});

export const txnOffsetCommit = api({
  key: ApiKey.TxnOffsetCommit,
  name: "TxnOffsetCommit",
  minVersion: 0,
  maxVersion: 3,
  request: message("TxnOffsetCommitRequest", "3+", [
    f("transactionalId", "string"),
    f("groupId", "string"),
    f("producerId", "int64"),
    f("producerEpoch", "int16"),
    f("generationId", "int32", "3+", { default: -1 }),
    f("memberId", "string", "3+", { default: "" }),
    f("groupInstanceId", "string", "3+", { nullable: "3+", default: null }),
    structs("topics", "0+", [
      f("name", "string"),
      structs("partitions", "0+", [
        f("partitionIndex", "int32"),
        f("committedOffset", "int64"),
        f("committedLeaderEpoch", "int32", "2+", { default: -1 }),
        f("committedMetadata", "string", "0+", { nullable: "0+" }),
      ]),
    ]),
  ]),
  response: message("TxnOffsetCommitResponse", "3+", [
    throttle("0+"),
    structs("topics", "0+", [
      f("name", "string"),
      structs("partitions", "0+", [f("partitionIndex", "int32"), f("errorCode", "int16")]),
    ]),
  ]),
});

/** Every API the broker serves, by key. */
export const APIS: ReadonlyMap<number, ApiSpec> = new Map(
  [
    produce,
    fetch,
    listOffsets,
    metadata,
    offsetCommit,
    offsetFetch,
    findCoordinator,
    joinGroup,
    heartbeat,
    leaveGroup,
    syncGroup,
    describeGroups,
    listGroups,
    deleteGroups,
    offsetDelete,
    apiVersions,
    createTopics,
    deleteTopics,
    deleteRecords,
    initProducerId,
    addPartitionsToTxn,
    addOffsetsToTxn,
    endTxn,
    txnOffsetCommit,
    describeConfigs,
    alterConfigs,
    createPartitions,
    incrementalAlterConfigs,
  ].map((api) => [api.key, api]),
);

/** The API's name for logs and metrics, or `api_<key>` for one we do not serve. */
export function apiName(key: number): string {
  return APIS.get(key)?.name ?? `api_${key}`;
}
