/**
 * Scenario 6: SIGKILL the stream-processor, then the broker, then both at once, mid-run. The
 * processor resumes from its saved state and offsets (re-emitting the same order ids), the
 * broker recovers its log, every client reconnects, and no order is lost or doubled.
 *
 * @module
 */
import { sleep } from "@trading/shared/retry";
import type { Scenario, ScenarioContext } from "../scenario.ts";

async function ordersFlowing(context: ScenarioContext): Promise<void> {
  const since = context.faults.at(-1)?.t ?? 0;
  await context.probe.waitUntil(
    "orders flowing",
    () => context.probe.firstAcceptedOrderAfter(since) ? true : undefined,
    90_000,
  );
}

/** Scenario 6. */
export const killProcessorAndBroker: Scenario = {
  id: 6,
  name: "kill-processor-broker",
  title: "SIGKILL the stream-processor and the broker mid-run",
  raft: false,
  recovery: "order",
  async run(context) {
    const until = Date.now() + context.durationMs;
    for (let round = 0; round === 0 || (context.long && Date.now() < until); round++) {
      for (const targets of [["stream-processor"], ["broker"], ["stream-processor", "broker"]]) {
        await ordersFlowing(context);
        await sleep(context.random.int(200, 1000));
        for (const target of targets) await context.inject(`kill ${target}`);
        const fault = context.faults.at(-1)!;
        await context.probe.waitUntil(
          "an accepted order after the kill",
          () => context.probe.firstAcceptedOrderAfter(fault.t),
          90_000,
        );
      }
    }
  },
};
