/**
 * Child specs: a supervised process described as data (command, environment, ports,
 * dependencies, readiness probe, restart policy, shutdown grace, restart intensity and
 * backoff), in the manner of Erlang/OTP child specs. Validated with zod at the edge.
 *
 * @module
 */
import { z } from "zod";
import { dependencyWaves } from "./dependency_order.ts";

const portNumber = z.number().int().min(1).max(65535);

/** How to run a child: an executable and its arguments (no shell). */
export const ChildCommandSchema = z.object({
  executable: z.string().min(1),
  args: z.array(z.string()).default([]),
});

/** How the supervisor decides that a child is ready to serve. */
export const ReadinessProbeSchema = z.discriminatedUnion("kind", [
  /** `GET http://127.0.0.1:<port><path>` answers 200. */
  z.object({
    kind: z.literal("http"),
    port: portNumber,
    path: z.string().startsWith("/").default("/readyz"),
  }),
  /** A TCP connection to `127.0.0.1:<port>` is accepted. */
  z.object({ kind: z.literal("tcp"), port: portNumber }),
  /** Ready as soon as it is started. */
  z.object({ kind: z.literal("none") }),
]);

/**
 * What happens when a child exits outside a shutdown: `permanent` is always restarted,
 * `transient` only after an abnormal exit (non-zero code or a signal), `temporary` never.
 */
export const RestartPolicySchema = z.enum(["permanent", "transient", "temporary"]);

/** The schema of one child spec; see {@linkcode ChildSpec} for the validated form. */
export const ChildSpecSchema = z.object({
  /** Lower-case words joined by `-`: `raft-1`, `order-executor`. */
  name: z.string().regex(/^[a-z][a-z0-9]*(-[a-z0-9]+)*$/).max(32),
  command: ChildCommandSchema,
  /** Working directory; default the supervisor's. */
  cwd: z.string().min(1).optional(),
  /** Added to the supervisor's own environment. */
  env: z.record(z.string(), z.string()).default({}),
  /** Named ports, for display and probes: `{ grpc: 50070, http: 8080, raft: 7000 }`. */
  ports: z.record(z.string(), portNumber).default({}),
  /** Children that must be ready before this one is first started. */
  dependsOn: z.array(z.string()).default([]),
  readiness: ReadinessProbeSchema.default({ kind: "none" }),
  restart: RestartPolicySchema.default("permanent"),
  /** Time between the polite SIGTERM and the SIGKILL, in ms. */
  shutdownGraceMs: z.number().int().min(0).max(600_000).default(10_000),
  /** More than `maxRestarts` restarts within `withinMs` and the child is given up (`failed`). */
  intensity: z.object({
    maxRestarts: z.number().int().min(0).default(5),
    withinMs: z.number().int().min(1).default(60_000),
  }).prefault({}),
  /** Delay before a restart: exponential in consecutive crashes, with jitter (shared/runtime/retry.ts). */
  backoff: z.object({
    initialMs: z.number().int().min(0).default(200),
    maxMs: z.number().int().min(0).default(10_000),
    multiplier: z.number().min(1).default(2),
    /** Fraction of the delay randomized; below 0.5 successive delays still grow. */
    jitter: z.number().min(0).max(1).default(0.2),
    /** Running this long counts as recovered: the next crash starts the backoff afresh. */
    resetAfterMs: z.number().int().min(0).default(10_000),
  }).prefault({}),
});

/** A validated child spec, every default filled in. */
export type ChildSpec = z.output<typeof ChildSpecSchema>;
/** A child spec as written, defaults optional. */
export type ChildSpecInput = z.input<typeof ChildSpecSchema>;
/** The executable and arguments of a child. */
export type ChildCommand = z.output<typeof ChildCommandSchema>;
/** A validated readiness probe. */
export type ReadinessProbe = z.output<typeof ReadinessProbeSchema>;
/** `permanent` | `transient` | `temporary`. */
export type RestartPolicyName = z.output<typeof RestartPolicySchema>;

/** Thrown for a child spec (or a set of them) that cannot be supervised. */
export class ChildSpecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ChildSpecError";
  }
}

/**
 * Validates a set of child specs: each against {@linkcode ChildSpecSchema}, names unique,
 * every `dependsOn` naming a spec of the set, and no dependency cycle. Returns them with
 * defaults filled in; throws {@linkcode ChildSpecError} with one sentence naming the problem.
 */
export function parseChildSpecs(input: readonly unknown[]): ChildSpec[] {
  const specs = input.map((raw, index) => {
    const result = ChildSpecSchema.safeParse(raw);
    if (result.success) return result.data;
    const issue = result.error.issues[0]!;
    const name = typeof raw === "object" && raw !== null && "name" in raw
      ? String((raw as { name: unknown }).name)
      : `#${index}`;
    throw new ChildSpecError(
      `Invalid child spec "${name}" at ${issue.path.join(".") || "(root)"}: ${issue.message}`,
    );
  });
  const names = new Set<string>();
  for (const spec of specs) {
    if (names.has(spec.name)) {
      throw new ChildSpecError(`Duplicate child name "${spec.name}": expected unique names`);
    }
    names.add(spec.name);
  }
  for (const spec of specs) {
    for (const dependency of spec.dependsOn) {
      if (!names.has(dependency)) {
        throw new ChildSpecError(
          `Unknown dependency "${dependency}" of "${spec.name}": expected one of ${
            [...names].join(", ")
          }`,
        );
      }
    }
  }
  dependencyWaves(specs); // throws on a cycle
  return specs;
}
