/**
 * Topic configs as Kafka names them (`retention.ms`, `cleanup.policy`, ...): their types,
 * defaults and validation, the overrides a topic carries, and their durable store
 * (`_meta/topic_configs.json`, rewritten atomically on every change).
 *
 * Every config name of Kafka's `TopicConfig` is accepted and described, so that admin clients
 * (librdkafka's AlterConfigs test sets `compression.type` and `flush.ms`) work unchanged; the
 * ones the broker acts on are marked `enforced`, the others are stored and reported only.
 *
 * @module
 */
import { join } from "node:path";
import { writeFileDurably } from "./durable_file.ts";

/** The value types of Kafka configs, numbered as DescribeConfigs v3+ reports them. */
export const ConfigType = {
  BOOLEAN: 1,
  STRING: 2,
  INT: 3,
  SHORT: 4,
  LONG: 5,
  DOUBLE: 6,
  LIST: 7,
} as const;

/** Where a described value comes from (DescribeConfigsResponse.ConfigSource). */
export const ConfigSource = {
  TOPIC_CONFIG: 1,
  DYNAMIC_BROKER_CONFIG: 2,
  DYNAMIC_DEFAULT_BROKER_CONFIG: 3,
  STATIC_BROKER_CONFIG: 4,
  DEFAULT_CONFIG: 5,
} as const;

/** One topic config's definition. */
export interface TopicConfigDef {
  type: (typeof ConfigType)[keyof typeof ConfigType];
  /** Kafka's default, used when neither the topic nor the broker sets it. */
  defaultValue: string;
  /** The broker setting that supplies the default (Kafka's synonym), if any. */
  brokerSynonym?: string;
  /** True when the broker acts on the value; false when it is stored and reported only. */
  enforced: boolean;
  /** Returns why `value` is invalid, or undefined. */
  validate?: (value: string) => string | undefined;
}

const LONG_MAX = "9223372036854775807";

function integer(min: number, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): string | undefined => {
    if (!/^-?\d+$/.test(value)) return `expected an integer`;
    const n = Number(value);
    // Kafka's Long.MAX_VALUE means "never"; it is above JS's safe range but still a legal value.
    if (value === LONG_MAX) return undefined;
    if (n < min || n > max) return `expected an integer from ${min} to ${max}`;
    return undefined;
  };
}

function oneOf(...values: string[]) {
  return (value: string): string | undefined =>
    values.includes(value) ? undefined : `expected one of ${values.join(", ")}`;
}

function listOf(...values: string[]) {
  return (value: string): string | undefined => {
    const items = value.split(",").map((v) => v.trim());
    return items.length > 0 && items.every((i) => values.includes(i))
      ? undefined
      : `expected a comma-separated list of ${values.join(", ")}`;
  };
}

const bool = oneOf("true", "false");
const INT_MAX = 2 ** 31 - 1;

/** Every topic config of Kafka 3.x (org.apache.kafka.common.config.TopicConfig). */
export const TOPIC_CONFIGS: Readonly<Record<string, TopicConfigDef>> = {
  "cleanup.policy": {
    type: ConfigType.LIST,
    defaultValue: "delete",
    brokerSynonym: "log.cleanup.policy",
    enforced: true,
    validate: listOf("delete", "compact"),
  },
  "compression.type": {
    type: ConfigType.STRING,
    defaultValue: "producer",
    enforced: false,
    validate: oneOf("uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"),
  },
  "delete.retention.ms": {
    type: ConfigType.LONG,
    defaultValue: "86400000",
    enforced: false,
    validate: integer(0),
  },
  "file.delete.delay.ms": {
    type: ConfigType.LONG,
    defaultValue: "60000",
    enforced: false,
    validate: integer(0),
  },
  "flush.messages": {
    type: ConfigType.LONG,
    defaultValue: LONG_MAX,
    enforced: false,
    validate: integer(1),
  },
  "flush.ms": {
    type: ConfigType.LONG,
    defaultValue: LONG_MAX,
    enforced: false,
    validate: integer(0),
  },
  "follower.replication.throttled.replicas": {
    type: ConfigType.LIST,
    defaultValue: "",
    enforced: false,
  },
  "index.interval.bytes": {
    type: ConfigType.INT,
    defaultValue: "4096",
    enforced: false,
    validate: integer(0, INT_MAX),
  },
  "leader.replication.throttled.replicas": {
    type: ConfigType.LIST,
    defaultValue: "",
    enforced: false,
  },
  "max.compaction.lag.ms": {
    type: ConfigType.LONG,
    defaultValue: LONG_MAX,
    enforced: false,
    validate: integer(1),
  },
  "max.message.bytes": {
    type: ConfigType.INT,
    defaultValue: "1048588",
    brokerSynonym: "message.max.bytes",
    enforced: true,
    validate: integer(0, INT_MAX),
  },
  "message.downconversion.enable": {
    type: ConfigType.BOOLEAN,
    defaultValue: "true",
    enforced: false,
    validate: bool,
  },
  "message.format.version": { type: ConfigType.STRING, defaultValue: "3.0-IV1", enforced: false },
  "message.timestamp.difference.max.ms": {
    type: ConfigType.LONG,
    defaultValue: LONG_MAX,
    enforced: false,
    validate: integer(0),
  },
  "message.timestamp.type": {
    type: ConfigType.STRING,
    defaultValue: "CreateTime",
    enforced: false,
    validate: oneOf("CreateTime", "LogAppendTime"),
  },
  "min.cleanable.dirty.ratio": {
    type: ConfigType.DOUBLE,
    defaultValue: "0.5",
    enforced: false,
    validate: (v) => /^\d*\.?\d+$/.test(v) && Number(v) <= 1 ? undefined : "expected 0 to 1",
  },
  "min.compaction.lag.ms": {
    type: ConfigType.LONG,
    defaultValue: "0",
    enforced: false,
    validate: integer(0),
  },
  "min.insync.replicas": {
    type: ConfigType.INT,
    defaultValue: "1",
    enforced: false,
    validate: integer(1, INT_MAX),
  },
  "preallocate": {
    type: ConfigType.BOOLEAN,
    defaultValue: "false",
    enforced: false,
    validate: bool,
  },
  "retention.bytes": {
    type: ConfigType.LONG,
    defaultValue: "-1",
    brokerSynonym: "log.retention.bytes",
    enforced: true,
    validate: integer(-1),
  },
  "retention.ms": {
    type: ConfigType.LONG,
    defaultValue: "604800000",
    brokerSynonym: "log.retention.ms",
    enforced: true,
    validate: integer(-1),
  },
  "segment.bytes": {
    type: ConfigType.INT,
    defaultValue: "1073741824",
    brokerSynonym: "log.segment.bytes",
    enforced: true,
    validate: integer(14, INT_MAX),
  },
  "segment.index.bytes": {
    type: ConfigType.INT,
    defaultValue: "10485760",
    enforced: false,
    validate: integer(4, INT_MAX),
  },
  "segment.jitter.ms": {
    type: ConfigType.LONG,
    defaultValue: "0",
    enforced: false,
    validate: integer(0),
  },
  "segment.ms": {
    type: ConfigType.LONG,
    defaultValue: "604800000",
    brokerSynonym: "log.roll.ms",
    enforced: true,
    validate: integer(1),
  },
  "unclean.leader.election.enable": {
    type: ConfigType.BOOLEAN,
    defaultValue: "false",
    enforced: false,
    validate: bool,
  },
};

/** A topic's config overrides: name to value, only the names the topic sets. */
export type TopicConfigOverrides = Record<string, string>;

/**
 * Returns why setting `name` to `value` is refused (Kafka's INVALID_CONFIG), or undefined.
 * A null value means "remove the override" and is always valid for a known name.
 */
export function invalidTopicConfig(name: string, value: string | null): string | undefined {
  const def = TOPIC_CONFIGS[name];
  if (def === undefined) return `Unknown topic config name: ${name}`;
  if (value === null) return undefined;
  const problem = def.validate?.(value);
  return problem === undefined
    ? undefined
    : `Invalid value ${value} for configuration ${name}: ${problem}`;
}

/** What the log of a topic acts on, resolved from its overrides and the broker's defaults. */
export interface EffectiveTopicConfig {
  retentionMs: number;
  retentionBytes: number;
  /** `delete`: retention deletes old segments; `compact` only: it does not. */
  cleanupDelete: boolean;
  cleanupCompact: boolean;
  maxMessageBytes: number;
  segmentBytes: number;
  segmentMs: number;
}

function numberOf(value: string): number {
  // Long.MAX_VALUE ("never") does not fit a JS number exactly; Infinity keeps its meaning.
  return value === LONG_MAX ? Number.POSITIVE_INFINITY : Number(value);
}

/**
 * Resolves the enforced configs: the topic's override, else the broker's value (`brokerDefaults`,
 * by topic config name), else Kafka's default.
 */
export function effectiveTopicConfig(
  overrides: TopicConfigOverrides,
  brokerDefaults: Readonly<Record<string, string>>,
): EffectiveTopicConfig {
  const value = (name: string) =>
    overrides[name] ?? brokerDefaults[name] ?? TOPIC_CONFIGS[name]!.defaultValue;
  const policy = value("cleanup.policy").split(",").map((p) => p.trim());
  return {
    retentionMs: numberOf(value("retention.ms")),
    retentionBytes: numberOf(value("retention.bytes")),
    cleanupDelete: policy.includes("delete"),
    cleanupCompact: policy.includes("compact"),
    maxMessageBytes: numberOf(value("max.message.bytes")),
    segmentBytes: numberOf(value("segment.bytes")),
    segmentMs: numberOf(value("segment.ms")),
  };
}

const FILE_NAME = "topic_configs.json";

/** The durable config overrides of every topic. */
export class TopicConfigStore {
  /** Saves run one after another: two changes never interleave on the temporary file. */
  private saving: Promise<void> = Promise.resolve();

  private constructor(
    private readonly path: string,
    private readonly overrides: Map<string, TopicConfigOverrides>,
  ) {}

  /** Loads `_meta/topic_configs.json` (absent: no overrides). */
  static async open(metaDir: string): Promise<TopicConfigStore> {
    await Deno.mkdir(metaDir, { recursive: true });
    const path = join(metaDir, FILE_NAME);
    const overrides = new Map<string, TopicConfigOverrides>();
    try {
      const parsed = JSON.parse(await Deno.readTextFile(path)) as Record<string, unknown>;
      for (const [topic, configs] of Object.entries(parsed)) {
        if (configs === null || typeof configs !== "object") continue;
        const clean: TopicConfigOverrides = {};
        for (const [name, value] of Object.entries(configs as Record<string, unknown>)) {
          if (typeof value === "string" && invalidTopicConfig(name, value) === undefined) {
            clean[name] = value;
          }
        }
        overrides.set(topic, clean);
      }
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) {
        throw new Error(`Cannot read topic configs ${path}: ${(error as Error).message}`, {
          cause: error,
        });
      }
    }
    return new TopicConfigStore(path, overrides);
  }

  /** The overrides of `topic` (empty when none). */
  get(topic: string): TopicConfigOverrides {
    return { ...this.overrides.get(topic) };
  }

  /** Replaces the overrides of `topic` and makes the change durable before resolving. */
  async set(topic: string, overrides: TopicConfigOverrides): Promise<void> {
    if (Object.keys(overrides).length === 0) this.overrides.delete(topic);
    else this.overrides.set(topic, { ...overrides });
    await this.save();
  }

  /** Forgets a deleted topic's overrides. */
  async delete(topic: string): Promise<void> {
    if (!this.overrides.delete(topic)) return;
    await this.save();
  }

  /** Topics that have overrides. */
  topics(): string[] {
    return [...this.overrides.keys()];
  }

  private save(): Promise<void> {
    const text = JSON.stringify(Object.fromEntries(this.overrides), null, 2);
    const next = this.saving.then(() => this.write(text));
    this.saving = next.catch(() => {});
    return next;
  }

  private async write(text: string): Promise<void> {
    // A crash leaves the old file or the new one, never a torn one.
    await writeFileDurably(this.path, text);
  }
}
