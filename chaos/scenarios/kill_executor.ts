/**
 * Scenario 5: SIGKILL the order-executor mid-batch, repeatedly: each time while order events
 * are flowing (one was created in the last 300 ms), then again once it is back and orders flow
 * again. The outbox, the Raft de-duplication and the relay's read-back must give every
 * command exactly one event.
 *
 * @module
 */
import { sleep } from "@trading/shared/retry";
import type { Scenario } from "../scenario.ts";

const QUICK_KILLS = 3;

/** Scenario 5. */
export const killExecutor: Scenario = {
  id: 5,
  name: "kill-executor",
  title: "SIGKILL the order-executor mid-batch, repeatedly",
  raft: false,
  recovery: "order",
  async run(context) {
    const { probe } = context;
    const until = Date.now() + context.durationMs;
    for (let kill = 0; kill < QUICK_KILLS || (context.long && Date.now() < until); kill++) {
      const since = context.faults.at(-1)?.t ?? 0;
      await probe.waitUntil("orders flowing", () => {
        const last = probe.events.at(-1);
        return probe.firstAcceptedOrderAfter(since) && last && last.t > Date.now() - 300
          ? true
          : undefined;
      }, 60_000);
      const fault = await context.inject("kill order-executor");
      await probe.waitUntil(
        "an accepted order after the kill",
        () => probe.firstAcceptedOrderAfter(fault.t),
        60_000,
      );
      await sleep(context.random.int(500, 2000));
    }
  },
};
