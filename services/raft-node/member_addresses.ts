/**
 * The addresses of a cluster member as they travel in `ConfState.context` (the core keeps the
 * string opaque): `{"raft":"host:port","grpc":"host:port"}`. Every node reads them from the
 * membership, so any node can reach its peers and redirect clients to the leader.
 *
 * @module
 */
import type { ConfState, NodeId } from "./core/types.ts";

/** Where a member listens: its Raft transport and its client gRPC API. */
export interface MemberAddresses {
  readonly raft: string;
  readonly grpc: string;
}

/** Encodes a member's addresses as the context string of a ConfChange `add`. */
export function encodeMemberAddresses(addresses: MemberAddresses): string {
  return JSON.stringify({ raft: addresses.raft, grpc: addresses.grpc });
}

/** Decodes a context string; undefined when it is absent or not addresses. */
export function decodeMemberAddresses(context: string | undefined): MemberAddresses | undefined {
  if (context === undefined || context === "") return undefined;
  try {
    const value: unknown = JSON.parse(context);
    if (typeof value !== "object" || value === null) return undefined;
    const { raft, grpc } = value as Record<string, unknown>;
    if (typeof raft !== "string" || typeof grpc !== "string") return undefined;
    return { raft, grpc };
  } catch {
    return undefined;
  }
}

/** The addresses of every member of `conf` that has them. */
export function addressBook(conf: ConfState): Map<NodeId, MemberAddresses> {
  const book = new Map<NodeId, MemberAddresses>();
  for (const id of [...conf.voters, ...conf.learners]) {
    const addresses = decodeMemberAddresses(conf.context[id]);
    if (addresses) book.set(id, addresses);
  }
  return book;
}
