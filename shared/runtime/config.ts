/**
 * The one config loader: environment variables validated with zod at the edge. A missing or
 * malformed value stops start-up with one line naming the variable, the value and the
 * expected form (`Invalid RAFT_BIND_ADDR "abc": expected host:port`), exit code 2.
 *
 * Services compose their schema from the building blocks here ({@linkcode commonEnv},
 * {@linkcode kafkaEnv}, {@linkcode raftEnv}, {@linkcode chaosEnv}) and load it with
 * {@linkcode loadConfig}.
 *
 * @module
 */
import { z } from "zod";
import { parseChaosProfile } from "./chaos.ts";

/** Thrown when the environment does not match a service's schema. */
export class ConfigError extends Error {
  /** The variable that was wrong. */
  readonly variable: string;
  constructor(variable: string, message: string) {
    super(message);
    this.name = "ConfigError";
    this.variable = variable;
  }
}

/** The exit code of a process stopped by bad configuration. */
export const CONFIG_EXIT_CODE = 2;

type Env = Record<string, string | undefined>;

const EXPECTED = Symbol("expected");
const SECRET = Symbol("secret");

/** Attaches the human description of the expected form, used in error messages. */
function describe<T extends z.ZodType>(schema: T, expected: string): T {
  (schema as unknown as Record<symbol, string>)[EXPECTED] = expected;
  return schema;
}

/** Marks a building block whose value must never appear in an error message. */
function secret<T extends z.ZodType>(schema: T): T {
  (schema as unknown as Record<symbol, boolean>)[SECRET] = true;
  return schema;
}

function isSecret(schema: z.ZodType | undefined): boolean {
  return (schema as unknown as Record<symbol, boolean> | undefined)?.[SECRET] === true;
}

function expectedOf(schema: z.ZodType): string | undefined {
  let current: unknown = schema;
  for (let i = 0; i < 5 && current; i++) {
    const expected = (current as Record<symbol, string>)[EXPECTED];
    if (expected) return expected;
    // Look through wrappers such as .prefault() and .optional().
    current = (current as { def?: { innerType?: unknown } }).def?.innerType;
  }
  return undefined;
}

const HOST_PORT = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;

/** Parses `host:port`; returns undefined when malformed. */
export function parseHostPort(value: string): { host: string; port: number } | undefined {
  const match = HOST_PORT.exec(value.trim());
  if (!match) return undefined;
  const port = Number(match[2]);
  if (port < 1 || port > 65535) return undefined;
  return { host: match[1]!, port };
}

/** A TCP port, 1-65535 (0 allowed when `allowZero`, meaning "any free port"). */
export function port(defaultValue?: number, allowZero = false) {
  const min = allowZero ? 0 : 1;
  const schema = z.string().trim().regex(/^\d+$/).transform(Number).pipe(
    z.number().int().min(min).max(65535),
  );
  const expected = `an integer port ${min}-65535`;
  return describe(
    defaultValue === undefined ? schema : schema.prefault(String(defaultValue)),
    expected,
  );
}

/** A `host:port` address. */
export function hostPort(defaultValue?: string) {
  const schema = z.string().trim().refine((v) => parseHostPort(v) !== undefined);
  return describe(defaultValue === undefined ? schema : schema.prefault(defaultValue), "host:port");
}

/** A comma-separated, non-empty list of `host:port` addresses. */
export function hostPortList(defaultValue?: string) {
  const schema = z.string().trim().refine((v) =>
    v.split(",").every((part) => parseHostPort(part) !== undefined)
  ).transform((v) => v.split(",").map((part) => part.trim()));
  return describe(
    defaultValue === undefined ? schema : schema.prefault(defaultValue),
    "a comma-separated list of host:port",
  );
}

/** A boolean: `true`, `false`, `1`, `0`, `yes`, `no`. */
export function bool(defaultValue: boolean) {
  return describe(
    z.string().trim().toLowerCase().pipe(z.enum(["true", "false", "1", "0", "yes", "no"]))
      .transform((v) => v === "true" || v === "1" || v === "yes").prefault(
        String(defaultValue) as "true" | "false",
      ),
    "true or false",
  );
}

/** An integer within bounds. */
export function int(min: number, max: number, defaultValue?: number) {
  const schema = z.string().trim().regex(/^-?\d+$/).transform(Number).pipe(
    z.number().int().min(min).max(max),
  );
  return describe(
    defaultValue === undefined ? schema : schema.prefault(String(defaultValue)),
    `an integer ${min}-${max}`,
  );
}

/** A finite number within bounds. */
export function num(min: number, max: number, defaultValue?: number) {
  const schema = z.string().trim().regex(/^-?\d+(\.\d+)?$/).transform(Number).pipe(
    z.number().min(min).max(max),
  );
  return describe(
    defaultValue === undefined ? schema : schema.prefault(String(defaultValue)),
    `a number ${min}-${max}`,
  );
}

/** A non-empty string matching `pattern` (described as `expected`). */
export function text(expected: string, defaultValue?: string, pattern = /^.+$/s) {
  const schema = z.string().trim().regex(pattern);
  return describe(defaultValue === undefined ? schema : schema.prefault(defaultValue), expected);
}

/** One of a fixed set of words. */
export function oneOf<const T extends readonly [string, ...string[]]>(
  values: T,
  defaultValue?: T[number],
) {
  const schema = z.string().trim().pipe(z.enum(values));
  return describe(
    defaultValue === undefined ? schema : schema.prefault(defaultValue),
    `one of ${values.join("|")}`,
  );
}

/** Makes a building block optional (absent stays `undefined`). */
export function optional<T extends z.ZodType>(schema: T) {
  return describe(schema.optional(), expectedOf(schema) ?? "a value");
}

/** A chaos profile string. */
export function chaosProfile() {
  return describe(
    z.string().trim().refine((v) => {
      try {
        parseChaosProfile(v);
        return true;
      } catch {
        return false;
      }
    }).optional(),
    'a profile like "drop-pct=30,delay=50-250"',
  );
}

/** True for 127.0.0.0/8, ::1 and localhost: addresses no other machine can reach. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[(.*)\]$/, "$1").toLowerCase();
  return bare === "localhost" || bare === "::1" || /^127(\.\d{1,3}){3}$/.test(bare);
}

/**
 * `CLUSTER_SECRET`: the secret shared by every process of one pipeline, which internal gRPC
 * clients present and servers require (shared/grpc/cluster_secret.ts). At least 16 characters, no
 * white space; optional, but mandatory for a process bound beyond loopback
 * ({@linkcode requireClusterSecretBeyondLoopback}).
 */
export function clusterSecret() {
  return secret(optional(
    text("a secret of 16-256 characters without white space", undefined, /^\S{16,256}$/),
  ));
}

/**
 * Throws a {@linkcode ConfigError} naming `CLUSTER_SECRET` when `secret` is unset although
 * one of `binds` (variable name and the host it binds) is not a loopback address: whoever
 * reaches such a port from another machine must not get in without the secret.
 */
export function requireClusterSecretBeyondLoopback(
  secret: string | undefined,
  binds: readonly { variable: string; host: string }[],
): void {
  if (secret !== undefined) return;
  const open = binds.find((bind) => !isLoopbackHost(bind.host));
  if (open === undefined) return;
  throw new ConfigError(
    "CLUSTER_SECRET",
    `Missing CLUSTER_SECRET: expected a secret when ${open.variable} "${open.host}" is not a loopback address`,
  );
}

/** Variables every service has: ports, log level, the cluster secret. */
export function commonEnv(defaults: { grpcPort?: number; httpPort: number }) {
  return {
    PORT_GRPC: defaults.grpcPort === undefined ? optional(port()) : port(defaults.grpcPort, true),
    PORT_HTTP: port(defaults.httpPort, true),
    LOG_LEVEL: oneOf(["debug", "info", "warn", "error"] as const, "info"),
    CLUSTER_SECRET: clusterSecret(),
  };
}

/** Kafka connection: `KAFKA_BROKERS` (comma list). */
export const kafkaEnv = {
  KAFKA_BROKERS: hostPortList("127.0.0.1:9092"),
};

/** Raft node identity, addresses, storage and cluster formation. */
export const raftEnv = {
  RAFT_NODE_ID: text("a node id of letters, digits, - or _", undefined, /^[A-Za-z0-9_-]{1,64}$/),
  RAFT_BIND_ADDR: hostPort("127.0.0.1:7000"),
  RAFT_ADVERTISE_ADDR: optional(hostPort()),
  RAFT_DATA_DIR: optional(text("a directory path")),
  RAFT_BOOTSTRAP: bool(false),
  RAFT_JOIN_ADDR: optional(hostPortList()),
};

/** Where clients find the Raft cluster (`RAFT_NODE_GRPC_ADDR`, a comma list). */
export const raftClientEnv = {
  RAFT_NODE_GRPC_ADDR: hostPortList("127.0.0.1:50070"),
};

/** Chaos in the Raft transport; off unless `CHAOS_ENABLED`. */
export const chaosEnv = {
  CHAOS_ENABLED: bool(false),
  CHAOS_PROFILE: chaosProfile(),
  CHAOS_TARGET_NODE_ID: optional(text("a node id")),
  CHAOS_DROP_PCT: optional(int(0, 100)),
  CHAOS_DELAY_MS_MIN: optional(int(0, 600_000)),
  CHAOS_DELAY_MS_MAX: optional(int(0, 600_000)),
  CHAOS_SEED: optional(int(0, Number.MAX_SAFE_INTEGER)),
  CHAOS_EXIT_ON_LEADER: bool(false),
};

/**
 * Validates `env` against a schema built from the blocks above. Returns the typed config;
 * throws {@linkcode ConfigError} for the first bad variable.
 *
 * @example
 * ```ts
 * const config = loadConfig({ ...commonEnv({ httpPort: 8085 }), ...kafkaEnv });
 * config.KAFKA_BROKERS; // string[]
 * ```
 */
export function loadConfig<S extends z.ZodRawShape>(
  shape: S,
  env: Env = Deno.env.toObject(),
): z.infer<z.ZodObject<S>> {
  const input: Env = {};
  for (const key of Object.keys(shape)) {
    const value = env[key];
    // An empty variable counts as unset, as in most shells' `VAR= cmd`.
    if (value !== undefined && value !== "") input[key] = value;
  }
  const result = z.object(shape).safeParse(input);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const variable = String(issue.path[0] ?? "?");
  const expected = expectedOf(shape[variable] as z.ZodType) ?? issue.message;
  const value = input[variable];
  const message = value === undefined
    ? `Missing ${variable}: expected ${expected}`
    : isSecret(shape[variable] as z.ZodType)
    ? `Invalid ${variable} (value not shown, ${value.length} characters): expected ${expected}`
    : `Invalid ${variable} "${value}": expected ${expected}`;
  throw new ConfigError(variable, message);
}
