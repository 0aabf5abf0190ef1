/**
 * Metadata, ListOffsets, CreateTopics, DeleteTopics, FindCoordinator, InitProducerId and
 * ApiVersions: the cluster and topic administration APIs of a single-node cluster in which
 * this broker leads every partition and coordinates every group.
 *
 * @module
 */
import { getLogger } from "@trading/shared/log";
import { ErrorCode } from "../protocol/error_codes.ts";
import { APIS } from "../protocol/messages.ts";
import type {
  ApiVersionsResponse,
  CreateTopicsRequest,
  CreateTopicsResponse,
  DeleteTopicsRequest,
  DeleteTopicsResponse,
  FindCoordinatorRequest,
  FindCoordinatorResponse,
  InitProducerIdRequest,
  InitProducerIdResponse,
  ListOffsetsRequest,
  ListOffsetsResponse,
  MetadataRequest,
  MetadataResponse,
  MetadataTopic,
} from "../protocol/types.ts";
import { invalidTopicConfig } from "../storage/topic_config.ts";
import { invalidTopicName, PartitionLimitError } from "../storage/topic_store.ts";
import { createdTopicConfigs } from "./configs.ts";
import { fencedForVersion } from "./transactions.ts";
import type { BrokerState, RequestContext } from "./context.ts";

const log = getLogger(["broker", "admin"]);

/** ApiVersions: every API we serve with its version range. */
export function handleApiVersions(errorCode: number = ErrorCode.NONE): ApiVersionsResponse {
  return {
    errorCode,
    apiKeys: [...APIS.values()].map((api) => ({
      apiKey: api.key,
      minVersion: api.minVersion,
      maxVersion: api.maxVersion,
    })),
    throttleTimeMs: 0,
  };
}

/** What Metadata v10+ and Fetch v13+ send for "no topic id". */
export const ZERO_TOPIC_ID: Uint8Array = new Uint8Array(16);

function topicMetadata(state: BrokerState, name: string): MetadataTopic {
  const partitions = state.topics.partitions(name) ?? [];
  return {
    errorCode: ErrorCode.NONE,
    name,
    topicId: state.topics.topicId(name) ?? ZERO_TOPIC_ID,
    isInternal: false,
    partitions: partitions.map((plog) => ({
      errorCode: ErrorCode.NONE,
      partitionIndex: plog.partition,
      leaderId: state.nodeId,
      leaderEpoch: 0,
      replicaNodes: [state.nodeId],
      isrNodes: [state.nodeId],
      offlineReplicas: [],
    })),
  };
}

function isZeroTopicId(id: Uint8Array): boolean {
  return id.every((b) => b === 0);
}

/**
 * Metadata: this broker and the requested topics (all of them for a null list, or an empty
 * one in v0), each named by name or, from v10, by topic id alone (a null name). Unknown
 * topics are created only when the broker allows auto-creation and the request does too; an
 * unknown topic id is UNKNOWN_TOPIC_ID, as Kafka answers it.
 */
export async function handleMetadata(
  state: BrokerState,
  ctx: RequestContext,
  request: MetadataRequest,
): Promise<MetadataResponse> {
  const all = request.topics === null || (ctx.apiVersion === 0 && request.topics.length === 0);
  const requested = all
    ? state.topics.names().map((name) => ({ name, topicId: ZERO_TOPIC_ID }))
    : request.topics!;
  const topics: MetadataTopic[] = [];
  for (const { name: requestedName, topicId } of requested) {
    let name = requestedName;
    if (name === null || (ctx.apiVersion >= 10 && !isZeroTopicId(topicId))) {
      const byId = isZeroTopicId(topicId) ? undefined : state.topics.topicNameOf(topicId);
      if (byId === undefined || (name !== null && name !== byId)) {
        topics.push({
          errorCode: ErrorCode.UNKNOWN_TOPIC_ID,
          name,
          topicId,
          isInternal: false,
          partitions: [],
        });
        continue;
      }
      name = byId;
    }
    if (!state.topics.has(name)) {
      const invalid = invalidTopicName(name);
      if (invalid !== undefined) {
        topics.push({
          errorCode: ErrorCode.INVALID_TOPIC_EXCEPTION,
          name,
          topicId: ZERO_TOPIC_ID,
          isInternal: false,
          partitions: [],
        });
        continue;
      }
      if (
        state.autoCreateTopics && request.allowAutoTopicCreation &&
        await autoCreateTopic(state, name)
      ) {
        // Created; answered below.
      } else {
        topics.push({
          errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
          name,
          topicId: ZERO_TOPIC_ID,
          isInternal: false,
          partitions: [],
        });
        continue;
      }
    }
    topics.push(topicMetadata(state, name));
  }
  return {
    throttleTimeMs: 0,
    brokers: [{
      nodeId: state.nodeId,
      host: state.advertisedHost,
      port: state.advertisedPort,
      rack: null,
    }],
    clusterId: state.clusterId,
    controllerId: state.nodeId,
    topics,
  };
}

/** ListOffsets: earliest (-2), latest (-1), max timestamp (-3) or the first record at a timestamp. */
export async function handleListOffsets(
  state: BrokerState,
  ctx: RequestContext,
  request: ListOffsetsRequest,
): Promise<ListOffsetsResponse> {
  return {
    throttleTimeMs: 0,
    topics: await Promise.all(request.topics.map(async (topic) => ({
      name: topic.name,
      partitions: await Promise.all(topic.partitions.map(async (p) => {
        const plog = state.topics.get(topic.name, p.partitionIndex);
        if (plog === undefined) {
          return {
            partitionIndex: p.partitionIndex,
            errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
            oldStyleOffsets: [],
            timestamp: -1,
            offset: -1,
            leaderEpoch: -1,
          };
        }
        // read_committed asks for the end of what it may read: the last stable offset.
        const found = p.timestamp === -1 && request.isolationLevel === 1
          ? { offset: plog.lastStableOffset, timestamp: -1 }
          : await plog.offsetForTimestamp(p.timestamp);
        return {
          partitionIndex: p.partitionIndex,
          errorCode: ErrorCode.NONE,
          // v0 answers with a list of segment offsets; the one offset is what clients use.
          oldStyleOffsets: ctx.apiVersion === 0 && found.offset >= 0 ? [found.offset] : [],
          timestamp: found.timestamp,
          offset: found.offset,
          leaderEpoch: 0,
        };
      })),
    }))),
  };
}

/**
 * CreateTopics: replication factor 1 (or -1 for the default) on this single node, with the
 * topic configs given (validated as AlterConfigs does); v5+ answers with the topic's configs.
 */
export async function handleCreateTopics(
  state: BrokerState,
  ctx: RequestContext,
  request: CreateTopicsRequest,
): Promise<CreateTopicsResponse> {
  const topics: CreateTopicsResponse["topics"] = [];
  for (const topic of request.topics) {
    const answer: CreateTopicsResponse["topics"][number] = {
      name: topic.name,
      errorCode: ErrorCode.NONE,
      errorMessage: null,
      numPartitions: -1,
      replicationFactor: -1,
      configs: null,
    };
    topics.push(answer);
    const partitions = topic.assignments.length > 0
      ? topic.assignments.length
      : topic.numPartitions === -1
      ? state.defaultPartitions
      : topic.numPartitions;
    const overrides: Record<string, string> = {};
    let invalidConfig: string | undefined;
    for (const config of topic.configs) {
      invalidConfig ??= config.value === null
        ? `Null value not supported for topic configs: ${config.name}`
        : invalidTopicConfig(config.name, config.value);
      if (config.value !== null) overrides[config.name] = config.value;
    }
    const invalid = invalidTopicName(topic.name);
    if (invalid !== undefined) {
      answer.errorCode = ErrorCode.INVALID_TOPIC_EXCEPTION;
      answer.errorMessage = invalid;
    } else if (partitions < 1) {
      answer.errorCode = ErrorCode.INVALID_PARTITIONS;
      answer.errorMessage = `Number of partitions was set to an invalid non-positive value.`;
    } else if (topic.replicationFactor !== 1 && topic.replicationFactor !== -1) {
      answer.errorCode = ErrorCode.INVALID_REPLICATION_FACTOR;
      answer.errorMessage =
        `Invalid replication factor ${topic.replicationFactor}: this broker is a single node, expected 1`;
    } else if (invalidConfig !== undefined) {
      answer.errorCode = ErrorCode.INVALID_CONFIG;
      answer.errorMessage = invalidConfig;
    } else if (state.topics.has(topic.name)) {
      answer.errorCode = ErrorCode.TOPIC_ALREADY_EXISTS;
      answer.errorMessage = `Topic "${topic.name}" already exists`;
    } else if (state.topics.partitionLimitExceeded(topic.name, partitions) !== undefined) {
      // Kafka answers a CreateTopics over its only partition cap (10,000 per request,
      // KAFKA-17870) with POLICY_VIOLATION; our caps per topic and per broker do the same.
      answer.errorCode = ErrorCode.POLICY_VIOLATION;
      answer.errorMessage = state.topics.partitionLimitExceeded(topic.name, partitions)!;
    } else if (!request.validateOnly) {
      try {
        const created = await state.topics.create(topic.name, partitions, overrides);
        if (!created) {
          answer.errorCode = ErrorCode.TOPIC_ALREADY_EXISTS;
          answer.errorMessage = `Topic "${topic.name}" already exists`;
        }
      } catch (error) {
        // A concurrent creation took the partitions the check above saw free.
        if (!(error instanceof PartitionLimitError)) throw error;
        answer.errorCode = ErrorCode.POLICY_VIOLATION;
        answer.errorMessage = error.message;
      }
    }
    if (answer.errorCode === ErrorCode.NONE) {
      answer.numPartitions = partitions;
      answer.replicationFactor = 1;
      if (ctx.apiVersion >= 5 && !request.validateOnly) {
        answer.configs = createdTopicConfigs(state, topic.name);
      }
    }
  }
  return { throttleTimeMs: 0, topics };
}

/** DeleteTopics: removes the topics' data and committed offsets. */
export async function handleDeleteTopics(
  state: BrokerState,
  request: DeleteTopicsRequest,
): Promise<DeleteTopicsResponse> {
  const responses: DeleteTopicsResponse["responses"] = [];
  for (const name of request.topicNames) {
    const deleted = await state.topics.delete(name);
    if (deleted) state.coordinator.offsets.forgetTopic(name);
    responses.push({
      name,
      errorCode: deleted ? ErrorCode.NONE : ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
    });
  }
  return { throttleTimeMs: 0, responses };
}

/**
 * FindCoordinator: this broker coordinates every group (key type 0) and every transactional
 * id (key type 1).
 */
export function handleFindCoordinator(
  state: BrokerState,
  request: FindCoordinatorRequest,
): FindCoordinatorResponse {
  if (request.keyType !== 0 && request.keyType !== 1) {
    return {
      throttleTimeMs: 0,
      errorCode: ErrorCode.INVALID_REQUEST,
      errorMessage: `Unknown coordinator key type ${request.keyType}: expected 0 or 1`,
      nodeId: -1,
      host: "",
      port: -1,
    };
  }
  return {
    throttleTimeMs: 0,
    errorCode: ErrorCode.NONE,
    errorMessage: null,
    nodeId: state.nodeId,
    host: state.advertisedHost,
    port: state.advertisedPort,
  };
}

/**
 * InitProducerId: with a transactional id, the transaction coordinator's answer (the id's
 * producer at its next epoch, fencing the previous holder). For idempotent producers: a new
 * producer id at epoch 0, always.
 */
export async function handleInitProducerId(
  state: BrokerState,
  ctx: RequestContext,
  request: InitProducerIdRequest,
): Promise<InitProducerIdResponse> {
  if (request.transactionalId !== null) {
    const expected = request.producerId >= 0
      ? { producerId: request.producerId, producerEpoch: request.producerEpoch }
      : undefined;
    const result = await state.transactions.initProducerId(
      request.transactionalId,
      request.transactionTimeoutMs,
      expected,
    );
    return {
      throttleTimeMs: 0,
      errorCode: fencedForVersion(result.errorCode, ctx.apiVersion, 4),
      producerId: result.producerId,
      producerEpoch: result.producerEpoch,
    };
  }
  // Without a transactional id every InitProducerId gets a new id at epoch 0, whatever id and
  // epoch it names, as Apache Kafka answers it (TransactionCoordinator.handleInitProducerId);
  // an idempotent producer bumps its epoch itself (KIP-360). Bumping the id a request names
  // would let two producers that both send id 0 (@platformatic/kafka does) share one id.
  const producerId = await state.producerIds.allocate();
  log.debug("Allocated producer id {producerId}", { producerId });
  return { throttleTimeMs: 0, errorCode: ErrorCode.NONE, producerId, producerEpoch: 0 };
}

let autoCreateRefused = 0;
let autoCreateRefusedLoggedAt = -Infinity;

/**
 * Creates `name` for a Metadata request with `defaultPartitions`; false when the partition
 * limits refuse it, which the request sees as UNKNOWN_TOPIC_OR_PARTITION (Metadata has no
 * error for a refused creation that clients act on). Logged at most every 10 s.
 */
async function autoCreateTopic(state: BrokerState, name: string): Promise<boolean> {
  try {
    await state.topics.create(name, state.defaultPartitions);
    return true;
  } catch (error) {
    if (!(error instanceof PartitionLimitError)) throw error;
    autoCreateRefused++;
    const now = performance.now();
    if (now - autoCreateRefusedLoggedAt >= 10_000) {
      log.warn("Refused to auto-create {count} topic(s), the last {topic}: {reason}", {
        count: autoCreateRefused,
        topic: name,
        reason: error.message,
      });
      autoCreateRefused = 0;
      autoCreateRefusedLoggedAt = now;
    }
    return false;
  }
}
