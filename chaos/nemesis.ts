/**
 * The nemesis: injects one fault of a soak schedule through the supervisor's control words,
 * holds it, and heals it, reporting when it was injected and healed. Also the exit-on-leader
 * storm shared with scenario 2.
 *
 * @module
 */
import { sleep } from "@trading/shared/retry";
import type { SupervisedPipeline } from "@trading/testing/supervised-pipeline";
import type { SoakFault } from "./soak_schedule.ts";

/** What one injected fault did. */
export interface InjectedFault {
  readonly fault: SoakFault;
  /** The child it hit (the leader resolved), or `all`. */
  readonly target: string;
  /** Epoch ms of the supervisor's `fault-start`. */
  readonly injectedAt: number;
  /** Epoch ms when it was healed (for a kill: when the child was ready again). */
  readonly healedAt: number;
  /** Exits with code 3 while exit-on-leader was set. */
  readonly leaderExits: number;
}

const CHAOS_PROFILE = "drop-pct=30,delay=50-250";

/**
 * Runs `command`, returns the target and time of the first `fault-start` it caused, and for a
 * kill the pid it killed.
 */
export async function injectCommand(
  pipeline: SupervisedPipeline,
  command: string,
): Promise<{ target: string; t: number; output: string; killedPid: number | undefined }> {
  const before = (await pipeline.events()).at(-1)?.seq ?? 0;
  const output = await pipeline.must(command);
  const events = await pipeline.events(before);
  const started = events.find((e) => e.kind === "fault-start");
  const killed = events.find((e) => e.kind === "killed");
  return {
    target: started?.child ?? command.split(" ")[1] ?? "",
    t: started ? Date.parse(started.time) : Date.now(),
    output,
    killedPid: typeof killed?.fields?.pid === "number" ? killed.fields.pid : undefined,
  };
}

/** Retries `command` until it succeeds or `timeoutMs` passes; returns whether it did. */
export async function retryCommand(
  pipeline: SupervisedPipeline,
  command: string,
  timeoutMs = 30_000,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if ((await pipeline.control(command)).ok) return true;
    await sleep(200);
  }
  return false;
}

/** Waits until `child` runs (in another process than `notPid`) and passed its readiness probe. */
export async function waitChildReady(
  pipeline: SupervisedPipeline,
  child: string,
  { timeoutMs = 60_000, notPid }: { timeoutMs?: number; notPid?: number | undefined } = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const status = (await pipeline.status()).children.find((c) => c.name === child);
    if (status?.state === "running" && status.health?.ok === true && status.pid !== notPid) {
      return;
    }
    if (status?.state === "failed" || status?.state === "exited") {
      await pipeline.control(`restart ${child}`);
    }
    await sleep(100);
  }
  throw new Error(`${child} was not ready within ${timeoutMs} ms`);
}

/**
 * Sets exit-on-leader on every raft node and kills the leader, so that every new leader exits
 * (code 3); a restarted node, which starts without the runtime switch, gets it again at once.
 * After `windowMs` the switch is lifted everywhere (`chaos all off`). Returns the time of the
 * lift and the number of leaders that exited.
 */
export async function exitOnLeaderStorm(
  pipeline: SupervisedPipeline,
  windowMs: number,
): Promise<{ setAt: number; liftedAt: number; exits: number; lifted: boolean }> {
  const raft = async () =>
    (await pipeline.status()).children.filter((c) => /^raft-\d+$/.test(c.name));
  const set = await injectCommand(pipeline, "chaos all exit-on-leader");
  // The switch acts when a node becomes leader: the current one must go first.
  await pipeline.must("kill leader");
  const flagged = new Map<string, number | null>();
  for (const node of await raft()) flagged.set(node.name, node.pid);
  const until = Date.now() + windowMs;
  while (Date.now() < until) {
    for (const node of await raft()) {
      if (node.pid === null || flagged.get(node.name) === node.pid) continue;
      if ((await pipeline.control(`chaos ${node.name} exit-on-leader`)).ok) {
        flagged.set(node.name, node.pid);
      }
    }
    await sleep(50);
  }
  const lifted = await retryCommand(pipeline, "chaos all off", 30_000);
  const liftedAt = Date.now();
  const exits =
    (await pipeline.events()).filter((e) =>
      e.kind === "exited" && e.fields?.code === 3 && Date.parse(e.time) >= set.t
    ).length;
  return { setAt: set.t, liftedAt, exits, lifted };
}

/** Injects `fault`, holds it, heals it; returns what happened. */
export async function runFault(
  pipeline: SupervisedPipeline,
  fault: SoakFault,
): Promise<InjectedFault> {
  const done = (target: string, injectedAt: number, leaderExits = 0): InjectedFault => ({
    fault,
    target,
    injectedAt,
    healedAt: Date.now(),
    leaderExits,
  });
  switch (fault.kind) {
    case "pause-leader":
    case "pause-node": {
      const { target, t } = await injectCommand(pipeline, `pause ${fault.target} ${fault.holdMs}`);
      await sleep(fault.holdMs);
      await waitChildReady(pipeline, target);
      return done(target, t);
    }
    case "kill-leader":
    case "kill-node":
    case "kill-service":
    case "kill-broker": {
      const { target, t, killedPid } = await injectCommand(pipeline, `kill ${fault.target}`);
      await waitChildReady(pipeline, target, { notPid: killedPid });
      return done(target, t);
    }
    case "flapping-network": {
      const { t } = await injectCommand(pipeline, `chaos all ${CHAOS_PROFILE} ${fault.chaosSeed}`);
      await sleep(fault.holdMs);
      await retryCommand(pipeline, "chaos all off");
      return done("all", t);
    }
    case "partition-leader":
    case "partition-node": {
      const target = fault.target === "leader"
        ? (/^leader (raft-\d+)/.exec(await pipeline.must("leader"))?.[1] ?? "raft-1")
        : fault.target;
      const { t } = await injectCommand(pipeline, `partition ${target}`);
      await sleep(fault.holdMs);
      await retryCommand(pipeline, "heal");
      return done(target, t);
    }
    case "exit-on-leader": {
      const storm = await exitOnLeaderStorm(pipeline, fault.holdMs);
      return done("all", storm.setAt, storm.exits);
    }
  }
}
