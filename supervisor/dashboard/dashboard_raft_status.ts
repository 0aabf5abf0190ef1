/**
 * The Raft cluster as the dashboard shows it: the gRPC `RaftNode.Status` of every raft
 * child, asked once per aggregation round, and the leader they agree on.
 *
 * @module
 */
import { RaftNodeClient, type StatusResponse } from "@trading/proto/raft";
import { DENO_GOAWAY_WORKAROUND, insecure, unary } from "@trading/shared/grpc";
import { RAFT_CHANNEL_OPTIONS } from "@trading/shared/raft-client";
import { errorMessage } from "@trading/shared/retry";

/** One node's view, or why it could not be asked. */
export interface RaftNodeView {
  /** The child's name (`raft-1`). */
  name: string;
  address: string;
  reachable: boolean;
  nodeId: string | null;
  role: string | null;
  term: number | null;
  leaderId: string | null;
  commit: number | null;
  applied: number | null;
  lastIndex: number | null;
  orders: number | null;
  lastContactMs: number | null;
  error: string | null;
}

/** The cluster: each node, and the leader of the highest term that a node claims to lead. */
export interface RaftClusterView {
  leader: string | null;
  term: number | null;
  nodes: RaftNodeView[];
}

/** A raft child to ask: its name and its gRPC address. */
export interface RaftTarget {
  name: string;
  address: string;
}

/** The view of `target` before or without an answer: nothing known, `error` says why. */
export function unknownNode(target: RaftTarget, error: string | null): RaftNodeView {
  return {
    name: target.name,
    address: target.address,
    reachable: false,
    nodeId: null,
    role: null,
    term: null,
    leaderId: null,
    commit: null,
    applied: null,
    lastIndex: null,
    orders: null,
    lastContactMs: null,
    error,
  };
}

/**
 * While the GOAWAY workaround is on (shared/grpc/grpc.ts `DENO_GOAWAY_WORKAROUND`), a raft-node
 * can crash when a client closes its session gracefully after many calls: one restarted
 * under this poller died with SIGSEGV right when the poller closed a channel after its 25th
 * call. So a channel is never closed while its node may run: one per node for the poller's
 * life, no idle timeout, and {@linkcode close} only stops asking; the connections end with
 * the process.
 */
/** Asks every raft node for its Status, with a short deadline so that one dead node costs little. */
export class RaftStatusPoller {
  #targets: RaftTarget[];
  #deadlineMs: number;
  #clients = new Map<string, RaftNodeClient>();
  #closed = false;

  constructor(targets: readonly RaftTarget[], { deadlineMs = 800 } = {}) {
    this.#targets = [...targets];
    this.#deadlineMs = deadlineMs;
  }

  /** Asks every node at once; never throws (an unreachable node says why). */
  async poll(): Promise<RaftClusterView> {
    const nodes = await Promise.all(this.#targets.map((target) => this.#ask(target)));
    return { ...leaderOf(nodes), nodes };
  }

  /**
   * Stops asking. While the GOAWAY workaround is on, the channels stay open (see above)
   * unless `closeChannels` is set, which is safe only once the nodes are gone (tests).
   */
  close({ closeChannels = !DENO_GOAWAY_WORKAROUND } = {}): void {
    this.#closed = true;
    if (!closeChannels) return;
    for (const client of this.#clients.values()) client.close();
    this.#clients.clear();
  }

  async #ask(target: RaftTarget): Promise<RaftNodeView> {
    const empty = unknownNode(target, null);
    if (this.#closed) return { ...empty, error: "poller closed" };
    let client = this.#clients.get(target.address);
    if (!client) {
      client = new RaftNodeClient(target.address, insecure(), RAFT_CHANNEL_OPTIONS);
      this.#clients.set(target.address, client);
    }
    try {
      const status: StatusResponse = await unary(client, client.status, {}, {
        deadlineMs: this.#deadlineMs,
      });
      return {
        ...empty,
        reachable: true,
        nodeId: status.nodeId,
        role: status.role,
        term: status.term,
        leaderId: status.leaderId || null,
        commit: status.commitIndex,
        applied: status.appliedIndex,
        lastIndex: status.lastIndex,
        orders: status.orders,
        lastContactMs: status.lastContactMs,
      };
    } catch (error) {
      return { ...empty, error: errorMessage(error) };
    }
  }
}

/**
 * The leader: the node that says it leads in the highest term (a deposed leader that has not
 * heard of the new term yet is ignored); else the leader id most reachable nodes name.
 */
export function leaderOf(
  nodes: readonly RaftNodeView[],
): { leader: string | null; term: number | null } {
  const term = nodes.reduce<number | null>(
    (max, n) => n.term !== null && (max === null || n.term > max) ? n.term : max,
    null,
  );
  const leading = nodes.find((n) => n.role === "leader" && n.term === term);
  if (leading) return { leader: leading.nodeId ?? leading.name, term };
  const votes = new Map<string, number>();
  for (const n of nodes) {
    if (n.leaderId && n.term === term) votes.set(n.leaderId, (votes.get(n.leaderId) ?? 0) + 1);
  }
  const named = [...votes].sort((a, b) => b[1] - a[1])[0];
  return { leader: named?.[0] ?? null, term };
}
