/**
 * Scenario 2: SIGKILL the Raft leader mid-run, several times, each time once the killed node
 * is back; then the CHAOS_EXIT_ON_LEADER variant: every node exits (code 3) as soon as it
 * becomes leader, restarted nodes get the switch again, until the switch is lifted at
 * runtime (`chaos all off`) and the cluster recovers.
 *
 * @module
 */
import { sleep } from "@trading/shared/retry";
import type { SupervisedPipeline } from "@trading/testing/supervised-pipeline";
import { exitOnLeaderStorm } from "../nemesis.ts";
import type { Scenario, ScenarioContext } from "../scenario.ts";

const QUICK_KILLS = 4;
const QUICK_EXIT_WINDOW_MS = 6000;
const LONG_EXIT_WINDOW_MS = 12_000;

async function raftChildren(pipeline: SupervisedPipeline) {
  return (await pipeline.status()).children.filter((c) => /^raft-\d$/.test(c.name));
}

async function waitRaftReady(context: ScenarioContext): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const nodes = await raftChildren(context.pipeline);
    if (nodes.every((n) => n.state === "running" && n.health?.ok === true)) return;
    await sleep(100);
  }
  throw new Error("The raft nodes were not all ready within 60 s");
}

async function killLeaderRepeatedly(context: ScenarioContext): Promise<void> {
  const { probe } = context;
  // The rest of the long phase goes to the exit-on-leader storm and its recovery.
  const until = Date.now() + context.durationMs - LONG_EXIT_WINDOW_MS - 15_000;
  for (let kill = 0; kill < QUICK_KILLS || (context.long && Date.now() < until); kill++) {
    await waitRaftReady(context);
    const before = await probe.waitForLeader();
    // Some load on the current leader first: the kill lands mid-run, not right after a change.
    await sleep(context.random.int(500, 1500));
    const fault = await context.inject("kill leader", { leaderKill: true });
    const next = await probe.waitForLeader(
      (view) => view.leader !== fault.target && view.term > before.term,
      15_000,
    );
    await probe.waitUntil(
      "an acknowledged Apply after the kill",
      () => probe.firstAckAfter(fault.t),
      15_000,
    );
    context.note(`${next.leader} took over from ${fault.target}`);
  }
}

async function exitOnLeader(context: ScenarioContext): Promise<void> {
  const { pipeline, probe } = context;
  await waitRaftReady(context);
  const before = await probe.waitForLeader();
  // Longer storms would only trip the restart intensity (5 exits in 60 s gives a node up):
  // each exit on becoming leader is a crash the supervisor counts.
  const windowMs = context.long ? LONG_EXIT_WINDOW_MS : QUICK_EXIT_WINDOW_MS;
  context.say(`exit-on-leader on every node for ${windowMs} ms`);
  const storm = await exitOnLeaderStorm(pipeline, windowMs);
  // The storm is one fault, from setting the switch; recovery counts from lifting it.
  context.faults.push({
    label: "chaos all exit-on-leader, kill leader",
    t: storm.setAt,
    target: "all",
    leaderKill: false,
    recoverFrom: storm.liftedAt,
  });
  context.note(`${storm.exits} leaders exited with code 3 while the switch was set`);
  context.note("exit-on-leader lifted on every node");
  context.check(storm.exits >= 1, "no node exited on becoming leader while exit-on-leader was set");
  context.check(storm.lifted, "exit-on-leader could not be lifted on every node");
  await probe.waitForLeader((view) => view.term > before.term, 30_000);
  await probe.waitUntil(
    "an acknowledged Apply after the lift",
    () => probe.firstAckAfter(storm.liftedAt),
    30_000,
  );
}

/** Scenario 2. */
export const killLeader: Scenario = {
  id: 2,
  name: "kill-leader",
  title: "SIGKILL the Raft leader mid-run, then every new leader exits until the flag is lifted",
  raft: true,
  recovery: "apply",
  async run(context) {
    await killLeaderRepeatedly(context);
    await exitOnLeader(context);
  },
};
