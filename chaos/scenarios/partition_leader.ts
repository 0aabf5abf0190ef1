/**
 * Scenario 4: partition the Raft leader from the majority (both ways). The majority elects a
 * new leader and goes on acknowledging Applies; the old leader steps down (check-quorum);
 * linearizable reads sent straight to the old leader during the partition either are refused
 * or are linearizable (the history checker decides: no stale read); after `heal` no
 * acknowledged Apply is missing.
 *
 * @module
 */
import { sleep } from "@trading/shared/retry";
import type { Scenario } from "../scenario.ts";

/** Scenario 4. */
export const partitionLeader: Scenario = {
  id: 4,
  name: "partition-leader",
  title:
    "partition the leader from the majority: it steps down, serves no stale read, loses no ack",
  raft: true,
  recovery: "apply",
  async run(context) {
    const { pipeline, probe } = context;
    const until = Date.now() + context.durationMs;
    for (let round = 0; round === 0 || (context.long && Date.now() < until); round++) {
      const before = await probe.waitForLeader();
      const old = before.leader;
      const addr = pipeline.raftNodes.find((n) => n.id === old)!.grpcAddr;
      const partitionMs = context.random.int(4000, 6000);
      const fault = await context.inject(`partition ${old}`);
      const reads = probe.readNode(addr, partitionMs - 500, 50);
      const next = await probe.waitForLeader(
        (view) => view.leader !== old && view.term > before.term,
        15_000,
      );
      context.note(`${next.leader} leads the majority`);
      const steppedDown = await probe.waitUntil(
        `${old} to step down`,
        () => probe.cluster && probe.cluster.roles[old] !== "leader" ? Date.now() : undefined,
        10_000,
      ).catch(() => undefined);
      context.check(steppedDown !== undefined, `the partitioned leader ${old} did not step down`);
      if (steppedDown !== undefined) {
        context.note(`${old} stepped down ${steppedDown - fault.t} ms after the partition`);
      }
      const served = await reads;
      context.note(
        `reads sent to ${old} while partitioned: ${served.served} served, ${served.notLeader} refused (not leader), ${served.failed} failed`,
      );
      const acked = probe.acksAfter(fault.t);
      context.check(acked > 0, "the majority acknowledged no Apply during the partition");
      await context.heal("heal");
      await probe.waitUntil(
        `${old} back as a follower`,
        () => probe.cluster?.roles[old] === "follower" ? true : undefined,
        20_000,
      );
      await sleep(1000);
    }
  },
};
