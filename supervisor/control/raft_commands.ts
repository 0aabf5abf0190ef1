/**
 * The supervisor's Raft words (issue 4): `leader`, which asks every raft node's `Status` over
 * gRPC and prints the leader, its term and each node's role, commit and applied index; and
 * the target word `leader`, so that `kill leader`, `pause leader` and `restart leader` act on
 * whichever node leads at the moment the command runs.
 *
 * The raft nodes are found in the supervisor's child specs: a child with a `RAFT_NODE_ID` in
 * its environment and a `grpc` port. The calls go through raft_call.ts (a child process).
 *
 * @module
 */
import { z } from "zod";
import type { StatusResponse } from "@trading/proto/raft";
import { errorMessage, sleep } from "@trading/shared/retry";
import { arg, type CommandContext, type CommandRegistry } from "./commands.ts";
import { callRaftNodes } from "./raft_call.ts";
import type { Supervisor } from "../supervision/supervisor.ts";

/** A raft node among the supervisor's children. */
export interface RaftNodeRef {
  /** The child's name: `raft-2`. */
  readonly child: string;
  /** Its `RAFT_NODE_ID` (the id Status and Leader answers use). */
  readonly nodeId: string;
  /** Its client and admin gRPC address, `127.0.0.1:<grpc port>`. */
  readonly grpcAddr: string;
  /** The CLUSTER_SECRET it was started with, which every call to it must present. */
  readonly clusterSecret?: string | undefined;
}

/** One node's answer to `Status`, or why there was none. */
export type RaftNodeStatus =
  | { readonly node: RaftNodeRef; readonly status: StatusResponse }
  | { readonly node: RaftNodeRef; readonly error: string };

/** Deadline of one Status or admin call: a paused node must not hold a command for long. */
export const RAFT_CALL_DEADLINE_MS = 1000;

/** The raft nodes among `supervisor`'s children, in spec order. */
export function raftNodesOf(supervisor: Supervisor): RaftNodeRef[] {
  return supervisor.specs.flatMap((spec) => {
    const nodeId = spec.env["RAFT_NODE_ID"];
    const grpc = spec.ports["grpc"];
    const clusterSecret = spec.env["CLUSTER_SECRET"] || undefined;
    return nodeId && grpc
      ? [{ child: spec.name, nodeId, grpcAddr: `127.0.0.1:${grpc}`, clusterSecret }]
      : [];
  });
}

/**
 * The CLUSTER_SECRET that calls to `nodes` must present (pipeline_specs.ts gives every child
 * of a pipeline the same one); undefined when they have none.
 */
export function clusterSecretOf(nodes: readonly RaftNodeRef[]): string | undefined {
  return nodes.find((node) => node.clusterSecret !== undefined)?.clusterSecret;
}

/** Asks every node in `nodes` for its Status at once (one `raft-call` process); never throws. */
export async function raftStatuses(nodes: readonly RaftNodeRef[]): Promise<RaftNodeStatus[]> {
  if (nodes.length === 0) return [];
  let results;
  try {
    results = await callRaftNodes(
      nodes.map((node) => ({ addr: node.grpcAddr, method: "status" as const, request: {} })),
      { deadlineMs: RAFT_CALL_DEADLINE_MS, clusterSecret: clusterSecretOf(nodes) },
    );
  } catch (error) {
    return nodes.map((node) => ({ node, error: errorMessage(error) }));
  }
  return results.map((result, i) => {
    const node = nodes[i]!;
    return result.ok ? { node, status: result.response } : { node, error: result.error };
  });
}

/**
 * The node that leads among `statuses`: the one that says it is leader with the highest term
 * (an isolated old leader may still think it leads in an older term until check-quorum
 * demotes it). Undefined when none does.
 */
export function leaderOf(
  statuses: readonly RaftNodeStatus[],
): { node: RaftNodeRef; status: StatusResponse } | undefined {
  let best: { node: RaftNodeRef; status: StatusResponse } | undefined;
  for (const entry of statuses) {
    if (!("status" in entry) || entry.status.role !== "leader") continue;
    if (!best || entry.status.term > best.status.term) best = entry;
  }
  return best;
}

/**
 * Finds the current leader's child name, asking again every 100 ms for up to `waitMs` while an
 * election is under way. Throws naming what each node answered when none leads.
 */
export async function resolveLeader(supervisor: Supervisor, waitMs = 2000): Promise<string> {
  const nodes = raftNodesOf(supervisor);
  if (nodes.length === 0) {
    throw new Error("No Raft nodes: expected children with RAFT_NODE_ID and a grpc port");
  }
  const deadline = Date.now() + waitMs;
  for (;;) {
    const statuses = await raftStatuses(nodes);
    const leader = leaderOf(statuses);
    if (leader) return leader.node.child;
    if (Date.now() >= deadline) {
      throw new Error(`No Raft leader: ${statuses.map(describeBriefly).join("; ")}`);
    }
    await sleep(100);
  }
}

function describeBriefly(entry: RaftNodeStatus): string {
  return "status" in entry
    ? `${entry.node.child} is ${entry.status.role} in term ${entry.status.term}`
    : `${entry.node.child} did not answer (${entry.error})`;
}

/** Formats the `leader` answer: the leader line, then one row per node. */
export function formatLeaderTable(statuses: readonly RaftNodeStatus[]): string {
  const leader = leaderOf(statuses);
  const head = leader
    ? `leader ${leader.node.child} (node ${leader.status.nodeId}) term ${leader.status.term}`
    : "no leader";
  const header = ["NODE", "ROLE", "TERM", "LEADER", "COMMIT", "APPLIED", "LAST CONTACT"];
  const rows = statuses.map((entry) => {
    if (!("status" in entry)) return [entry.node.child, `unreachable: ${entry.error}`];
    const s = entry.status;
    return [
      entry.node.child,
      s.role,
      String(s.term),
      s.leaderId || "-",
      String(s.commitIndex),
      String(s.appliedIndex),
      s.role === "leader" ? "-" : `${s.lastContactMs} ms`,
    ];
  });
  const widths = header.map((h, i) =>
    Math.max(h.length, ...rows.filter((r) => r.length > 2).map((r) => r[i]?.length ?? 0))
  );
  const lines = [header, ...rows].map((row) =>
    row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join("  ")
      .trimEnd()
  );
  return [head, ...lines].join("\n");
}

/**
 * Adds `leader` and the target word `leader` to `registry`, and overrides `restart` to take
 * `restart <name|leader>`; returns
 * it. The target waits up to `leaderWaitMs` (default 2000) for an election in progress.
 */
export function registerRaftCommands(
  registry: CommandRegistry,
  { leaderWaitMs = 2000 }: { leaderWaitMs?: number } = {},
): CommandRegistry {
  return registry
    .register({
      name: "leader",
      usage: "leader",
      summary: "the Raft leader and term; every node's role, commit and applied index",
      args: () => z.tuple([]),
      run: async (_args, { supervisor }: CommandContext) => {
        const nodes = raftNodesOf(supervisor);
        if (nodes.length === 0) return "no Raft nodes";
        return formatLeaderTable(await raftStatuses(nodes));
      },
    })
    .override({
      name: "restart",
      usage: "restart <name|leader>",
      summary: "stop a child gracefully and start it again, backoff reset",
      args: (context) => z.tuple([arg.target(context)]),
      run: async ([target], context) =>
        context.supervisor.restart(await context.resolveTarget(target)),
    })
    .registerTarget({
      word: "leader",
      summary: "the node that leads the Raft cluster when the command runs",
      resolve: ({ supervisor }) => resolveLeader(supervisor, leaderWaitMs),
    });
}
