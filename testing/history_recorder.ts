/**
 * Records the Apply/Read history of real-process tests for the linearizability checker: one
 * operation per gRPC call a {@linkcode RaftClient} makes (its `onCall` hook), so that the
 * client's own retries and reads-after-uncertain-Apply appear as what they are. Test code
 * only.
 *
 * - An Apply answered APPLIED/DUPLICATE/CONFLICT is a completed operation.
 * - An Apply that failed (deadline, lost connection, UNAVAILABLE) is open: it may have
 *   taken effect at any time after its call, or never.
 * - NOT_LEADER answers and failed reads had no effect and are left out.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { type ApplyRequest, ApplyResult } from "@trading/proto/raft";
import type { RaftCall } from "@trading/shared/raft-client";
import type { ApplyOutput, Operation } from "./linearizability/mod.ts";

const RESULT: Partial<Record<ApplyResult, ApplyOutput["result"]>> = {
  [ApplyResult.APPLY_RESULT_APPLIED]: "applied",
  [ApplyResult.APPLY_RESULT_DUPLICATE]: "duplicate",
  [ApplyResult.APPLY_RESULT_CONFLICT]: "conflict",
};

/** The payload hash as the history names it (hex of the state machine's 16-byte hash). */
export function payloadHashHex(payload: Uint8Array): string {
  return createHash("sha256").update(payload).digest().subarray(0, 16).toString("hex");
}

/** Collects the operations of many clients. */
export class HistoryRecorder {
  readonly operations: Operation[] = [];

  /**
   * Returns an `onCall` hook for one client that applies one request at a time;
   * `current()` gives the ApplyRequest it is applying.
   */
  hook(clientId: string | number, current: () => ApplyRequest | undefined) {
    return (call: RaftCall): void => {
      if (call.kind === "apply") {
        const sent = current();
        if (!sent) return;
        const input = {
          payloadHash: payloadHashHex(sent.payload),
          outcome: { status: sent.outcome?.status ?? 0, reason: sent.outcome?.reason ?? "" },
        };
        if ("error" in call) {
          this.operations.push({
            op: "apply",
            clientId,
            orderId: call.orderId,
            call: call.start,
            input,
          });
          return;
        }
        const result = RESULT[call.response.result];
        if (result === undefined) return; // NOT_LEADER: no effect.
        this.operations.push({
          op: "apply",
          clientId,
          orderId: call.orderId,
          call: call.start,
          return: call.end,
          input,
          output: {
            result,
            outcome: {
              status: call.response.outcome?.status ?? 0,
              reason: call.response.outcome?.reason ?? "",
            },
          },
        });
        return;
      }
      if ("error" in call || call.response.notLeader) return;
      const r = call.response;
      this.operations.push({
        op: "read",
        clientId,
        orderId: call.orderId,
        call: call.start,
        return: call.end,
        output: r.found
          ? {
            found: true,
            outcome: { status: r.outcome?.status ?? 0, reason: r.outcome?.reason ?? "" },
            payloadHash: Array.from(r.payloadHash, (b) => b.toString(16).padStart(2, "0")).join(""),
          }
          : { found: false },
      });
    };
  }

  /** Counts of operations by kind and completion, for the test's log line. */
  summary(): { applies: number; open: number; reads: number } {
    let applies = 0;
    let open = 0;
    let reads = 0;
    for (const op of this.operations) {
      if (op.op === "read") reads++;
      else if (op.return === undefined) open++;
      else applies++;
    }
    return { applies, open, reads };
  }
}
