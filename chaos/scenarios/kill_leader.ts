/**
 * Scenario 2: SIGKILL the Raft leader mid-run, several times, each time once the killed node
 * is back; then the CHAOS_EXIT_ON_LEADER variant: every node exits (code 3) as soon as it
 * becomes leader, restarted nodes get the switch again, until the switch is lifted at
 * runtime (`chaos all off`) and the cluster recovers.
 *
 * @module
 */
import { sleep } from "@trading/shared/retry";
import type { ChaosPipeline } from "../chaos_pipeline.ts";
import type { Scenario, ScenarioContext } from "../scenario.ts";
import { randomInt } from "../seeded_random.ts";

const QUICK_KILLS = 4;
const QUICK_EXIT_WINDOW_MS = 6000;

async function raftChildren(pipeline: ChaosPipeline) {
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
  const until = Date.now() + context.durationMs / 2;
  for (let kill = 0; kill < QUICK_KILLS || (context.long && Date.now() < until); kill++) {
    await waitRaftReady(context);
    const before = await probe.waitForLeader();
    // Some load on the current leader first: the kill lands mid-run, not right after a change.
    await sleep(randomInt(context.random, 500, 1500));
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
  const fault = await context.inject("chaos all exit-on-leader");
  // The switch acts when a node becomes leader: the current one must go first.
  await context.inject("kill leader");
  const flagged = new Map<string, number | null>();
  for (const node of await raftChildren(pipeline)) flagged.set(node.name, node.pid);
  const windowMs = context.long
    ? Math.max(QUICK_EXIT_WINDOW_MS, context.durationMs / 4)
    : QUICK_EXIT_WINDOW_MS;
  const until = Date.now() + windowMs;
  while (Date.now() < until) {
    // A restarted node starts without the runtime switch: give it again as soon as its
    // admin API answers, before it can win an election if possible.
    for (const node of await raftChildren(pipeline)) {
      if (node.pid === null || flagged.get(node.name) === node.pid) continue;
      const result = await pipeline.control(`chaos ${node.name} exit-on-leader`);
      if (result.ok) flagged.set(node.name, node.pid);
    }
    await sleep(50);
  }
  const exits =
    (await pipeline.events()).filter((e) =>
      e.kind === "exited" && e.fields?.code === 3 && Date.parse(e.time) >= fault.t
    ).length;
  context.note(`${exits} leaders exited with code 3 while the switch was set`);
  context.check(exits >= 1, "no node exited on becoming leader while exit-on-leader was set");
  // Lift it on every node that runs; retry while one is still starting.
  const deadline = Date.now() + 30_000;
  let lifted = false;
  while (!lifted && Date.now() < deadline) {
    const result = await pipeline.control("chaos all off");
    lifted = result.ok;
    if (!lifted) await sleep(200);
  }
  context.check(lifted, "exit-on-leader could not be lifted on every node");
  const liftedAt = Date.now();
  context.note("exit-on-leader lifted on every node");
  for (const f of context.faults) if (f.t >= fault.t) f.recoverFrom = liftedAt;
  await probe.waitForLeader((view) => view.term > before.term, 30_000);
  await probe.waitUntil(
    "an acknowledged Apply after the lift",
    () => probe.firstAckAfter(liftedAt),
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
