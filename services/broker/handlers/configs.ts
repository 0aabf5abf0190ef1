/**
 * DescribeConfigs, AlterConfigs and IncrementalAlterConfigs over topic configs (durable
 * overrides that the topic's partitions act on at once) and the broker's own settings
 * (described, read-only: this broker has no dynamic configs). Semantics and messages follow
 * Kafka's `ConfigAdminManager` and `ZkAdminManager`.
 *
 * @module
 */
import { ErrorCode } from "../protocol/error_codes.ts";
import type {
  AlterConfigsRequest,
  AlterConfigsResponse,
  CreatedTopicConfig,
  DescribeConfigsRequest,
  DescribeConfigsResponse,
  DescribedConfig,
  IncrementalAlterConfigsRequest,
} from "../protocol/types.ts";
import {
  ConfigSource,
  ConfigType,
  invalidTopicConfig,
  TOPIC_CONFIGS,
  type TopicConfigOverrides,
} from "../storage/topic_config.ts";
import { invalidTopicName } from "../storage/topic_store.ts";
import type { BrokerState } from "./context.ts";

/** ConfigResource types (org.apache.kafka.common.config.ConfigResource.Type). */
export const ResourceType = { TOPIC: 2, BROKER: 4 } as const;

/** IncrementalAlterConfigs operations (AlterConfigOp.OpType). */
const OpType = { SET: 0, DELETE: 1, APPEND: 2, SUBTRACT: 3 } as const;

/** The broker settings a client may read, as Kafka names them, with their config types. */
function brokerConfigs(state: BrokerState): [string, string, number][] {
  const topicDefaults = state.topics.brokerConfigs;
  return [
    ["broker.id", String(state.nodeId), ConfigType.INT],
    ["auto.create.topics.enable", String(state.autoCreateTopics), ConfigType.BOOLEAN],
    ["num.partitions", String(state.defaultPartitions), ConfigType.INT],
    ["message.max.bytes", topicDefaults["max.message.bytes"]!, ConfigType.INT],
    ["log.retention.ms", topicDefaults["retention.ms"]!, ConfigType.LONG],
    ["log.retention.bytes", topicDefaults["retention.bytes"]!, ConfigType.LONG],
    ["log.segment.bytes", topicDefaults["segment.bytes"]!, ConfigType.INT],
    ["log.roll.ms", topicDefaults["segment.ms"]!, ConfigType.LONG],
    ["log.cleanup.policy", "delete", ConfigType.LIST],
  ];
}

type Answer = { errorCode: number; errorMessage: string | null };

const ok: Answer = { errorCode: ErrorCode.NONE, errorMessage: null };

function isAnswer(value: TopicConfigOverrides | Answer): value is Answer {
  return typeof value.errorCode === "number";
}

function failure(errorCode: number, errorMessage: string): Answer {
  return { errorCode, errorMessage };
}

/** Why a topic resource cannot be read or changed, or undefined when it exists. */
function topicProblem(state: BrokerState, name: string): Answer | undefined {
  if (invalidTopicName(name) !== undefined) {
    return failure(ErrorCode.INVALID_TOPIC_EXCEPTION, invalidTopicName(name)!);
  }
  if (!state.topics.has(name)) {
    return failure(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `Topic ${name} does not exist`);
  }
  return undefined;
}

/** Why a broker resource name is not this broker ("" is the cluster default), or undefined. */
function brokerProblem(state: BrokerState, name: string): Answer | undefined {
  if (name === "" || name === String(state.nodeId)) return undefined;
  return failure(
    ErrorCode.INVALID_REQUEST,
    `Unexpected broker id, expected ${state.nodeId} or empty string, but received ${name}`,
  );
}

/** Every config of a topic as DescribeConfigs reports it (every field given). */
export function describeTopicConfigs(
  state: BrokerState,
  topic: string,
  includeSynonyms: boolean,
): Required<DescribedConfig>[] {
  const overrides = state.topics.configOverrides(topic);
  const brokerValues = state.topics.brokerConfigs;
  return Object.entries(TOPIC_CONFIGS).map(([name, def]) => {
    const synonyms: DescribedConfig["synonyms"] = [];
    if (overrides[name] !== undefined) {
      synonyms.push({ name, value: overrides[name], source: ConfigSource.TOPIC_CONFIG });
    }
    if (def.brokerSynonym !== undefined && brokerValues[name] !== undefined) {
      synonyms.push({
        name: def.brokerSynonym,
        value: brokerValues[name],
        source: ConfigSource.STATIC_BROKER_CONFIG,
      });
    }
    synonyms.push({
      name: def.brokerSynonym ?? name,
      value: def.defaultValue,
      source: ConfigSource.DEFAULT_CONFIG,
    });
    const chosen = synonyms[0]!;
    return {
      name,
      value: chosen.value,
      readOnly: false,
      isDefault: chosen.source === ConfigSource.DEFAULT_CONFIG,
      configSource: chosen.source,
      isSensitive: false,
      synonyms: includeSynonyms ? synonyms : [],
      configType: def.type,
      documentation: null,
    };
  });
}

/** The configs of a created topic for CreateTopics v5+ (KIP-525). */
export function createdTopicConfigs(state: BrokerState, topic: string): CreatedTopicConfig[] {
  return describeTopicConfigs(state, topic, false).map((c) => ({
    name: c.name,
    value: c.value,
    readOnly: c.readOnly,
    configSource: c.configSource,
    isSensitive: c.isSensitive,
  }));
}

function describeBrokerConfigs(state: BrokerState, includeSynonyms: boolean): DescribedConfig[] {
  return brokerConfigs(state).map(([name, value, configType]) => ({
    name,
    value,
    readOnly: true,
    isDefault: false,
    configSource: ConfigSource.STATIC_BROKER_CONFIG,
    isSensitive: false,
    synonyms: includeSynonyms ? [{ name, value, source: ConfigSource.STATIC_BROKER_CONFIG }] : [],
    configType,
    documentation: null,
  }));
}

/** DescribeConfigs: topic configs (every Kafka topic config) and this broker's settings. */
export function handleDescribeConfigs(
  state: BrokerState,
  request: DescribeConfigsRequest,
): DescribeConfigsResponse {
  return {
    throttleTimeMs: 0,
    results: request.resources.map((resource) => {
      const base = { resourceType: resource.resourceType, resourceName: resource.resourceName };
      let configs: DescribedConfig[];
      let problem: Answer | undefined;
      if (resource.resourceType === ResourceType.TOPIC) {
        problem = topicProblem(state, resource.resourceName);
        configs = problem === undefined
          ? describeTopicConfigs(state, resource.resourceName, request.includeSynonyms)
          : [];
      } else if (resource.resourceType === ResourceType.BROKER) {
        problem = brokerProblem(state, resource.resourceName);
        configs = problem === undefined
          ? describeBrokerConfigs(state, request.includeSynonyms)
          : [];
      } else {
        problem = failure(
          ErrorCode.INVALID_REQUEST,
          `Unsupported resource type ${resource.resourceType}: expected 2 (topic) or 4 (broker)`,
        );
        configs = [];
      }
      const keys = resource.configurationKeys;
      if (keys !== null) configs = configs.filter((c) => keys.includes(c.name));
      return { ...(problem ?? ok), ...base, configs };
    }),
  };
}

/** Validates a topic's complete new overrides; returns the first problem or undefined. */
function invalidOverrides(overrides: TopicConfigOverrides): Answer | undefined {
  for (const [name, value] of Object.entries(overrides)) {
    const problem = invalidTopicConfig(name, value);
    if (problem !== undefined) return failure(ErrorCode.INVALID_CONFIG, problem);
  }
  return undefined;
}

const BROKER_READ_ONLY =
  "Broker configs cannot be altered on this broker: it has no dynamic configs";

/**
 * Applies the new overrides of each resource that `plan` accepts (validateOnly: none), and
 * answers per resource.
 */
async function alter(
  state: BrokerState,
  resources: { resourceType: number; resourceName: string }[],
  validateOnly: boolean,
  plan: (index: number, current: TopicConfigOverrides) => TopicConfigOverrides | Answer,
): Promise<AlterConfigsResponse> {
  const responses: AlterConfigsResponse["responses"] = [];
  for (const [index, resource] of resources.entries()) {
    const base = { resourceType: resource.resourceType, resourceName: resource.resourceName };
    let answer: Answer = ok;
    if (resource.resourceType === ResourceType.TOPIC) {
      answer = topicProblem(state, resource.resourceName) ?? ok;
      if (answer === ok) {
        const next = plan(index, state.topics.configOverrides(resource.resourceName));
        if (isAnswer(next)) answer = next;
        else {
          answer = invalidOverrides(next) ?? ok;
          if (answer === ok && !validateOnly) {
            await state.topics.setConfigOverrides(resource.resourceName, next);
          }
        }
      }
    } else if (resource.resourceType === ResourceType.BROKER) {
      answer = brokerProblem(state, resource.resourceName) ??
        failure(ErrorCode.INVALID_REQUEST, BROKER_READ_ONLY);
    } else {
      answer = failure(
        ErrorCode.INVALID_REQUEST,
        `Unsupported resource type ${resource.resourceType}: expected 2 (topic) or 4 (broker)`,
      );
    }
    responses.push({ ...answer, ...base });
  }
  return { throttleTimeMs: 0, responses };
}

/** AlterConfigs: the given configs become the topic's complete set of overrides. */
export function handleAlterConfigs(
  state: BrokerState,
  request: AlterConfigsRequest,
): Promise<AlterConfigsResponse> {
  return alter(state, request.resources, request.validateOnly, (index) => {
    const next: TopicConfigOverrides = {};
    for (const config of request.resources[index]!.configs) {
      if (config.value === null) {
        return failure(ErrorCode.INVALID_REQUEST, `Null value not supported for : ${config.name}`);
      }
      next[config.name] = config.value;
    }
    return next;
  });
}

/** IncrementalAlterConfigs: SET, DELETE, APPEND and SUBTRACT on the topic's overrides. */
export function handleIncrementalAlterConfigs(
  state: BrokerState,
  request: IncrementalAlterConfigsRequest,
): Promise<AlterConfigsResponse> {
  return alter(state, request.resources, request.validateOnly, (index, current) => {
    const configs = request.resources[index]!.configs;
    if (new Set(configs.map((c) => c.name)).size !== configs.length) {
      return failure(ErrorCode.INVALID_REQUEST, "Error due to duplicate config keys");
    }
    const next = { ...current };
    for (const config of configs) {
      const def = TOPIC_CONFIGS[config.name];
      if (def === undefined) {
        return failure(ErrorCode.INVALID_CONFIG, `Unknown topic config name: ${config.name}`);
      }
      switch (config.configOperation) {
        case OpType.SET:
          if (config.value === null) {
            return failure(
              ErrorCode.INVALID_REQUEST,
              `Null value not supported for : ${config.name}`,
            );
          }
          next[config.name] = config.value;
          break;
        case OpType.DELETE:
          delete next[config.name];
          break;
        case OpType.APPEND:
        case OpType.SUBTRACT: {
          if (def.type !== ConfigType.LIST) {
            const verb = config.configOperation === OpType.APPEND ? "append" : "subtract";
            return failure(
              ErrorCode.INVALID_CONFIG,
              `Config value ${verb} is not allowed for config key: ${config.name}`,
            );
          }
          const items = (next[config.name] ?? state.topics.brokerConfigs[config.name] ??
            def.defaultValue).split(",").map((v) => v.trim()).filter((v) => v !== "");
          const given = (config.value ?? "").split(",").map((v) => v.trim()).filter((v) =>
            v !== ""
          );
          const result = config.configOperation === OpType.APPEND
            ? [...items, ...given.filter((v) => !items.includes(v))]
            : items.filter((v) => !given.includes(v));
          next[config.name] = result.join(",");
          break;
        }
        default:
          return failure(
            ErrorCode.INVALID_REQUEST,
            `Unknown config operation ${config.configOperation}: expected 0 (set), 1 (delete), 2 (append) or 3 (subtract)`,
          );
      }
    }
    return next;
  });
}
