/**
 * The linearizability checker for order de-duplication histories (Apply / Read per order id),
 * used by the deterministic simulator and by the real-process tests of raft-node.
 *
 * @module
 */
export { checkLinearizable } from "./check_linearizable.ts";
export type { CheckOptions, LinearizabilityResult } from "./check_linearizable.ts";
export type {
  ApplyInput,
  ApplyOutput,
  History,
  HistoryOutcome,
  Operation,
  ReadOutput,
} from "./history.ts";
