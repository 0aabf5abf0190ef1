/**
 * The one entry point of every role: `deno run -A main.ts <role> [args...]`, or
 * `trading <role> [args...]` for the compiled binary. The supervisor starts its children by
 * re-running this same executable with another role, so the layout is identical under
 * `deno run` and `deno compile`.
 *
 * @module
 */
import { CONFIG_EXIT_CODE, ConfigError } from "@trading/shared/config";

/** A role's entry: parses its own arguments and environment, returns the exit code. */
export type RoleMain = (args: string[]) => Promise<number>;

/** Every role, loaded lazily so that a process only loads the code it runs. */
export const ROLES: Record<string, { describe: string; load: () => Promise<RoleMain> }> = {
  topics: {
    describe: "create (default) or list the topics on KAFKA_BROKERS",
    load: () => import("./scripts/topics.ts").then((m) => m.main),
  },
  up: {
    describe: "the whole pipeline under the supervisor",
    load: () => import("./supervisor/main.ts").then((m) => m.main),
  },
  ctl: {
    describe: "send a control command to the running supervisor (deno task ctl status)",
    load: () => import("./supervisor/control/ctl.ts").then((m) => m.main),
  },
  broker: {
    describe: "the embedded Kafka-protocol broker (BROKER_PORT, BROKER_DATA_DIR, BROKER_*)",
    load: () => import("./services/broker/main.ts").then((m) => m.main),
  },
  "raft-node": {
    describe: "one member of the Raft order de-duplication cluster (RAFT_NODE_ID, RAFT_*)",
    load: () => import("./services/raft-node/main.ts").then((m) => m.main),
  },
  "market-ingestor": {
    describe: "publishes synthetic or replayed ticks to market.ticks (INGESTOR_*)",
    load: () => import("./services/market-ingestor/main.ts").then((m) => m.main),
  },
  "stream-processor": {
    describe: "turns ticks into order commands with stateful strategies (STRATEGIES, MAC_*, BRK_*)",
    load: () => import("./services/stream-processor/main.ts").then((m) => m.main),
  },
  "order-executor": {
    describe: "risk checks, Raft de-duplication and one event per order (EXECUTOR_*, RISK_*)",
    load: () => import("./services/order-executor/main.ts").then((m) => m.main),
  },
  verify: {
    describe: "verify <seconds> [brokers] [--json]: no duplicate and no lost order events",
    load: () => import("./services/verifier/main.ts").then((m) => m.main),
  },
  run: {
    describe:
      "run <role> [args...]: the same as <role> (for the binary: trading run order-executor)",
    load: () => Promise.resolve((args: string[]) => runRole(args[0], args.slice(1))),
  },
  "supervisor-watchdog": {
    describe: "internal: kills the supervisor's children if the supervisor dies",
    load: () => import("./supervisor/supervision/watchdog.ts").then((m) => m.main),
  },
  "dashboard-raft-poller": {
    describe: "internal: the dashboard's Raft Status poller, one JSON line per round",
    load: () => import("./supervisor/dashboard/dashboard_raft_poller.ts").then((m) => m.main),
  },
  "raft-call": {
    describe: "internal: the supervisor's RaftNode/RaftAdmin calls, from a short-lived process",
    load: () => import("./supervisor/control/raft_call.ts").then((m) => m.main),
  },
};

function usage(): string {
  const width = Math.max(...Object.keys(ROLES).map((r) => r.length));
  const lines = Object.entries(ROLES).map(([role, { describe }]) =>
    `  ${role.padEnd(width)}  ${describe}`
  );
  return `Usage: main.ts <role> [args...]\n\nRoles:\n${lines.join("\n")}`;
}

/** Runs `role` with `args` and returns its exit code; config errors exit 2 with one line. */
export async function runRole(role: string | undefined, args: string[]): Promise<number> {
  const entry = role === undefined ? undefined : ROLES[role];
  if (!entry) {
    console.error(role === undefined ? usage() : `Unknown role "${role}"\n\n${usage()}`);
    return 2;
  }
  try {
    const main = await entry.load();
    return await main(args);
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      return CONFIG_EXIT_CODE;
    }
    throw error;
  }
}

if (import.meta.main) {
  const [role, ...args] = Deno.args;
  Deno.exit(await runRole(role, args));
}
