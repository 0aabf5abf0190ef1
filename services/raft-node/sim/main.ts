/**
 * Runs the deterministic simulation from the command line:
 *
 * ```sh
 * deno task test:sim --seed 1234 --nodes 5          # replay one run
 * deno task test:sim --seeds 2000                    # seeds 1..2000, 3 and 5 nodes alternately
 * deno task test:sim --seeds 500 --unsafe commitPreviousTermByCounting
 * ```
 *
 * Options: `--seed S` (first seed, default 1), `--seeds N` (how many, default 1), `--nodes K`
 * (default: 3 for odd seeds, 5 for even ones), `--steps N` (chaos events, default 20000),
 * `--clients C`, `--unsafe FLAG` (repeatable; see `UnsafeFlags`), `--keep-going` (do not stop
 * at the first failure), `--verbose` (one line per seed).
 * Exit code 0 when every run passed, 1 otherwise, 2 for a bad argument (with the usage).
 *
 * @module
 */
import { parseArgs } from "node:util";
import type { UnsafeFlags } from "../core/types.ts";
import { Simulation, SimulationFailure, type SimulationOptions } from "./simulation.ts";

const UNSAFE_FLAGS = [
  "commitPreviousTermByCounting",
  "skipPreVoteLeaseCheck",
  "skipLogUpToDateCheck",
  "skipReadIndexConfirmation",
  "countUnpersistedLeaderLog",
  "sendEverythingEarly",
] as const;

/** Default chaos steps per run. */
export const DEFAULT_STEPS = 20_000;

/** The cluster size a seed runs with when `--nodes` is not given. */
export function defaultNodes(seed: number): number {
  return seed % 2 === 1 ? 3 : 5;
}

const OPTIONS = {
  seed: { type: "string" },
  seeds: { type: "string" },
  nodes: { type: "string" },
  steps: { type: "string" },
  clients: { type: "string" },
  unsafe: { type: "string", multiple: true },
  "keep-going": { type: "boolean" },
  verbose: { type: "boolean" },
} as const;

function positiveInt(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new UsageError(`Invalid --${name} "${value}": expected a non-negative integer`);
  }
  return n;
}

/** What `--help` and a bad argument print. */
export const USAGE = `Usage: deno task test:sim [--seed S] [--seeds N] [--nodes K] [--steps N]
                          [--clients C] [--unsafe FLAG]... [--keep-going] [--verbose]
  --seed S       first seed (default 1); --seeds N runs S..S+N-1
  --nodes K      cluster size (default: 3 for odd seeds, 5 for even ones)
  --steps N      chaos events per run (default ${DEFAULT_STEPS})
  --unsafe FLAG  switch off a safety rule, to see the simulator catch it: one of
                 ${UNSAFE_FLAGS.join(", ")}
Exit code 0 when every run passed, 1 when one failed, 2 for a bad argument.`;

/** Parses the arguments, runs the seeds and returns the exit code. */
export function main(args: string[]): number {
  if (args.includes("--help") || args.includes("-h")) {
    console.log(USAGE);
    return 0;
  }
  try {
    return run(args);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`${error.message}\n\n${USAGE}`);
    return 2;
  }
}

/** A bad command-line argument: printed with the usage, exit code 2. */
class UsageError extends Error {}

function run(args: string[]): number {
  let parsed;
  try {
    parsed = parseArgs({ args, options: OPTIONS });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values } = parsed;

  const first = positiveInt("seed", values.seed, 1);
  const count = positiveInt("seeds", values.seeds, 1);
  const steps = positiveInt("steps", values.steps, DEFAULT_STEPS);
  const nodes = values.nodes === undefined ? undefined : positiveInt("nodes", values.nodes, 3);
  const clients = values.clients === undefined
    ? undefined
    : positiveInt("clients", values.clients, 3);
  const unsafe: Record<string, boolean> = {};
  for (const flag of values.unsafe ?? []) {
    if (!(UNSAFE_FLAGS as readonly string[]).includes(flag)) {
      throw new UsageError(
        `Invalid --unsafe "${flag}": expected one of ${UNSAFE_FLAGS.join(", ")}`,
      );
    }
    unsafe[flag] = true;
  }

  const started = performance.now();
  let failures = 0;
  let ops = 0;
  let crashesBeforeSync = 0;
  let commitsBeforeLeaderSync = 0;
  for (let seed = first; seed < first + count; seed++) {
    const options: SimulationOptions = {
      seed,
      nodes: nodes ?? defaultNodes(seed),
      steps,
      ...(clients === undefined ? {} : { clients }),
      ...(Object.keys(unsafe).length === 0 ? {} : { unsafe: unsafe as UnsafeFlags }),
    };
    try {
      const report = new Simulation(options).run();
      ops += report.operations.total;
      crashesBeforeSync += report.crashesBeforeSync;
      commitsBeforeLeaderSync += report.commitsBeforeLeaderSync;
      if (values.verbose || count === 1) {
        console.log(
          `seed ${seed} nodes ${report.nodes}: ok, ${report.steps} steps, ${report.virtualMs} virtual ms, ` +
            `term ${report.maxTerm}, committed ${report.committed}, crashes ${report.crashes} ` +
            `(${report.crashesBeforeSync} between early send and fsync), ` +
            `${report.commitsBeforeLeaderSync} commits before the leader's fsync, ` +
            `partitions ${report.partitions}, transfers ${report.transfers}, membership changes ${report.confChanges}, snapshots installed ${report.snapshotsInstalled}, ` +
            `leaders forgotten on a closed connection ${report.leadersForgotten}, ` +
            `${report.messages} messages, ops ${report.operations.ok} ok + ${report.operations.unknown} unknown, ` +
            `converged ${report.convergedAfterMs} ms after healing`,
        );
      } else if ((seed - first + 1) % 100 === 0) {
        console.log(
          `${seed - first + 1}/${count} seeds ok (${
            ((performance.now() - started) / 1000).toFixed(1)
          } s)`,
        );
      }
    } catch (error) {
      if (!(error instanceof SimulationFailure)) throw error;
      failures++;
      console.log(`\nseed ${seed} FAILED after ${seed - first + 1} seed(s) run: ${error.reason}`);
      console.log(`Last events:\n${error.trace.slice(-40).join("\n")}`);
      console.log(`\nReplay: ${error.replay}\n`);
      if (!values["keep-going"]) {
        console.log(`found a failure at seed ${seed}, the ${seed - first + 1}th seed run`);
        return 1;
      }
    }
  }
  const seconds = (performance.now() - started) / 1000;
  console.log(
    `${count - failures}/${count} seeds passed in ${
      seconds.toFixed(1)
    } s (${ops} client operations checked for linearizability; ` +
      `${commitsBeforeLeaderSync} leader writes committed by followers before the leader's fsync; ` +
      `${crashesBeforeSync} crashes between early send and fsync)`,
  );
  return failures === 0 ? 0 : 1;
}

if (import.meta.main) {
  Deno.exit(main(Deno.args));
}
