/**
 * Scenario 3: a flapping network on every Raft link: 30% of the messages dropped and the rest
 * delayed 50-250 ms (the seeded chaos layer of the transport), on and off in turns, while an
 * Apply load runs.
 *
 * @module
 */
import { sleep } from "@trading/shared/retry";
import type { Scenario } from "../scenario.ts";

const PROFILE = "drop-pct=30,delay=50-250";
const QUICK_CYCLES = 2;

/** Scenario 3. */
export const flappingNetwork: Scenario = {
  id: 3,
  name: "flapping-network",
  title: "flapping network on all Raft links: 30% drop, 50-250 ms delay",
  raft: true,
  recovery: "apply",
  async run(context) {
    const { probe } = context;
    const until = Date.now() + context.durationMs;
    for (let cycle = 0; cycle < QUICK_CYCLES || (context.long && Date.now() < until); cycle++) {
      await probe.waitForLeader();
      const chaosSeed = context.random.int(1, 999_999_999);
      const fault = await context.inject(`chaos all ${PROFILE} ${chaosSeed}`);
      await sleep(context.random.int(4000, 6000));
      const acked = probe.acksAfter(fault.t);
      const healedAt = await context.heal("chaos all off");
      context.note(`${acked} Applies acknowledged under ${PROFILE} (seed ${chaosSeed})`);
      context.check(acked > 0, `no Apply acknowledged during ${PROFILE} (seed ${chaosSeed})`);
      await probe.waitUntil(
        "an acknowledged Apply after the flap",
        () => probe.firstAckAfter(healedAt),
        15_000,
      );
      await sleep(context.random.int(1000, 2000));
    }
  },
};
