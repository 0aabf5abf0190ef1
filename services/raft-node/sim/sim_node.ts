/**
 * One simulated raft-node: its disk (sim_storage.ts), which survives crashes, and while the
 * process runs, the node loop of the real service (node_loop.ts) over that disk, the
 * simulated network and the virtual clock. Client requests go to the loop's `apply` and
 * `read`, exactly as the service's gRPC API hands them over.
 *
 * @module
 */
import type { Raft } from "../core/raft.ts";
import type { NodeId } from "../core/types.ts";
import type { NodeLoop, RaftNodeError } from "../node_loop.ts";
import type { ApplyCommand, ApplyOutcome, OrderOutcome } from "../state_machine.ts";
import type { SimStorage } from "./sim_storage.ts";

/** A client request as it reaches a node. */
export type ClientRequest =
  & { readonly client: number; readonly requestId: number }
  & (
    | { readonly kind: "apply"; readonly command: ApplyCommand }
    | { readonly kind: "read"; readonly orderId: string }
  );

/** A node's answer to a client request. */
export type ClientResponse =
  & { readonly client: number; readonly requestId: number }
  & (
    | { readonly kind: "applied"; readonly outcome: ApplyOutcome }
    | { readonly kind: "read"; readonly found: false }
    | { readonly kind: "read"; readonly found: true; readonly outcome: OrderOutcome }
    /** The request certainly had no effect (not leader, refused by the core). */
    | { readonly kind: "rejected"; readonly leader: NodeId; readonly why: string }
    /** The node cannot tell (leadership lost, proposal overwritten, timed out). */
    | { readonly kind: "unknown"; readonly why: string }
  );

/** A simulated raft-node process and its disk. */
export class SimNode {
  /** The running process's loop; undefined while it is down. */
  loop: NodeLoop | undefined;
  /** Bumped at every crash, so that events of a previous life are ignored. */
  incarnation = 0;

  /** A node whose disk is `disk`; not started. */
  constructor(readonly id: NodeId, readonly disk: SimStorage) {}

  /** True while the process runs. */
  get up(): boolean {
    return this.loop !== undefined;
  }

  /** The core of the running process. */
  get raft(): Raft | undefined {
    return this.loop?.raft;
  }

  /**
   * Kills the process: pending requests get no answer, and the disk keeps what was synced
   * plus the first `writtenBack` bytes of the rest (see {@linkcode SimStorage.crash}).
   */
  crash(writtenBack: number): ReturnType<SimStorage["crash"]> {
    this.loop?.halt();
    this.loop = undefined;
    this.incarnation++;
    return this.disk.crash(writtenBack);
  }

  /** A client request arrives; `respond` gets its answer (never, if the process dies). */
  handleClient(request: ClientRequest, respond: (response: ClientResponse) => void): void {
    const loop = this.loop;
    if (loop === undefined) return; // the process is down: the request is lost
    const base = { client: request.client, requestId: request.requestId };
    const fail = (error: RaftNodeError) =>
      respond(
        error.kind === "refused"
          ? { ...base, kind: "rejected", leader: "", why: error.message }
          : { ...base, kind: "unknown", why: error.message },
      );
    if (request.kind === "apply") {
      loop.apply(request.command, {
        resolve: (reply) =>
          respond(
            reply.kind === "not-leader"
              ? { ...base, kind: "rejected", leader: reply.leaderId, why: "not leader" }
              : {
                ...base,
                kind: "applied",
                outcome: { result: reply.result, index: reply.index, outcome: reply.outcome },
              },
          ),
        reject: fail,
      });
    } else {
      loop.read(request.orderId, {
        resolve: (reply) =>
          respond(
            reply.kind === "not-leader"
              ? { ...base, kind: "rejected", leader: reply.leaderId, why: "not leader" }
              : reply.record === undefined
              ? { ...base, kind: "read", found: false }
              : { ...base, kind: "read", found: true, outcome: reply.record.outcome },
          ),
        reject: fail,
      });
    }
  }
}
