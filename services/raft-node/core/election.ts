/**
 * Leader election (Raft §5.2, §5.4.1; pre-vote, thesis §9.6; leadership transfer, §3.10): the
 * rules, as pure functions. The election's state lives in {@linkcode Raft} (core/raft.ts,
 * section "Elections"), which applies these rules:
 *
 * 1. A follower whose election timer runs out (a randomized timeout,
 *    {@linkcode randomizedElectionTimeout}) and that may campaign (a voter, `#promotable`)
 *    starts a pre-vote round for term + 1 without raising its term (`#hup`), unless pre-vote
 *    is off or a leadership transfer asked it to campaign at once.
 * 2. It asks every voter (`#requestVotes`). A voter grants a (pre-)vote when it may vote for
 *    the candidate ({@linkcode mayGrantVote}) and the candidate's log is at least as up to date
 *    as its own (the election restriction, `RaftLog.isUpToDate`). A node that heard from a
 *    leader within the election timeout ignores vote requests (the lease check in `step`),
 *    except for a transfer.
 * 3. The candidate counts the answers ({@linkcode tallyVotes}): a majority of grants wins (a
 *    won pre-vote becomes a real election in a new term, a won election makes it leader), a
 *    majority of rejections makes it a follower again.
 *
 * @module
 */
import { type NodeId, NONE } from "./types.ts";

/** Where an election stands: a majority granted, a majority rejected, or neither yet. */
export type ElectionResult = "won" | "lost" | "pending";

/**
 * Counts the `votes` of `voters` (true granted, false rejected, absent not answered yet).
 * Votes of nodes that are not voters do not count.
 */
export function tallyVotes(
  voters: readonly NodeId[],
  votes: ReadonlyMap<NodeId, boolean>,
): ElectionResult {
  const quorum = Math.floor(voters.length / 2) + 1;
  let granted = 0;
  let rejected = 0;
  for (const id of voters) {
    const v = votes.get(id);
    if (v === true) granted++;
    else if (v === false) rejected++;
  }
  if (granted >= quorum) return "won";
  if (rejected >= quorum) return "lost";
  return "pending";
}

/**
 * An election timeout in [electionTick, 2 * electionTick) ticks, drawn from `random` (in
 * [0, 1)): randomized timeouts make split votes rare (§5.2).
 */
export function randomizedElectionTimeout(electionTick: number, random: () => number): number {
  return electionTick + Math.floor(random() * electionTick);
}

/**
 * True when a node that voted for `vote` (or {@linkcode NONE}) in `term` and follows `leader`
 * may vote for a request from `from`: it already did in this term, or it has voted for nobody
 * and follows nobody; a pre-vote for a later term is always a candidate for it. The election
 * restriction (the candidate's log) is checked besides this.
 */
export function mayGrantVote(
  self: { readonly vote: NodeId; readonly leader: NodeId; readonly term: number },
  request: { readonly from: NodeId; readonly term: number; readonly preVote: boolean },
): boolean {
  return self.vote === request.from ||
    (self.vote === NONE && self.leader === NONE) ||
    (request.preVote && request.term > self.term);
}
