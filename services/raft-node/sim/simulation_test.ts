import assert from "node:assert/strict";
import { longMode } from "@trading/testing";
import type { UnsafeFlags } from "../core/types.ts";
import { DEFAULT_STEPS, defaultNodes } from "./main.ts";
import { Simulation, SimulationFailure, type SimulationOptions } from "./simulation.ts";

/** Chaos events per run in the quick set (about 10-40 virtual seconds of cluster life). */
const STEPS = DEFAULT_STEPS;
/** Seeds of the quick set inside `deno test`; the long mode is `deno task test:sim --seeds 2000`. */
const QUICK_SEEDS = longMode() ? 1000 : 100;

function runSeed(options: SimulationOptions): ReturnType<Simulation["run"]> {
  try {
    return new Simulation(options).run();
  } catch (error) {
    if (error instanceof SimulationFailure) {
      // One line to replay, plus the last events for context.
      throw new Error(
        `${error.reason}\n${error.trace.slice(-30).join("\n")}\nReplay: ${error.replay}`,
      );
    }
    throw error;
  }
}

Deno.test(`Simulation keeps every invariant and linearizability over ${QUICK_SEEDS} seeds of 3 and 5 nodes`, () => {
  let operations = 0;
  let crashes = 0;
  let crashesBeforeSync = 0;
  let commitsBeforeLeaderSync = 0;
  let snapshots = 0;
  let leadersForgotten = 0;
  for (let seed = 1; seed <= QUICK_SEEDS; seed++) {
    const report = runSeed({ seed, nodes: defaultNodes(seed), steps: STEPS });
    operations += report.operations.total;
    crashes += report.crashes;
    crashesBeforeSync += report.crashesBeforeSync;
    commitsBeforeLeaderSync += report.commitsBeforeLeaderSync;
    snapshots += report.snapshotsInstalled;
    leadersForgotten += report.leadersForgotten;
  }
  // The runs must actually have exercised faults, clients and snapshot installs, and the
  // leader's write in parallel with replication: entries committed by followers before the
  // leader's own fsync, and processes killed between their early messages and their fsync.
  assert.ok(operations > QUICK_SEEDS * 100, `${operations} client operations`);
  assert.ok(crashes > QUICK_SEEDS, `${crashes} crashes`);
  assert.ok(crashesBeforeSync > QUICK_SEEDS / 2, `${crashesBeforeSync} crashes before fsync`);
  assert.ok(commitsBeforeLeaderSync > 0, `${commitsBeforeLeaderSync} commits before fsync`);
  assert.ok(snapshots > 0, `${snapshots} snapshots installed`);
  // Killed leaders' followers campaign at once (the service's failover path, NodeLoop.peerGone).
  assert.ok(leadersForgotten > QUICK_SEEDS, `${leadersForgotten} leaders forgotten`);
});

Deno.test("Simulation is deterministic: one seed gives the same run twice", () => {
  const a = runSeed({ seed: 7, nodes: 5, steps: 5000 });
  const b = runSeed({ seed: 7, nodes: 5, steps: 5000 });
  assert.deepEqual(
    { ...a, history: a.history.length },
    { ...b, history: b.history.length },
  );
  assert.deepEqual(a.history, b.history);
});

/**
 * Runs seeds from 1 until one fails with a reason matching `kind`; returns how many seeds it
 * took (or undefined). A search for safety failures cuts the liveness phase short: a cluster
 * that a broken rule left stuck would otherwise spin through 20 virtual seconds per seed.
 */
function seedsToFind(
  unsafe: UnsafeFlags,
  maxSeeds: number,
  kind?: RegExp,
): { seeds: number; reason: string } | undefined {
  for (let seed = 1; seed <= maxSeeds; seed++) {
    try {
      new Simulation({
        seed,
        nodes: defaultNodes(seed),
        steps: STEPS,
        unsafe,
        ...(kind === undefined ? {} : { livenessBoundMs: 1000 }),
      }).run();
    } catch (error) {
      if (!(error instanceof SimulationFailure)) throw error;
      if (kind === undefined || kind.test(error.reason)) {
        return { seeds: seed, reason: error.reason };
      }
    }
  }
  return undefined;
}

/** The failures that break safety (rather than liveness). */
const SAFETY =
  /Election Safety|Log Matching|Leader Completeness|Committed entry changed|State Machine Safety|Linearizability/;

Deno.test("Simulation finds a vote granted to a candidate with an out-of-date log (skipLogUpToDateCheck)", () => {
  const found = seedsToFind({ skipLogUpToDateCheck: true }, 20);
  assert.ok(found !== undefined, "not found within 20 seeds");
  assert.match(
    found.reason,
    /Leader Completeness|Committed entry changed|State Machine Safety|Linearizability/,
  );
  console.log(`  found after ${found.seeds} seed(s): ${found.reason.split("\n")[0]}`);
});

Deno.test("Simulation finds a leader that counts its own entries toward commit before they are durable (countUnpersistedLeaderLog)", () => {
  // A leader's followers store its entries while it is still writing them (thesis §10.2.1);
  // the simulator kills leaders between their early messages and their fsync.
  const found = seedsToFind({ countUnpersistedLeaderLog: true }, 200, SAFETY);
  assert.ok(found !== undefined, "not found within 200 seeds");
  console.log(`  found after ${found.seeds} seed(s): ${found.reason.split("\n")[0]}`);
});

Deno.test("Simulation finds acknowledgements and votes sent before they are durable (sendEverythingEarly)", () => {
  const found = seedsToFind({ sendEverythingEarly: true }, 100, SAFETY);
  assert.ok(found !== undefined, "not found within 100 seeds");
  console.log(`  found after ${found.seeds} seed(s): ${found.reason.split("\n")[0]}`);
});

Deno.test("Simulation finds reads served without the ReadIndex confirmation round (skipReadIndexConfirmation)", () => {
  const found = seedsToFind({ skipReadIndexConfirmation: true }, 400);
  assert.ok(found !== undefined, "not found within 400 seeds");
  assert.match(found.reason, /Linearizability/);
  console.log(`  found after ${found.seeds} seed(s): ${found.reason.split("\n")[0]}`);
});

Deno.test({
  name:
    "Simulation finds commits of earlier-term entries by counting (commitPreviousTermByCounting, Figure 8)",
  // Thousands of seeds: minutes. Run with TEST_MODE=long, or
  // `deno task test:sim --seeds 4000 --unsafe commitPreviousTermByCounting`.
  ignore: !longMode(),
  fn() {
    const found = seedsToFind({ commitPreviousTermByCounting: true }, 5000);
    assert.ok(found !== undefined, "not found within 5000 seeds");
    console.log(`  found after ${found.seeds} seed(s): ${found.reason.split("\n")[0]}`);
  },
});

Deno.test("Simulation seed 3079 catches the Figure 8 bug, and passes with the rule intact", () => {
  // Seed 3079 (3 nodes) is the first of seeds 1..6000 that finds
  // commitPreviousTermByCounting (found by `deno task test:sim --seeds 6000 --keep-going
  // --unsafe commitPreviousTermByCounting` once the simulated disk deferred commit-only hard
  // states as the log storage does; 3079, 5135 and 5451 find it. Before: 848, the only one;
  // with the simulator's own loop 603, one of 3). Any change to the core or the simulator reshuffles
  // the seeds; if this fails after such a change, find the new first seed that way and update
  // it here.
  const options = { seed: 3079, nodes: 3, steps: STEPS };
  assert.throws(
    () => new Simulation({ ...options, unsafe: { commitPreviousTermByCounting: true } }).run(),
    (error: unknown) =>
      error instanceof SimulationFailure && /Leader Completeness/.test(error.reason),
  );
  runSeed(options);
});
