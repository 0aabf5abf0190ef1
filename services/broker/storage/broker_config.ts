/**
 * Dynamic broker configs as Kafka keeps them (`DynamicBrokerConfig`): values set with
 * AlterConfigs / IncrementalAlterConfigs on a BROKER resource, per broker (resource name = the
 * broker id) or as the cluster default (resource name ""), durable in
 * `_meta/broker_configs.json` (rewritten atomically on every change).
 *
 * The names accepted are the dynamic configs of Kafka 3.x that mean something to one plaintext
 * broker: the log defaults the broker acts on (`log.retention.ms`, `message.max.bytes`, ...,
 * which then become every topic's default at once, as Kafka's `DynamicLogConfig` does), and
 * configs of parts this broker has not (SASL, the log cleaner, replication throttles), which
 * are stored and described with no effect: on a Kafka broker without a SASL listener or
 * followers they have none either.
 *
 * @module
 */
import { join } from "node:path";
import { writeFileDurably } from "./durable_file.ts";
import { ConfigType, type TopicConfigDef } from "./topic_config.ts";

/** One dynamic broker config's definition. */
export interface BrokerConfigDef {
  type: TopicConfigDef["type"];
  /** Kafka's default (KafkaConfig), null when it has none. */
  defaultValue: string | null;
  /** True for the configs Kafka updates only per broker, never as the cluster default. */
  perBroker: boolean;
  /** The topic config whose default this sets, when the broker acts on it. */
  topicSynonym?: string;
  /** Returns why `value` is invalid, or undefined (besides its type). */
  validate?: (value: string) => string | undefined;
}

const LONG_MAX = "9223372036854775807";
const INT_MAX = 2 ** 31 - 1;
const SHORT_MAX = 2 ** 15 - 1;

function atLeast(min: number) {
  return (value: string) =>
    value === LONG_MAX || Number(value) >= min ? undefined : `Value must be at least ${min}`;
}

const cluster = (
  type: BrokerConfigDef["type"],
  defaultValue: string | null,
  extra: Partial<BrokerConfigDef> = {},
): BrokerConfigDef => ({ type, defaultValue, perBroker: false, ...extra });
const sasl = (type: BrokerConfigDef["type"], defaultValue: string | null): BrokerConfigDef => ({
  type,
  defaultValue,
  perBroker: true,
});

/**
 * The dynamic broker configs accepted, with Kafka's types and defaults. The SASL ones are
 * per-broker in Kafka (`DynamicListenerConfig.ReconfigurableConfigs`); the others may also be
 * set as the cluster default.
 */
export const BROKER_CONFIGS: Readonly<Record<string, BrokerConfigDef>> = {
  "log.retention.ms": cluster(ConfigType.LONG, "604800000", {
    topicSynonym: "retention.ms",
    validate: atLeast(-1),
  }),
  "log.retention.bytes": cluster(ConfigType.LONG, "-1", { topicSynonym: "retention.bytes" }),
  "log.segment.bytes": cluster(ConfigType.INT, "1073741824", {
    topicSynonym: "segment.bytes",
    validate: atLeast(14),
  }),
  "log.roll.ms": cluster(ConfigType.LONG, "604800000", {
    topicSynonym: "segment.ms",
    validate: atLeast(1),
  }),
  "log.cleanup.policy": cluster(ConfigType.LIST, "delete", {
    topicSynonym: "cleanup.policy",
    validate: (v) =>
      v.split(",").every((p) => ["delete", "compact"].includes(p.trim()))
        ? undefined
        : "expected a comma-separated list of delete, compact",
  }),
  "message.max.bytes": cluster(ConfigType.INT, "1048588", {
    topicSynonym: "max.message.bytes",
    validate: atLeast(0),
  }),
  "log.cleaner.threads": cluster(ConfigType.INT, "1", { validate: atLeast(0) }),
  "log.cleaner.backoff.ms": cluster(ConfigType.LONG, "15000", { validate: atLeast(0) }),
  "leader.replication.throttled.rate": cluster(ConfigType.LONG, LONG_MAX, {
    validate: atLeast(0),
  }),
  "follower.replication.throttled.rate": cluster(ConfigType.LONG, LONG_MAX, {
    validate: atLeast(0),
  }),
  "replica.alter.log.dirs.io.max.bytes.per.second": cluster(ConfigType.LONG, LONG_MAX, {
    validate: atLeast(0),
  }),
  "sasl.enabled.mechanisms": sasl(ConfigType.LIST, "GSSAPI"),
  "sasl.mechanism.inter.broker.protocol": sasl(ConfigType.STRING, "GSSAPI"),
  "sasl.kerberos.service.name": sasl(ConfigType.STRING, null),
  "sasl.kerberos.kinit.cmd": sasl(ConfigType.STRING, "/usr/bin/kinit"),
  "sasl.kerberos.ticket.renew.window.factor": sasl(ConfigType.DOUBLE, "0.8"),
  "sasl.kerberos.ticket.renew.jitter": sasl(ConfigType.DOUBLE, "0.05"),
  "sasl.kerberos.min.time.before.relogin": sasl(ConfigType.LONG, "60000"),
  "sasl.kerberos.principal.to.local.rules": sasl(ConfigType.LIST, "DEFAULT"),
  "sasl.login.refresh.window.factor": sasl(ConfigType.DOUBLE, "0.8"),
  "sasl.login.refresh.window.jitter": sasl(ConfigType.DOUBLE, "0.05"),
  "sasl.login.refresh.min.period.seconds": sasl(ConfigType.SHORT, "60"),
  "sasl.login.refresh.buffer.seconds": sasl(ConfigType.SHORT, "300"),
};

/**
 * Kafka broker configs that exist but cannot be updated dynamically, here: Kafka's read-only
 * ones this broker reports, and the listener and thread-pool ones Kafka updates at run time but
 * this broker cannot (it keeps its one listener and its event loop).
 */
export const READ_ONLY_BROKER_CONFIGS: ReadonlySet<string> = new Set([
  "broker.id",
  "node.id",
  "auto.create.topics.enable",
  "num.partitions",
  "default.replication.factor",
  "log.dirs",
  "log.dir",
  "zookeeper.connect",
  "listeners",
  "advertised.listeners",
  "listener.security.protocol.map",
  "num.network.threads",
  "num.io.threads",
  "max.connections",
  "log.message.format.version",
]);

const TYPE_NAMES: Record<number, string> = {
  [ConfigType.INT]: "INT",
  [ConfigType.SHORT]: "SHORT",
  [ConfigType.LONG]: "LONG",
  [ConfigType.DOUBLE]: "DOUBLE",
};

/**
 * Returns why `name = value` cannot be a dynamic config at this level, as Kafka's
 * `DynamicBrokerConfig.validateConfigs` words it, or undefined. Kafka answers these with
 * INVALID_REQUEST (KAFKA-13609); `unknown` tells the caller the name is not a broker config
 * here at all.
 */
export function invalidBrokerConfig(
  name: string,
  value: string,
  perBroker: boolean,
): { unknown: boolean; message: string } | undefined {
  if (READ_ONLY_BROKER_CONFIGS.has(name)) {
    return { unknown: false, message: `Cannot update these configs dynamically: Set(${name})` };
  }
  const def = BROKER_CONFIGS[name];
  if (def === undefined) return { unknown: true, message: `Unknown broker config name: ${name}` };
  const typeName = TYPE_NAMES[def.type];
  const trimmed = value.trim();
  let problem: string | undefined;
  if (def.type === ConfigType.DOUBLE) {
    if (!/^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(trimmed)) {
      problem = `Not a number of type ${typeName}`;
    }
  } else if (typeName !== undefined) {
    const max = def.type === ConfigType.INT
      ? INT_MAX
      : def.type === ConfigType.SHORT
      ? SHORT_MAX
      : Number.MAX_SAFE_INTEGER;
    if (!/^-?\d+$/.test(trimmed) || (trimmed !== LONG_MAX && Math.abs(Number(trimmed)) > max)) {
      problem = `Not a number of type ${typeName}`;
    }
  }
  problem ??= def.validate?.(trimmed);
  if (problem !== undefined) {
    return {
      unknown: false,
      message: `Invalid value ${value} for configuration ${name}: ${problem}`,
    };
  }
  if (!perBroker && def.perBroker) {
    return {
      unknown: false,
      message:
        `Cannot update these configs at default cluster level, broker id must be specified: Set(${name})`,
    };
  }
  return undefined;
}

/** Dynamic broker configs of one level: name to value. */
export type BrokerConfigValues = Record<string, string>;

const FILE_NAME = "broker_configs.json";

/** The durable dynamic broker configs: the cluster default ("") and per broker id. */
export class BrokerConfigStore {
  /** Saves run one after another: two changes never interleave on the temporary file. */
  private saving: Promise<void> = Promise.resolve();

  private constructor(
    private readonly path: string,
    private readonly levels: Map<string, BrokerConfigValues>,
  ) {}

  /** Loads `_meta/broker_configs.json` (absent: none); drops entries no longer valid. */
  static async open(metaDir: string): Promise<BrokerConfigStore> {
    await Deno.mkdir(metaDir, { recursive: true });
    const path = join(metaDir, FILE_NAME);
    const levels = new Map<string, BrokerConfigValues>();
    try {
      const parsed = JSON.parse(await Deno.readTextFile(path)) as Record<string, unknown>;
      for (const [level, configs] of Object.entries(parsed)) {
        if (configs === null || typeof configs !== "object") continue;
        const clean: BrokerConfigValues = {};
        for (const [name, value] of Object.entries(configs as Record<string, unknown>)) {
          if (
            typeof value === "string" && invalidBrokerConfig(name, value, level !== "") ===
              undefined
          ) {
            clean[name] = value;
          }
        }
        levels.set(level, clean);
      }
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) {
        throw new Error(`Cannot read broker configs ${path}: ${(error as Error).message}`, {
          cause: error,
        });
      }
    }
    return new BrokerConfigStore(path, levels);
  }

  /** The values set at `level` ("" = cluster default, else a broker id). */
  get(level: string): BrokerConfigValues {
    return { ...this.levels.get(level) };
  }

  /** Replaces the values of `level` and makes the change durable before resolving. */
  async set(level: string, values: BrokerConfigValues): Promise<void> {
    if (Object.keys(values).length === 0) this.levels.delete(level);
    else this.levels.set(level, { ...values });
    const text = JSON.stringify(Object.fromEntries(this.levels), null, 2);
    const next = this.saving.then(() => writeFileDurably(this.path, text));
    this.saving = next.catch(() => {});
    await next;
  }

  /**
   * The topic config defaults the dynamic values of broker `nodeId` give (by topic config
   * name): its own value, else the cluster default's.
   */
  topicDefaults(nodeId: number): Record<string, string> {
    const merged = { ...this.get(""), ...this.get(String(nodeId)) };
    const defaults: Record<string, string> = {};
    for (const [name, value] of Object.entries(merged)) {
      const synonym = BROKER_CONFIGS[name]?.topicSynonym;
      if (synonym !== undefined) defaults[synonym] = value;
    }
    return defaults;
  }
}
