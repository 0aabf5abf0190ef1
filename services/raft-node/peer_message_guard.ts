/**
 * The checks a peer's message passes before the Raft core steps it. The transport already
 * authenticates peers (CLUSTER_SECRET); these refuse what no honest member sends, so that a
 * forged or corrupt message, or a member holding the secret but gone wrong, cannot take the
 * cluster's term out of reach, write entries or a snapshot that would stop a node at apply
 * or at every restart, or vote from outside the configuration:
 *
 * - `not-member`: the sender is not a voter or learner of this node's configuration (or
 *   claims to be this node). A node
 *   with no configuration yet (joining) takes messages from anyone: the leader adding it is
 *   not in its configuration until the first entries or snapshot arrive. Nor does the check
 *   stop what a configuration newer than this node's needs to reach it (see
 *   `fromNewerConfiguration`): a node that was down while members were replaced knows only
 *   gone members, and the simulator found such nodes refusing their new leader forever.
 * - `term-jump`: a term beyond {@linkcode MAX_TERM} (so that `term + 1` stays exact), or more
 *   than {@linkcode MAX_TERM_GAP} above this node's own once it is a member. With pre-vote a
 *   term grows only by an election a majority took part in, one per election timeout at the
 *   most, so a gap of a million terms is years of elections.
 * - `transfer-term`: a RequestVote with `transfer` (which voters take despite their leader
 *   lease) whose term is not this node's term + 1, which is what the leader's transfer target
 *   campaigns in: a forged transfer cannot make the cluster adopt any term it likes.
 * - `malformed`: indices or terms that are not safe non-negative integers, entries that do
 *   not follow `prevLogIndex` one by one or have a term above the message's, a config entry
 *   whose membership does not decode or has no voter.
 * - `snapshot-invalid`: an InstallSnapshot the core would install whose state-machine data
 *   does not decode or is not at its `lastIncludedIndex`, or whose membership does not
 *   decode or has no voter. Checked before it is persisted: once persisted, a bad snapshot
 *   would stop the node at every restart.
 *
 * Every refusal is counted in `raft_messages_refused_total{reason}` and logged (at most every
 * 10 s with the count, so a flood cannot flood the log).
 *
 * @module
 */
import { counter } from "@trading/shared/metrics";
import type { Logger } from "@trading/shared/log";
import { decodeConfState } from "./core/conf_state.ts";
import { type ConfState, EntryType, type Message } from "./core/types.ts";
import type { OrderStateMachine } from "./state_machine.ts";

/** The highest term a message may carry: 2^48, so that every `term + 1` is exact. */
export const MAX_TERM = 2 ** 48;
/** The most a member's term may jump in one message. */
export const MAX_TERM_GAP = 1_000_000;

/** Why a peer's message was refused. */
export type PeerRefusalReason =
  | "not-member"
  | "term-jump"
  | "transfer-term"
  | "malformed"
  | "snapshot-invalid";

/** What the guard needs to know of the node. */
export interface GuardedNode {
  readonly id: string;
  readonly term: number;
  readonly commitIndex: number;
  /** The index and term of the last entry of this node's log. */
  readonly lastIndex: number;
  readonly lastTerm: number;
  readonly conf: ConfState;
  /** Parses (and keeps for the restore) a snapshot's data; throws when it is not valid. */
  readonly stateMachine: Pick<OrderStateMachine, "stageSnapshot">;
}

const refused = counter(
  "raft_messages_refused_total",
  "Raft messages from peers refused before the core saw them, by reason",
  ["reason"],
);

const safeIndex = (n: number) => Number.isSafeInteger(n) && n >= 0;
const validTerm = (n: number) => safeIndex(n) && n <= MAX_TERM;

function hasVoter(bytes: Uint8Array): boolean {
  return decodeConfState(bytes).voters.length > 0;
}

/**
 * Why `m` must not reach the core, or undefined when it may. Throws nothing: a check that
 * fails to decode counts as a refusal.
 */
export function peerMessageRefusal(
  m: Message,
  node: GuardedNode,
): { reason: PeerRefusalReason; detail: string } | undefined {
  const { conf } = node;
  if (m.from === node.id) {
    return { reason: "not-member", detail: `a message claims to come from this node (${m.from})` };
  }
  const joined = conf.voters.length + conf.learners.length > 0;
  if (
    joined && !conf.voters.includes(m.from) && !conf.learners.includes(m.from) &&
    !fromNewerConfiguration(m, node)
  ) {
    return { reason: "not-member", detail: `${m.from} is not a member of the configuration` };
  }
  if (!validTerm(m.term)) {
    return { reason: "term-jump", detail: `term ${m.term} is beyond ${MAX_TERM}` };
  }
  if (joined && m.term - node.term > MAX_TERM_GAP) {
    return {
      reason: "term-jump",
      detail: `term ${m.term} is more than ${MAX_TERM_GAP} above ours (${node.term})`,
    };
  }
  switch (m.type) {
    case "requestVote":
      if (m.transfer && !m.preVote && m.term !== node.term + 1) {
        return {
          reason: "transfer-term",
          detail: `a transfer's vote at term ${m.term}: expected our term + 1 (${node.term + 1})`,
        };
      }
      if (!safeIndex(m.lastLogIndex) || !validTerm(m.lastLogTerm) || m.lastLogTerm > m.term) {
        return { reason: "malformed", detail: "last log index or term out of range" };
      }
      return undefined;
    case "appendEntries":
      return appendEntriesRefusal(m);
    case "installSnapshot":
      return snapshotRefusal(m, node);
    default:
      return undefined;
  }
}

/**
 * True for a message from outside this node's configuration that Raft needs to get through
 * when that configuration is out of date: a leader's AppendEntries or InstallSnapshot in our
 * term or later (it brings the newer membership), and a RequestVote whose log is ahead of
 * ours (it may hold a membership in which our vote is needed; Raft grants it only to a log
 * at least as up to date as ours anyway). An honest member that was removed sends neither:
 * it stepped down when its removal committed, and its log stopped growing there. Pre-vote
 * and the leader lease (core) still stop the disruptive ones.
 */
function fromNewerConfiguration(m: Message, node: GuardedNode): boolean {
  switch (m.type) {
    case "appendEntries":
    case "installSnapshot":
      return m.term >= node.term;
    case "requestVote":
      return m.lastLogTerm > node.lastTerm ||
        (m.lastLogTerm === node.lastTerm && m.lastLogIndex > node.lastIndex);
    default:
      return false;
  }
}

function appendEntriesRefusal(
  m: Extract<Message, { type: "appendEntries" }>,
): { reason: PeerRefusalReason; detail: string } | undefined {
  if (
    !safeIndex(m.prevLogIndex) || !validTerm(m.prevLogTerm) || m.prevLogTerm > m.term ||
    !safeIndex(m.leaderCommit)
  ) {
    return { reason: "malformed", detail: "previous index, term or commit index out of range" };
  }
  let term = m.prevLogTerm;
  for (let i = 0; i < m.entries.length; i++) {
    const entry = m.entries[i]!;
    if (entry.index !== m.prevLogIndex + 1 + i) {
      return {
        reason: "malformed",
        detail: `entry ${i} has index ${entry.index}: expected ${m.prevLogIndex + 1 + i}`,
      };
    }
    if (!validTerm(entry.term) || entry.term < term || entry.term > m.term) {
      return { reason: "malformed", detail: `entry ${entry.index} has term ${entry.term}` };
    }
    term = entry.term;
    if (entry.type === EntryType.Config) {
      let ok = false;
      try {
        ok = hasVoter(entry.data);
      } catch { /* not a membership */ }
      if (!ok) {
        return {
          reason: "malformed",
          detail: `config entry ${entry.index} is not a membership with a voter`,
        };
      }
    }
  }
  return undefined;
}

function snapshotRefusal(
  m: Extract<Message, { type: "installSnapshot" }>,
  node: GuardedNode,
): { reason: PeerRefusalReason; detail: string } | undefined {
  if (
    !safeIndex(m.lastIncludedIndex) || !validTerm(m.lastIncludedTerm) || m.lastIncludedTerm > m.term
  ) {
    return { reason: "malformed", detail: "snapshot index or term out of range" };
  }
  // The core installs only a snapshot beyond its commit index (raft.ts #handleInstallSnapshot).
  if (m.lastIncludedIndex <= node.commitIndex) return undefined;
  try {
    if (!hasVoter(m.configuration)) throw new Error("Invalid membership: expected a voter");
    node.stateMachine.stageSnapshot(m.data, m.lastIncludedIndex);
  } catch (error) {
    return {
      reason: "snapshot-invalid",
      detail: `snapshot at ${m.lastIncludedIndex}: ${
        error instanceof Error ? error.message : error
      }`,
    };
  }
  return undefined;
}

const LOG_INTERVAL_MS = 10_000;

/** Counts refusals and logs them now and then. */
export class PeerRefusals {
  #log: Logger;
  #lastLog = -Infinity;
  #unlogged = 0;

  constructor(log: Logger) {
    this.#log = log;
  }

  /** Counts (and maybe logs) the refusal of `m`. */
  record(m: Message, refusal: { reason: PeerRefusalReason; detail: string }): void {
    refused.inc({ reason: refusal.reason });
    this.#unlogged++;
    const now = performance.now();
    if (now - this.#lastLog < LOG_INTERVAL_MS) return;
    this.#log.warn("refused {count} raft message(s), the last a {type} from {from}: {detail}", {
      count: this.#unlogged,
      type: m.type,
      from: m.from,
      reason: refusal.reason,
      detail: refusal.detail,
    });
    this.#lastLog = now;
    this.#unlogged = 0;
  }
}
