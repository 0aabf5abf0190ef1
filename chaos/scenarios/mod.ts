/**
 * The six chaos scenarios of issue 6, in order.
 *
 * @module
 */
import type { Scenario } from "../scenario.ts";
import { flappingNetwork } from "./flapping_network.ts";
import { killExecutor } from "./kill_executor.ts";
import { killLeader } from "./kill_leader.ts";
import { killProcessorAndBroker } from "./kill_processor_and_broker.ts";
import { partitionLeader } from "./partition_leader.ts";
import { pauseLeader } from "./pause_leader.ts";

/** Every scenario, by id. */
export const SCENARIOS: readonly Scenario[] = [
  pauseLeader,
  killLeader,
  flappingNetwork,
  partitionLeader,
  killExecutor,
  killProcessorAndBroker,
];
