/**
 * DescribeConfigs, AlterConfigs and IncrementalAlterConfigs over topic configs (durable
 * overrides that the topic's partitions act on at once) and broker configs: the broker's own
 * settings (read-only) and the dynamic broker configs of storage/broker_config.ts, per broker
 * (resource name = its id) or as the cluster default (resource name ""). Semantics and
 * messages follow Kafka's `ConfigAdminManager`, `ZkAdminManager` and `DynamicBrokerConfig`.
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
  BROKER_CONFIGS,
  type BrokerConfigValues,
  invalidBrokerConfig,
} from "../storage/broker_config.ts";
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

/** The broker's read-only settings a client may read, as Kafka names them, with their types. */
function readOnlyBrokerConfigs(state: BrokerState): [string, string, number][] {
  return [
    ["broker.id", String(state.nodeId), ConfigType.INT],
    ["auto.create.topics.enable", String(state.autoCreateTopics), ConfigType.BOOLEAN],
    ["num.partitions", String(state.defaultPartitions), ConfigType.INT],
  ];
}

type Synonym = { name: string; value: string | null; source: number };

/**
 * The values of dynamic broker config `name` in Kafka's order of precedence: this broker's
 * dynamic value, the cluster default's, the static one (the broker's own setting), Kafka's
 * default.
 */
function brokerConfigSynonyms(state: BrokerState, name: string): Synonym[] {
  const synonyms: Synonym[] = [];
  const perBroker = state.brokerConfigs.get(String(state.nodeId))[name];
  if (perBroker !== undefined) {
    synonyms.push({ name, value: perBroker, source: ConfigSource.DYNAMIC_BROKER_CONFIG });
  }
  const clusterDefault = state.brokerConfigs.get("")[name];
  if (clusterDefault !== undefined) {
    synonyms.push({
      name,
      value: clusterDefault,
      source: ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG,
    });
  }
  const def = BROKER_CONFIGS[name];
  const staticValue = def?.topicSynonym === undefined
    ? undefined
    : state.topics.staticBrokerConfigs[def.topicSynonym];
  if (staticValue !== undefined) {
    synonyms.push({ name, value: staticValue, source: ConfigSource.STATIC_BROKER_CONFIG });
  }
  synonyms.push({ name, value: def?.defaultValue ?? null, source: ConfigSource.DEFAULT_CONFIG });
  return synonyms;
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
/** A writable config as DescribeConfigs reports it: its value is its first synonym's. */
function writableConfig(
  name: string,
  configType: number,
  synonyms: DescribedConfig["synonyms"],
  includeSynonyms: boolean,
): Required<DescribedConfig> {
  const chosen = synonyms[0]!;
  return {
    name,
    value: chosen.value,
    readOnly: false,
    isDefault: chosen.source === ConfigSource.DEFAULT_CONFIG,
    configSource: chosen.source,
    isSensitive: false,
    synonyms: includeSynonyms ? synonyms : [],
    configType,
    documentation: null,
  };
}

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
    if (def.brokerSynonym !== undefined && BROKER_CONFIGS[def.brokerSynonym] !== undefined) {
      // Every level of the broker synonym, Kafka's default last (its own default here).
      synonyms.push(...brokerConfigSynonyms(state, def.brokerSynonym).slice(0, -1));
    } else if (def.brokerSynonym !== undefined && brokerValues[name] !== undefined) {
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
    return writableConfig(name, def.type, synonyms, includeSynonyms);
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

/**
 * A broker resource's configs: for this broker's id, its read-only settings and every dynamic
 * config at its effective value; for "" (the cluster default), only the dynamic values set
 * there, as Kafka describes `currentDynamicDefaultConfigs`.
 */
function describeBrokerConfigs(
  state: BrokerState,
  resourceName: string,
  includeSynonyms: boolean,
): DescribedConfig[] {
  if (resourceName === "") {
    return Object.entries(state.brokerConfigs.get("")).map(([name, value]) => {
      const synonym = { name, value, source: ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG };
      return {
        name,
        value,
        readOnly: false,
        isDefault: false,
        configSource: synonym.source,
        isSensitive: false,
        synonyms: includeSynonyms ? [synonym] : [],
        configType: BROKER_CONFIGS[name]?.type ?? ConfigType.STRING,
        documentation: null,
      };
    });
  }
  const readOnly = readOnlyBrokerConfigs(state).map(([name, value, configType]) => ({
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
  const dynamic = Object.entries(BROKER_CONFIGS).map(([name, def]) => {
    const synonyms = brokerConfigSynonyms(state, name);
    return writableConfig(name, def.type, synonyms, includeSynonyms);
  });
  return [...readOnly, ...dynamic];
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
          ? describeBrokerConfigs(state, resource.resourceName, request.includeSynonyms)
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

/** Validates a broker level's complete new values; returns the first problem or undefined. */
function invalidBrokerValues(resourceName: string, values: BrokerConfigValues): Answer | undefined {
  for (const [name, value] of Object.entries(values)) {
    const problem = invalidBrokerConfig(name, value, resourceName !== "");
    if (problem === undefined) continue;
    if (problem.unknown) return failure(ErrorCode.INVALID_CONFIG, problem.message);
    // Kafka answers a broker config it refuses with INVALID_REQUEST (KAFKA-13609).
    return failure(
      ErrorCode.INVALID_REQUEST,
      `Invalid config value for resource ConfigResource(type=BROKER, name='${resourceName}'): ${problem.message}`,
    );
  }
  return undefined;
}

/** Which config set a resource's plan works on. */
type Target = "topic" | "broker";

/**
 * Applies the new values of each resource that `plan` accepts (validateOnly: none): a topic's
 * overrides, or a broker level's dynamic configs (which every topic's defaults follow at once);
 * answers per resource.
 */
async function alter(
  state: BrokerState,
  resources: { resourceType: number; resourceName: string }[],
  validateOnly: boolean,
  plan: (
    index: number,
    current: Record<string, string>,
    target: Target,
  ) => Record<string, string> | Answer,
): Promise<AlterConfigsResponse> {
  const responses: AlterConfigsResponse["responses"] = [];
  for (const [index, resource] of resources.entries()) {
    const base = { resourceType: resource.resourceType, resourceName: resource.resourceName };
    let answer: Answer = ok;
    if (resource.resourceType === ResourceType.TOPIC) {
      answer = topicProblem(state, resource.resourceName) ?? ok;
      if (answer === ok) {
        const next = plan(index, state.topics.configOverrides(resource.resourceName), "topic");
        if (isAnswer(next)) answer = next;
        else {
          answer = invalidOverrides(next) ?? ok;
          if (answer === ok && !validateOnly) {
            await state.topics.setConfigOverrides(resource.resourceName, next);
          }
        }
      }
    } else if (resource.resourceType === ResourceType.BROKER) {
      answer = brokerProblem(state, resource.resourceName) ?? ok;
      if (answer === ok) {
        const level = resource.resourceName;
        const next = plan(index, state.brokerConfigs.get(level), "broker");
        if (isAnswer(next)) answer = next;
        else {
          answer = invalidBrokerValues(level, next) ?? ok;
          if (answer === ok && !validateOnly) {
            await state.brokerConfigs.set(level, next);
            state.topics.setDynamicBrokerConfigs(state.brokerConfigs.topicDefaults(state.nodeId));
          }
        }
      }
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

/**
 * AlterConfigs: the given configs become the topic's complete set of overrides, or the broker
 * level's complete set of dynamic configs.
 */
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

/**
 * IncrementalAlterConfigs: SET, DELETE, APPEND and SUBTRACT on the topic's overrides or the
 * broker level's dynamic configs.
 */
export function handleIncrementalAlterConfigs(
  state: BrokerState,
  request: IncrementalAlterConfigsRequest,
): Promise<AlterConfigsResponse> {
  return alter(state, request.resources, request.validateOnly, (index, current, target) => {
    const resourceName = request.resources[index]!.resourceName;
    const configs = request.resources[index]!.configs;
    if (new Set(configs.map((c) => c.name)).size !== configs.length) {
      return failure(ErrorCode.INVALID_REQUEST, "Error due to duplicate config keys");
    }
    const next = { ...current };
    for (const config of configs) {
      const def = target === "topic" ? TOPIC_CONFIGS[config.name] : BROKER_CONFIGS[config.name];
      if (def === undefined && target === "topic") {
        return failure(ErrorCode.INVALID_CONFIG, `Unknown topic config name: ${config.name}`);
      }
      if (def === undefined && config.configOperation !== OpType.DELETE) {
        // An unknown or read-only broker config: the answer validation gives it.
        return invalidBrokerValues(resourceName, { [config.name]: config.value ?? "" })!;
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
          if (def?.type !== ConfigType.LIST) {
            const verb = config.configOperation === OpType.APPEND ? "append" : "subtract";
            return failure(
              ErrorCode.INVALID_CONFIG,
              `Config value ${verb} is not allowed for config key: ${config.name}`,
            );
          }
          // A broker level's list starts from Kafka's default (ConfigAdminManager), a topic's
          // from the broker's value.
          const inherited = target === "topic"
            ? state.topics.brokerConfigs[config.name]
            : undefined;
          const items = (next[config.name] ?? inherited ?? def.defaultValue ?? "").split(",").map((
            v,
          ) => v.trim()).filter((v) => v !== "");
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
