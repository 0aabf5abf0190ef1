/**
 * Scenario 1: pause the Raft leader (SIGSTOP) during an Apply load and resume it (SIGCONT)
 * after more than an election timeout (500-950 ms with the default RAFT_TICK_MS and
 * RAFT_ELECTION_TICKS). The others elect a leader; the old one comes back as a follower.
 *
 * @module
 */
import { sleep } from "@trading/shared/retry";
import type { Scenario } from "../scenario.ts";

/** Scenario 1. */
export const pauseLeader: Scenario = {
  id: 1,
  name: "pause-leader",
  title: "pause the Raft leader during an Apply load, resume after more than an election timeout",
  raft: true,
  recovery: "apply",
  async run(context) {
    const { probe } = context;
    const until = Date.now() + context.durationMs;
    for (let round = 0; round === 0 || (context.long && Date.now() < until); round++) {
      const before = await probe.waitForLeader();
      const pauseMs = context.random.int(2000, 3000);
      const fault = await context.inject(`pause leader ${pauseMs}`);
      context.check(
        fault.target === before.leader,
        `pause leader hit ${fault.target}, but ${before.leader} led`,
      );
      const next = await probe.waitForLeader(
        (view) => view.leader !== fault.target && view.term > before.term,
        15_000,
      );
      context.note(`${next.leader} leads while ${fault.target} is paused`);
      await probe.waitUntil(
        `${fault.target} back as a follower`,
        () => probe.cluster?.roles[fault.target] === "follower" ? true : undefined,
        pauseMs + 20_000,
      );
      await sleep(1000);
    }
  },
};
