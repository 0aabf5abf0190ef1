/**
 * The Raft consensus algorithm as a pure state machine, modelled on etcd-io/raft: messages
 * and ticks go in through {@linkcode Raft.step} and {@linkcode Raft.tick}; what to persist,
 * send and apply comes out of {@linkcode Raft.ready}. No I/O, no clock, no randomness but the
 * injected `random`.
 *
 * References in comments: "§" is the Raft paper (Ongaro & Ousterhout, 2014) up to §5, the
 * thesis (Ongaro, 2014) from §3.10 on.
 *
 * @module
 */
import {
  applyConfChange,
  decodeConfState,
  encodeConfState,
  isMember,
  isVoter,
} from "./conf_state.ts";
import { mayGrantVote, randomizedElectionTimeout, tallyVotes } from "./election.ts";
import { Progress } from "./progress.ts";
import { entryBytes, RaftLog } from "./raft_log.ts";
import {
  type AppendEntriesRequest,
  type AppendEntriesResponse,
  type ConfChange,
  type ConfState,
  type Entry,
  EntryType,
  type HardState,
  type InstallSnapshotRequest,
  type InstallSnapshotResponse,
  type Message,
  type NodeId,
  NONE,
  type PeerStatus,
  type ProposeResult,
  type RaftConfig,
  type RaftStatus,
  type ReadState,
  type Ready,
  type RefusalReason,
  type RequestResult,
  type RequestVoteRequest,
  type RequestVoteResponse,
  type Role,
  type Snapshot,
  type SoftState,
  type UnsafeFlags,
} from "./types.ts";

const EMPTY_BYTES = new Uint8Array(0);
const NO_ENTRIES: readonly Entry[] = Object.freeze([]);
const NO_MESSAGES: Message[] = [];

/** A read waiting for its index (the leader's first commit of its term) and confirmation. */
interface PendingRead {
  readonly context: number;
  /** The commit index to wait for; -1 until the leader has committed an entry of its term. */
  index: number;
  /** The confirmation round that must be acknowledged by a quorum. */
  readonly round: number;
}

/** What a Ready handed out, so that `advance()` can record it. */
interface InProgress {
  readonly lastEntryIndex: number;
  readonly lastEntryTerm: number;
  readonly snapshot: Snapshot | undefined;
  readonly appliedTo: number;
  /** The term of the Ready's hard state, or -1 when it had none. */
  readonly hardStateTerm: number;
}

/**
 * One Raft node. Drive it with `tick()` on a timer and `step()` for every received message;
 * whenever `hasReady()` is true, take `ready()`, handle it exactly as {@linkcode Ready}
 * describes, and call `advance()`.
 *
 * @example
 * ```ts
 * const raft = new Raft({
 *   id: "a",
 *   bootstrap: { voters: ["a"], learners: [], context: {} },
 *   random: Math.random,
 * });
 * raft.campaign();
 * const rd = raft.ready(); // send rd.earlyMessages, persist rd.entries and rd.hardState,
 * // then send rd.messages, apply rd.committedEntries ...
 * raft.advance(rd);
 * ```
 */
export class Raft {
  /** This node's id. */
  readonly id: NodeId;

  readonly #electionTick: number;
  readonly #heartbeatTick: number;
  readonly #random: () => number;
  readonly #preVote: boolean;
  readonly #checkQuorum: boolean;
  readonly #maxInflightMsgs: number;
  readonly #maxInflightBytes: number;
  readonly #maxMsgBytes: number;
  readonly #maxApplyBytes: number;
  readonly #autoPromote: boolean;
  readonly #unsafe: UnsafeFlags;

  // Persistent state (§5, Figure 2), made durable through Ready.hardState.
  #term = 0;
  #vote: NodeId = NONE;
  #commit = 0;
  readonly #log: RaftLog;

  // Volatile state.
  #role: Role = "follower";
  #leader: NodeId = NONE;
  #electionElapsed = 0;
  #heartbeatElapsed = 0;
  #randomizedElectionTimeout = 0;
  #ticksSinceLeader = 0;
  /** Grants and rejections received in the current (pre-)election. */
  #votes = new Map<NodeId, boolean>();
  /** Leader only: every member but this node. */
  #progress = new Map<NodeId, Progress>();
  #transferTarget: NodeId = NONE;
  /** The highest index handed out in `committedEntries` (or restored by a snapshot). */
  #applying = 0;
  /** The highest index the application has acknowledged applying (`advance()`). */
  #applied = 0;

  // ReadIndex (thesis §6.4).
  #readRound = 0;
  /** `#readRound` encoded, shared by every AppendEntries of the round. */
  #readRoundContext: Uint8Array = EMPTY_BYTES;
  #readRoundWanted = false;
  #pendingReads: PendingRead[] = [];
  #readStates: ReadState[] = [];
  #droppedReads: number[] = [];

  #messages: Message[] = [];
  #prevSoft: SoftState;
  #prevHard: HardState;
  /**
   * The term of the latest hard state known to be durable (restored, or persisted by a Ready
   * that `advance()` acknowledged). A leader's messages may leave before its Ready is
   * durable only in this term (thesis §10.2.1 needs the leader's term to be durable: a
   * single voter that crashed before persisting its vote could win the same term again and
   * write other entries at the same indexes).
   */
  #durableTerm = 0;
  #inProgress: InProgress | undefined;

  /** Restores a node from `config.storage` (or bootstraps a new one). */
  constructor(config: RaftConfig) {
    this.id = config.id;
    if (config.id === NONE) throw new Error('Invalid node id "": expected a non-empty id');
    this.#electionTick = config.electionTick ?? 10;
    this.#heartbeatTick = config.heartbeatTick ?? 1;
    if (this.#heartbeatTick < 1 || this.#electionTick <= this.#heartbeatTick) {
      throw new Error(
        `Invalid ticks: heartbeat ${this.#heartbeatTick}, election ${this.#electionTick}: expected 1 <= heartbeat < election`,
      );
    }
    this.#random = config.random;
    this.#preVote = config.preVote ?? true;
    this.#checkQuorum = config.checkQuorum ?? true;
    this.#maxInflightMsgs = Math.max(1, config.maxInflightMsgs ?? 256);
    this.#maxInflightBytes = config.maxInflightBytes ?? 8 << 20;
    this.#maxMsgBytes = config.maxMsgBytes ?? 1 << 20;
    this.#maxApplyBytes = config.maxApplyBytes ?? 16 << 20;
    this.#autoPromote = config.autoPromoteLearners ?? true;
    this.#unsafe = config.unsafe ?? {};

    const storage = config.storage;
    const empty = storage === undefined ||
      (storage.hardState.term === 0 && storage.entries.length === 0 &&
        storage.snapshot === undefined);
    this.#log = new RaftLog(empty ? undefined : storage);
    if (!empty) {
      this.#term = storage.hardState.term;
      this.#durableTerm = storage.hardState.term;
      this.#vote = storage.hardState.vote;
      this.#commit = Math.max(storage.hardState.commit, this.#log.snapshot.index);
      if (this.#commit > this.#log.lastIndex) {
        throw new Error(
          `Invalid stored commit index ${this.#commit}: expected at most the last index ${this.#log.lastIndex}`,
        );
      }
    }
    this.#prevHard = { term: this.#term, vote: this.#vote, commit: this.#commit };
    if (empty && config.bootstrap !== undefined) {
      // HashiCorp Raft's BootstrapCluster: the founding membership is entry 1 of term 1, so
      // that every founder that bootstraps with the same voters has the same log.
      this.#term = 1;
      this.#log.append({
        index: 1,
        term: 1,
        type: EntryType.Config,
        data: encodeConfState(config.bootstrap),
      });
    }
    this.#applying = Math.max(
      this.#log.snapshot.index,
      Math.min(config.applied ?? 0, this.#commit),
    );
    this.#applied = this.#applying;
    this.#prevSoft = { role: "follower", leader: NONE, term: this.#term };
    this.#resetRandomizedElectionTimeout();
  }

  // -------------------------------------------------------------------------------------------
  // Accessors.
  // -------------------------------------------------------------------------------------------

  /** This node's role. */
  get role(): Role {
    return this.#role;
  }

  /** The current term. */
  get term(): number {
    return this.#term;
  }

  /** The leader this node knows of in the current term, or `""`. */
  get leader(): NodeId {
    return this.#leader;
  }

  /** The highest committed index this node knows. */
  get commitIndex(): number {
    return this.#commit;
  }

  /** The highest index handed out for applying and acknowledged by `advance()`. */
  get appliedIndex(): number {
    return this.#applied;
  }

  /** The index of the last log entry. */
  get lastIndex(): number {
    return this.#log.lastIndex;
  }

  /** The term of the last log entry. */
  get lastTerm(): number {
    return this.#log.lastTerm;
  }

  /** The first index held in memory (entries before it are compacted). */
  get firstIndex(): number {
    return this.#log.firstIndex;
  }

  /** The latest snapshot's index (0 when none). */
  get snapshotIndex(): number {
    return this.#log.snapshot.index;
  }

  /** The membership in force: the latest config entry in the log, committed or not. */
  get conf(): ConfState {
    return this.#log.conf;
  }

  /** The hard state as it is now (persisted or about to be). */
  get hardState(): HardState {
    return { term: this.#term, vote: this.#vote, commit: this.#commit };
  }

  /** The log entry at `index`, or undefined when compacted away or beyond the log. */
  entry(index: number): Entry | undefined {
    return this.#log.entry(index);
  }

  /** The term of the entry at `index`, or undefined when unknown (compacted or beyond). */
  termAt(index: number): number | undefined {
    return this.#log.termAt(index);
  }

  /** The node's state for Status RPCs, metrics and tests. */
  status(): RaftStatus {
    const peers: PeerStatus[] = [];
    if (this.#role === "leader") {
      for (const pr of this.#progress.values()) {
        peers.push({
          id: pr.id,
          voter: pr.voter,
          match: pr.match,
          next: pr.next,
          state: pr.state,
          inflight: pr.inflights.count,
          ticksSinceContact: pr.ticksSinceContact,
        });
      }
    }
    return {
      id: this.id,
      role: this.#role,
      term: this.#term,
      vote: this.#vote,
      leader: this.#leader,
      commit: this.#commit,
      applied: this.#applied,
      lastIndex: this.#log.lastIndex,
      lastTerm: this.#log.lastTerm,
      firstIndex: this.#log.firstIndex,
      snapshotIndex: this.#log.snapshot.index,
      snapshotTerm: this.#log.snapshot.term,
      conf: this.#log.conf,
      ticksSinceLeaderContact: this.#role === "leader" ? 0 : this.#ticksSinceLeader,
      transferTarget: this.#transferTarget,
      peers,
    };
  }

  /** Checks the log's invariants and the node's own; throws naming the first one broken. */
  assertInvariants(): void {
    this.#log.assertInvariants();
    // A snapshot received from the leader counts as applied once a Ready handed it out.
    const s = this.#log.pendingSnapshot === undefined ? this.#log.snapshot.index : 0;
    if (
      !(s <= this.#applied && this.#applied <= this.#applying && this.#applying <= this.#commit)
    ) {
      throw new Error(
        `Raft invariant broken: snapshot ${s} <= applied ${this.#applied} <= applying ${this.#applying} <= commit ${this.#commit}`,
      );
    }
    if (this.#commit > this.#log.lastIndex) {
      throw new Error(
        `Raft invariant broken: commit ${this.#commit} <= last index ${this.#log.lastIndex}`,
      );
    }
    if (this.#log.lastTerm > this.#term) {
      throw new Error(
        `Raft invariant broken: last log term ${this.#log.lastTerm} <= term ${this.#term}`,
      );
    }
  }

  // -------------------------------------------------------------------------------------------
  // Inputs.
  // -------------------------------------------------------------------------------------------

  /** Advances the logical clock by one tick: elections, heartbeats, check-quorum, timeouts. */
  tick(): void {
    this.#ticksSinceLeader++;
    if (this.#role === "leader") this.#tickLeader();
    else this.#tickElection();
  }

  /** Starts an election now (a voter only), as if the election timeout had elapsed. */
  campaign(): void {
    if (this.#role === "leader") return;
    this.#hup(false);
  }

  /**
   * Forgets `leader`, this follower's leader, once the node learned it is gone (its
   * connection closed), as etcd-io/raft's ForgetLeader: the leader lease no longer holds, so
   * this node grants pre-votes at once rather than an election timeout later. Safe with
   * pre-vote and check-quorum: votes still go only to an up-to-date log, and a leader that is
   * alive after all is followed again at its next AppendEntries. Returns false (and changes
   * nothing) unless this node is a follower of `leader`.
   */
  forgetLeader(leader: NodeId): boolean {
    if (this.#role !== "follower" || leader === NONE || this.#leader !== leader) return false;
    this.#leader = NONE;
    return true;
  }

  /**
   * Appends `data` as a normal entry, on the leader only. Refused while a leadership
   * transfer is in progress or on a follower (the result names the known leader).
   */
  propose(data: Uint8Array): ProposeResult {
    const refusal = this.#refuseProposal();
    if (refusal !== undefined) return this.#refuse(refusal);
    const entry: Entry = {
      index: this.#log.lastIndex + 1,
      term: this.#term,
      type: EntryType.Normal,
      data,
    };
    this.#log.append(entry);
    return { ok: true, index: entry.index, term: entry.term };
  }

  /**
   * Appends a single-server membership change, on the leader only. Refused while another
   * change is uncommitted and until the leader has committed an entry of its own term
   * (the fix for single-server changes across leader changes, raft-dev 2015).
   */
  proposeConfChange(change: ConfChange): ProposeResult {
    const refusal = this.#refuseProposal();
    if (refusal !== undefined) return this.#refuse(refusal);
    if (!this.#committedInTerm() || this.#log.confIndex > this.#commit) {
      return this.#refuse("conf-change-in-progress");
    }
    const next = applyConfChange(this.#log.conf, change);
    if (typeof next === "string") return this.#refuse("invalid");
    if (next.voters.length === 0) return this.#refuse("invalid");
    return this.#appendConf(next);
  }

  /**
   * Starts a linearizable read (ReadIndex, thesis §6.4), on the leader only: once the
   * leader has committed an entry of its term and a quorum has confirmed its leadership
   * after this call, a {@linkcode ReadState} with `context` and the commit index of this
   * moment comes out of `ready()`. If leadership is lost first, `context` comes out in
   * `droppedReads` instead.
   */
  readIndex(context: number): RequestResult {
    if (this.#role !== "leader") return this.#refuse("not-leader");
    const index = this.#committedInTerm() ? this.#commit : -1;
    if (this.#unsafe.skipReadIndexConfirmation) {
      this.#readStates.push({ context, index: this.#commit });
      return { ok: true };
    }
    this.#pendingReads.push({ context, index, round: this.#readRound + 1 });
    this.#readRoundWanted = true;
    this.#releaseReads();
    return { ok: true };
  }

  /**
   * Hands leadership to `to` (thesis §3.10): stops accepting proposals, brings `to` up to
   * date, then sends it TimeoutNow so that it campaigns at once. Aborted after an election
   * timeout if `to` has not taken over.
   */
  transferLeadership(to: NodeId): RequestResult {
    if (this.#role !== "leader") return this.#refuse("not-leader");
    if (to === this.id) return { ok: true };
    if (!isVoter(this.#log.conf, to)) return this.#refuse("not-member");
    if (this.#transferTarget === to) return { ok: true };
    this.#transferTarget = to;
    // The transfer gets one election timeout, counted by the leader's electionElapsed.
    this.#electionElapsed = 0;
    const pr = this.#progress.get(to)!;
    if (pr.match === this.#log.lastIndex) this.#sendTimeoutNow(to);
    return { ok: true };
  }

  /**
   * Compacts the log: the state machine, whose serialization is `data`, has applied
   * exactly `index` (which must be <= the applied index). Entries up to `index - retain`
   * are dropped from memory, so that followers only a little behind still get entries
   * rather than the snapshot. Returns the snapshot the application must persist before it
   * deletes stored entries up to `index - retain`.
   */
  compact(index: number, data: Uint8Array, retain = 0): Snapshot {
    if (index > this.#applied || index <= this.#log.snapshot.index) {
      throw new Error(
        `Invalid compaction index ${index}: expected above the snapshot index ${this.#log.snapshot.index} and at most the applied index ${this.#applied}`,
      );
    }
    return this.#log.compact(index, this.#log.termAt(index)!, data, retain);
  }

  /** Handles one message received from the transport. Stale and duplicate messages are safe. */
  step(m: Message): void {
    if (m.to !== this.id) return;
    if (m.term > this.#term) {
      if (m.type === "requestVote") {
        // Leader lease (thesis §4.2.3): a node that heard from a leader within the minimum
        // election timeout ignores (pre-)votes, so a partitioned or removed node cannot
        // disrupt a healthy cluster. A transfer's election is exempt: the leader asked for it.
        const inLease = this.#checkQuorum && this.#leader !== NONE &&
          this.#electionElapsed < this.#electionTick;
        if (inLease && !m.transfer && !this.#unsafe.skipPreVoteLeaseCheck) return;
      }
      if (m.type === "requestVote" && m.preVote) {
        // A pre-vote does not change our term (thesis §9.6).
      } else if (m.type === "requestVoteResponse" && m.preVote && m.granted) {
        // A granted pre-vote carries the term we would campaign in, not a newer term.
      } else if (
        m.type === "appendEntries" || m.type === "installSnapshot" || m.type === "timeoutNow"
      ) {
        this.#becomeFollower(m.term, m.from);
      } else {
        this.#becomeFollower(m.term, NONE);
      }
    } else if (m.term < this.#term) {
      if (m.type === "appendEntries" && (this.#checkQuorum || this.#preVote)) {
        // A stale leader that we would otherwise ignore learns our term and steps down
        // (etcd-io/raft: with check-quorum or pre-vote a partitioned node may have a higher
        // term without having disrupted anyone).
        this.#send({
          type: "appendEntriesResponse",
          from: this.id,
          to: m.from,
          term: this.#term,
          success: false,
          matchIndex: 0,
          rejectHintIndex: 0,
          rejectHintTerm: 0,
          context: EMPTY_BYTES,
        });
      } else if (m.type === "requestVote" && m.preVote) {
        this.#send({
          type: "requestVoteResponse",
          from: this.id,
          to: m.from,
          term: this.#term,
          granted: false,
          preVote: true,
        });
      }
      return;
    }

    switch (m.type) {
      case "requestVote":
        return this.#handleRequestVote(m);
      case "requestVoteResponse":
        return this.#handleVoteResponse(m);
      case "appendEntries":
        if (this.#role === "leader") return; // impossible: one leader per term
        this.#becomeFollowerOf(m.from);
        return this.#handleAppendEntries(m);
      case "installSnapshot":
        if (this.#role === "leader") return;
        this.#becomeFollowerOf(m.from);
        return this.#handleInstallSnapshot(m);
      case "timeoutNow":
        if (this.#role === "leader") return;
        this.#becomeFollowerOf(m.from);
        // Leadership transfer (thesis §3.10): campaign at once, skipping pre-vote.
        if (this.#promotable()) this.#hup(true);
        return;
      case "appendEntriesResponse":
        if (this.#role === "leader") this.#handleAppendResponse(m);
        return;
      case "installSnapshotResponse":
        if (this.#role === "leader") this.#handleSnapshotResponse(m);
        return;
    }
  }

  // -------------------------------------------------------------------------------------------
  // Ready / advance.
  // -------------------------------------------------------------------------------------------

  /** True when `ready()` has something to persist, send, apply or answer. */
  hasReady(): boolean {
    if (this.#inProgress !== undefined) return false;
    if (this.#messages.length > 0 || this.#readStates.length > 0) return true;
    if (this.#droppedReads.length > 0 || this.#readRoundWanted) return true;
    if (this.#log.pendingSnapshot !== undefined) return true;
    if (this.#log.stableIndex < this.#log.lastIndex) return true;
    if (this.#applying < this.#commit) return true;
    if (this.#hardStateChanged() || this.#softStateChanged()) return true;
    return this.#role === "leader" && this.#anythingToSend();
  }

  /** Returns the next batch of work; see {@linkcode Ready} for the handling contract. */
  ready(): Ready {
    if (this.#inProgress !== undefined) {
      throw new Error("Invalid call to ready(): expected advance() for the previous Ready first");
    }
    if (this.#role === "leader") this.#flushLeader();

    const soft = this.#softStateChanged()
      ? { role: this.#role, leader: this.#leader, term: this.#term }
      : undefined;
    if (soft !== undefined) this.#prevSoft = soft;
    const hard = this.#hardStateChanged()
      ? { term: this.#term, vote: this.#vote, commit: this.#commit }
      : undefined;
    if (hard !== undefined) this.#prevHard = hard;

    const snapshot = this.#log.pendingSnapshot;
    const entries = this.#log.unstableEntries();
    const last = entries[entries.length - 1];

    let committedEntries: readonly Entry[] = NO_ENTRIES;
    if (this.#applying < this.#commit) {
      committedEntries = this.#log.slice(this.#applying + 1, this.#commit, this.#maxApplyBytes);
    }
    const appliedTo = committedEntries.length > 0
      ? committedEntries[committedEntries.length - 1]!.index
      : this.#applying;
    this.#applying = appliedTo;

    const { early, late } = this.#splitMessages(this.#messages);
    const rd: Ready = {
      softState: soft,
      hardState: hard,
      snapshot,
      entries,
      earlyMessages: early,
      messages: late,
      committedEntries,
      readStates: this.#readStates,
      droppedReads: this.#droppedReads,
    };
    this.#messages = [];
    this.#readStates = [];
    this.#droppedReads = [];
    this.#inProgress = {
      lastEntryIndex: last?.index ?? 0,
      lastEntryTerm: last?.term ?? 0,
      snapshot,
      appliedTo,
      hardStateTerm: hard?.term ?? -1,
    };
    return rd;
  }

  /**
   * Separates the messages that may leave before this Ready is durable (thesis §10.2.1):
   * only a leader's own messages (AppendEntries, InstallSnapshot, TimeoutNow are sent by
   * nobody else) of a term already durable. Their entries need not be durable here: the
   * leader counts itself toward a quorum only from `advance()` on (see `#maybeCommit`).
   * Everything else (votes, acknowledgements, rejections carrying our term) waits.
   */
  #splitMessages(messages: Message[]): { early: Message[]; late: Message[] } {
    if (messages.length === 0) return { early: messages, late: messages };
    if (this.#unsafe.sendEverythingEarly) return { early: messages, late: [] };
    let early: Message[] | undefined;
    let late: Message[] | undefined;
    for (const m of messages) {
      const leaderMessage = m.type === "appendEntries" || m.type === "installSnapshot" ||
        m.type === "timeoutNow";
      if (leaderMessage && m.term === this.#durableTerm) (early ??= []).push(m);
      else (late ??= []).push(m);
    }
    // The common cases (all early on a leader, all late on a follower) allocate nothing.
    if (early === undefined) return { early: NO_MESSAGES, late: messages };
    if (late === undefined) return { early: messages, late: NO_MESSAGES };
    return { early, late };
  }

  /** Acknowledges that `ready` (the last value of `ready()`) was handled completely. */
  advance(_ready: Ready): void {
    const p = this.#inProgress;
    if (p === undefined) throw new Error("Invalid call to advance(): expected a ready() first");
    this.#inProgress = undefined;
    if (p.snapshot !== undefined) this.#log.snapshotStable(p.snapshot);
    if (p.lastEntryIndex > 0) this.#log.stableTo(p.lastEntryIndex, p.lastEntryTerm);
    if (p.hardStateTerm > this.#durableTerm) this.#durableTerm = p.hardStateTerm;
    if (p.appliedTo > this.#applied) this.#applied = p.appliedTo;
    // The leader counts its own log only once it is durable (so that a committed entry is
    // always on a majority of disks, thesis §10.2.1), which it now may be.
    if (this.#role === "leader") this.#maybeCommit();
  }

  // -------------------------------------------------------------------------------------------
  // Role changes.
  // -------------------------------------------------------------------------------------------

  #reset(term: number): void {
    if (term !== this.#term) {
      this.#term = term;
      this.#vote = NONE;
    }
    this.#leader = NONE;
    this.#electionElapsed = 0;
    this.#heartbeatElapsed = 0;
    this.#resetRandomizedElectionTimeout();
    this.#votes.clear();
    this.#progress.clear();
    this.#transferTarget = NONE;
    // Reads waiting on this node's leadership can no longer be confirmed.
    for (const read of this.#pendingReads) this.#droppedReads.push(read.context);
    this.#pendingReads = [];
    this.#readRoundWanted = false;
  }

  #becomeFollower(term: number, leader: NodeId): void {
    this.#reset(term);
    this.#role = "follower";
    this.#leader = leader;
    if (leader !== NONE) this.#ticksSinceLeader = 0;
  }

  /** Accepts `from` as the leader of the current term (it sent AppendEntries or the like). */
  #becomeFollowerOf(from: NodeId): void {
    if (this.#role !== "follower" || this.#leader !== from) {
      this.#becomeFollower(this.#term, from);
    }
    this.#electionElapsed = 0;
    this.#ticksSinceLeader = 0;
  }

  #becomePreCandidate(): void {
    // Pre-vote leaves term and vote alone: a pre-candidate that loses has disturbed nobody.
    this.#role = "pre-candidate";
    this.#leader = NONE;
    this.#votes.clear();
    this.#progress.clear();
  }

  #becomeCandidate(): void {
    this.#reset(this.#term + 1);
    this.#role = "candidate";
    this.#vote = this.id;
  }

  #becomeLeader(): void {
    this.#reset(this.#term);
    this.#role = "leader";
    this.#leader = this.id;
    this.#readRound = 0;
    this.#readRoundContext = EMPTY_BYTES;
    const conf = this.#log.conf;
    for (const id of [...conf.voters, ...conf.learners]) {
      if (id !== this.id) this.#addProgress(id, isVoter(conf, id));
    }
    // A no-op entry of the new term (§8): committing it commits everything before it, and
    // marks the point from which ReadIndex may answer.
    this.#log.append({
      index: this.#log.lastIndex + 1,
      term: this.#term,
      type: EntryType.Normal,
      data: EMPTY_BYTES,
    });
    // A single-voter cluster commits as soon as the no-op is durable (see advance()).
  }

  #addProgress(id: NodeId, voter: boolean): void {
    const pr = new Progress(
      id,
      voter,
      this.#log.lastIndex + 1,
      this.#maxInflightMsgs,
      this.#maxInflightBytes,
    );
    // Newly elected: give every peer the benefit of the doubt for the first check-quorum round.
    pr.recentActive = true;
    this.#progress.set(id, pr);
  }

  // -------------------------------------------------------------------------------------------
  // Elections: the state of an election; its rules, and the steps in order, are in
  // core/election.ts. (The pre-vote and lease checks on incoming messages are in `step`.)
  // -------------------------------------------------------------------------------------------

  #resetRandomizedElectionTimeout(): void {
    this.#randomizedElectionTimeout = randomizedElectionTimeout(this.#electionTick, this.#random);
  }

  #tickElection(): void {
    this.#electionElapsed++;
    if (
      this.#electionElapsed >= this.#randomizedElectionTimeout &&
      this.#promotable()
    ) {
      this.#electionElapsed = 0;
      this.#hup(false);
    }
  }

  /**
   * True when this node may campaign: it is a voter of the latest membership, or that
   * membership is not committed yet and it was a voter of the one before. Without the second
   * case, a node whose log ends with its own uncommitted removal would never campaign, while
   * the others may need its vote or its longer log to make progress (HashiCorp Raft only
   * refuses to campaign when the membership without it is committed, for the same reason).
   * Votes are still counted in the latest membership.
   */
  #promotable(): boolean {
    const conf = this.#log.conf;
    if (isVoter(conf, this.id)) return true;
    const confIndex = this.#log.confIndex;
    return confIndex > this.#commit && isVoter(this.#log.confAt(confIndex - 1), this.id);
  }

  /** Starts a pre-vote round, or an election directly for a transfer or without pre-vote. */
  #hup(transfer: boolean): void {
    if (!this.#promotable()) return;
    if (this.#preVote && !transfer) {
      this.#becomePreCandidate();
      this.#resetRandomizedElectionTimeout();
      this.#electionElapsed = 0;
      this.#requestVotes(true, false);
    } else {
      this.#becomeCandidate();
      this.#requestVotes(false, transfer);
    }
  }

  #requestVotes(preVote: boolean, transfer: boolean): void {
    const term = preVote ? this.#term + 1 : this.#term;
    this.#votes.set(this.id, true);
    if (this.#tallyVotes() === "won") return this.#wonElection(preVote);
    for (const id of this.#log.conf.voters) {
      if (id === this.id) continue;
      this.#send({
        type: "requestVote",
        from: this.id,
        to: id,
        term,
        lastLogIndex: this.#log.lastIndex,
        lastLogTerm: this.#log.lastTerm,
        preVote,
        transfer,
      });
    }
  }

  #wonElection(preVote: boolean): void {
    if (preVote) {
      this.#becomeCandidate();
      this.#requestVotes(false, false);
    } else {
      this.#becomeLeader();
    }
  }

  #tallyVotes(): "won" | "lost" | "pending" {
    return tallyVotes(this.#log.conf.voters, this.#votes);
  }

  #handleRequestVote(m: RequestVoteRequest): void {
    const canVote = mayGrantVote({ vote: this.#vote, leader: this.#leader, term: this.#term }, m);
    // Election restriction (§5.4.1): only a candidate whose log holds every committed entry.
    const upToDate = this.#unsafe.skipLogUpToDateCheck ||
      this.#log.isUpToDate(m.lastLogIndex, m.lastLogTerm);
    if (canVote && upToDate) {
      this.#send({
        type: "requestVoteResponse",
        from: this.id,
        to: m.from,
        term: m.term,
        granted: true,
        preVote: m.preVote,
      });
      if (!m.preVote) {
        this.#vote = m.from;
        this.#electionElapsed = 0;
      }
    } else {
      this.#send({
        type: "requestVoteResponse",
        from: this.id,
        to: m.from,
        term: this.#term,
        granted: false,
        preVote: m.preVote,
      });
    }
  }

  #handleVoteResponse(m: RequestVoteResponse): void {
    if (m.preVote) {
      if (this.#role !== "pre-candidate") return;
      // A grant must answer this round's request (term + 1), not an earlier one.
      if (m.granted && m.term !== this.#term + 1) return;
    } else if (this.#role !== "candidate") {
      return;
    }
    if (!this.#votes.has(m.from)) this.#votes.set(m.from, m.granted);
    const result = this.#tallyVotes();
    if (result === "won") this.#wonElection(m.preVote);
    else if (result === "lost") this.#becomeFollower(this.#term, NONE);
  }

  // -------------------------------------------------------------------------------------------
  // Follower: replication.
  // -------------------------------------------------------------------------------------------

  #handleAppendEntries(m: AppendEntriesRequest): void {
    let prevIndex = m.prevLogIndex;
    let prevTerm = m.prevLogTerm;
    let entries = m.entries;
    const committed = this.#commit;
    if (prevIndex < committed) {
      // Everything up to our commit index is already identical to the leader's log (Leader
      // Completeness), and may be compacted here: skip that part of the message.
      const skip = Math.min(committed - prevIndex, entries.length);
      entries = skip > 0 ? entries.slice(skip) : entries;
      prevIndex = committed;
      prevTerm = this.#log.termAt(committed)!;
      if (entries.length > 0 && entries[0]!.index !== committed + 1) {
        // The message ends before our commit index: nothing new, and we match to committed.
        entries = NO_ENTRIES;
      }
    }
    if (this.#log.termAt(prevIndex) !== prevTerm) {
      const hint = this.#log.findConflictByTerm(
        Math.min(m.prevLogIndex, this.#log.lastIndex),
        m.prevLogTerm,
      );
      this.#send({
        type: "appendEntriesResponse",
        from: this.id,
        to: m.from,
        term: this.#term,
        success: false,
        matchIndex: m.prevLogIndex,
        rejectHintIndex: hint.index,
        rejectHintTerm: hint.term,
        context: m.context,
      });
      return;
    }
    const confIndex = this.#log.confIndex;
    if (entries.length > 0) this.#log.merge(entries, committed);
    const lastNew = prevIndex + entries.length;
    // §5.3: commit = min(leaderCommit, index of last new entry); never backwards.
    const commit = Math.min(m.leaderCommit, lastNew);
    if (commit > this.#commit) this.#commit = commit;
    if (this.#log.confIndex !== confIndex) this.#onConfChanged();
    this.#send({
      type: "appendEntriesResponse",
      from: this.id,
      to: m.from,
      term: this.#term,
      success: true,
      matchIndex: lastNew,
      rejectHintIndex: 0,
      rejectHintTerm: 0,
      context: m.context,
    });
  }

  #handleInstallSnapshot(m: InstallSnapshotRequest): void {
    const index = m.lastIncludedIndex;
    if (index > this.#commit) {
      if (this.#log.termAt(index) === m.lastIncludedTerm) {
        // Our log already holds the snapshot's last entry, so its prefix too (Log
        // Matching): fast-forward the commit index and keep the entries (etcd-io/raft).
        this.#commit = index;
      } else {
        const conf = decodeConfState(m.configuration);
        this.#log.restore({ index, term: m.lastIncludedTerm, conf, data: m.data });
        this.#commit = index;
        this.#applying = index;
        this.#onConfChanged();
      }
    }
    this.#send({
      type: "installSnapshotResponse",
      from: this.id,
      to: m.from,
      term: this.#term,
      matchIndex: this.#commit,
    });
  }

  // -------------------------------------------------------------------------------------------
  // Leader.
  // -------------------------------------------------------------------------------------------

  #tickLeader(): void {
    this.#heartbeatElapsed++;
    this.#electionElapsed++;
    for (const pr of this.#progress.values()) {
      pr.ticksSinceContact++;
      pr.ticksWithoutProgress++;
      if (pr.state === "snapshot" && pr.ticksWithoutProgress >= this.#electionTick) {
        // The snapshot or its answer was lost: start over (the probe re-sends it).
        pr.becomeProbe();
      } else if (
        pr.state === "replicate" && pr.inflights.count > 0 &&
        pr.ticksWithoutProgress >= 2 * this.#heartbeatTick
      ) {
        // Nothing acknowledged for two heartbeat intervals with messages outstanding: one
        // was probably lost. Find the match point again rather than wait forever.
        pr.becomeProbe();
      }
    }
    if (this.#electionElapsed >= this.#electionTick) {
      this.#electionElapsed = 0;
      if (this.#checkQuorum) {
        // Check-quorum (thesis §6.2): without a majority in touch within an election
        // timeout, this leader may be deposed without knowing; step down so clients go
        // elsewhere and our lease assumptions hold.
        if (!this.#quorumActive()) {
          this.#becomeFollower(this.#term, NONE);
          return;
        }
        for (const pr of this.#progress.values()) pr.recentActive = false;
      }
      this.#pruneRemovedPeers(true);
      if (this.#transferTarget !== NONE) this.#transferTarget = NONE; // transfer timed out
    }
    if (this.#heartbeatElapsed >= this.#heartbeatTick) {
      this.#heartbeatElapsed = 0;
      for (const pr of this.#progress.values()) {
        this.#sendHeartbeat(pr);
        // A learner that caught up while another change was pending is promoted now.
        if (!pr.voter) this.#maybePromote(pr);
      }
    }
  }

  #quorumActive(): boolean {
    const voters = this.#log.conf.voters;
    let active = 0;
    for (const id of voters) {
      if (id === this.id || this.#progress.get(id)?.recentActive) active++;
    }
    return active >= Math.floor(voters.length / 2) + 1;
  }

  #refuseProposal(): RefusalReason | undefined {
    if (this.#role !== "leader") return "not-leader";
    if (this.#transferTarget !== NONE) return "transfer-in-progress";
    return undefined;
  }

  #refuse(reason: RefusalReason): { ok: false; reason: RefusalReason; leader: NodeId } {
    return { ok: false, reason, leader: this.#leader };
  }

  #committedInTerm(): boolean {
    return this.#log.termAt(this.#commit) === this.#term;
  }

  #appendConf(conf: ConfState): ProposeResult {
    const entry: Entry = {
      index: this.#log.lastIndex + 1,
      term: this.#term,
      type: EntryType.Config,
      data: encodeConfState(conf),
    };
    // Single-server changes take effect as soon as the entry is in the log (thesis §4.1).
    this.#log.append(entry);
    this.#onConfChanged();
    return { ok: true, index: entry.index, term: entry.term };
  }

  /** Brings leader bookkeeping in line with a membership that just changed. */
  #onConfChanged(): void {
    const conf = this.#log.conf;
    if (this.#role !== "leader") return;
    for (const id of [...conf.voters, ...conf.learners]) {
      if (id === this.id) continue;
      const pr = this.#progress.get(id);
      if (pr === undefined) this.#addProgress(id, isVoter(conf, id));
      else pr.voter = isVoter(conf, id);
    }
    for (const pr of this.#progress.values()) {
      // A removed peer keeps receiving the log until the change is committed, so that it
      // normally learns of its removal and stays quiet instead of campaigning.
      if (!isMember(conf, pr.id)) pr.voter = false;
    }
    if (this.#transferTarget !== NONE && !isVoter(conf, this.#transferTarget)) {
      this.#transferTarget = NONE;
    }
    // Fewer voters may mean a smaller quorum that is already reached.
    this.#maybeCommit();
  }

  #handleAppendResponse(m: AppendEntriesResponse): void {
    const pr = this.#progress.get(m.from);
    if (pr === undefined) return;
    pr.recentActive = true;
    pr.ticksSinceContact = 0;
    // Any answer unblocks a probe whose request or response may have been lost.
    pr.probeSent = false;
    // Any answer in this term confirms our leadership for the read round it echoes.
    const round = decodeReadRound(m.context);
    if (round > pr.readAck) {
      pr.readAck = round;
      this.#releaseReads();
    }
    if (!m.success) {
      let hint = m.rejectHintIndex;
      if (m.rejectHintTerm > 0) hint = this.#log.findConflictByTerm(hint, m.rejectHintTerm).index;
      if (pr.maybeDecreaseTo(m.matchIndex, hint)) pr.probeSent = false;
      return;
    }
    const advanced = pr.maybeUpdate(m.matchIndex);
    if (pr.state === "probe") {
      pr.becomeReplicate();
    } else if (pr.state === "snapshot") {
      if (pr.match >= pr.pendingSnapshot) pr.becomeProbe();
    } else {
      pr.inflights.freeLE(pr.match);
    }
    if (advanced) {
      this.#maybeCommit();
      if (this.#role !== "leader") return; // stepped down after removing itself
      if (!pr.voter) this.#pruneRemovedPeers(false);
      if (m.from === this.#transferTarget && pr.match === this.#log.lastIndex) {
        this.#sendTimeoutNow(m.from);
      }
      this.#maybePromote(pr);
    }
  }

  #handleSnapshotResponse(m: InstallSnapshotResponse): void {
    const pr = this.#progress.get(m.from);
    if (pr === undefined) return;
    pr.recentActive = true;
    pr.ticksSinceContact = 0;
    const advanced = pr.maybeUpdate(m.matchIndex);
    if (pr.state === "snapshot") pr.becomeProbe();
    if (advanced) {
      this.#maybeCommit();
      if (this.#role === "leader") this.#maybePromote(pr);
    }
  }

  /** Promotes a learner that has caught up with the commit index (one change at a time). */
  #maybePromote(pr: Progress): void {
    if (!this.#autoPromote || pr.voter || pr.match < this.#commit) return;
    if (this.#transferTarget !== NONE) return;
    if (!this.#committedInTerm() || this.#log.confIndex > this.#commit) return;
    const next = applyConfChange(this.#log.conf, { type: "promote", node: pr.id });
    if (typeof next !== "string") this.#appendConf(next);
  }

  /**
   * Raises the commit index to the highest index replicated on a majority of voters, but
   * only if that entry is of the current term (§5.4.2, Figure 8): an entry of an earlier
   * term may still be overwritten even when stored on a majority. The leader counts its
   * own log only up to what is durable: its followers may have stored (and acknowledged)
   * entries it is still writing (thesis §10.2.1), and then the quorum is made of them.
   */
  #maybeCommit(): void {
    const voters = this.#log.conf.voters;
    if (voters.length === 0) return;
    const own = this.#unsafe.countUnpersistedLeaderLog
      ? this.#log.lastIndex
      : this.#log.stableIndex;
    const matches: number[] = [];
    for (const id of voters) {
      matches.push(id === this.id ? own : (this.#progress.get(id)?.match ?? 0));
    }
    matches.sort((a, b) => b - a);
    const quorumIndex = matches[Math.floor(voters.length / 2)]!;
    if (quorumIndex <= this.#commit) return;
    if (
      this.#log.termAt(quorumIndex) !== this.#term && !this.#unsafe.commitPreviousTermByCounting
    ) {
      return;
    }
    const wasCommittedInTerm = this.#committedInTerm();
    this.#commit = quorumIndex;
    if (!wasCommittedInTerm && this.#committedInTerm()) {
      // Reads that arrived before our first commit in this term wait for this index.
      for (const read of this.#pendingReads) if (read.index < 0) read.index = this.#commit;
      this.#releaseReads();
    }
    if (this.#log.confIndex <= this.#commit) {
      this.#pruneRemovedPeers(false);
      // A leader that removed itself hands over once the change is committed (§4.2.2).
      if (!isVoter(this.#log.conf, this.id)) this.#becomeFollower(this.#term, NONE);
    }
  }

  /**
   * Stops replicating to peers whose removal is committed. A removed peer first gets the log
   * up to its removal and then one heartbeat carrying a commit index that covers it, so that
   * it knows its removal is committed and stops campaigning (see #promotable). `force`
   * (once per election timeout) drops the ones that do not answer; their pre-votes disturb
   * nobody.
   */
  #pruneRemovedPeers(force: boolean): void {
    const confIndex = this.#log.confIndex;
    if (confIndex > this.#commit) return;
    const conf = this.#log.conf;
    for (const pr of this.#progress.values()) {
      if (isMember(conf, pr.id)) continue;
      if (pr.match >= confIndex) this.#sendHeartbeat(pr);
      if (pr.match >= confIndex || force) this.#progress.delete(pr.id);
    }
  }

  /**
   * Hands out every pending read whose index is known and whose round a quorum of voters
   * has confirmed, in order (a later read never overtakes an earlier one).
   */
  #releaseReads(): void {
    if (this.#pendingReads.length === 0) return;
    const voters = this.#log.conf.voters;
    const acks: number[] = [];
    for (const id of voters) {
      acks.push(id === this.id ? Infinity : (this.#progress.get(id)?.readAck ?? 0));
    }
    acks.sort((a, b) => b - a);
    const confirmed = acks[Math.floor(voters.length / 2)] ?? 0;
    let released = 0;
    for (const read of this.#pendingReads) {
      if (read.index < 0 || read.round > confirmed) break;
      this.#readStates.push({ context: read.context, index: read.index });
      released++;
    }
    if (released > 0) this.#pendingReads.splice(0, released);
  }

  #anythingToSend(): boolean {
    const last = this.#log.lastIndex;
    for (const pr of this.#progress.values()) {
      if (pr.state === "replicate" && pr.next <= last && !pr.inflights.full) return true;
      if (pr.state === "probe" && !pr.probeSent) return true;
    }
    return false;
  }

  /** Sends what each peer can take now, and the read round's heartbeats if one is wanted. */
  #flushLeader(): void {
    if (this.#readRoundWanted) {
      this.#readRoundWanted = false;
      this.#readRound++;
      this.#readRoundContext = encodeReadRound(this.#readRound);
      for (const pr of this.#progress.values()) {
        if (pr.voter) this.#sendHeartbeat(pr);
      }
      this.#releaseReads(); // a single-voter cluster confirms at once
    }
    for (const pr of this.#progress.values()) this.#sendAppends(pr);
  }

  #sendAppends(pr: Progress): void {
    const last = this.#log.lastIndex;
    for (;;) {
      if (pr.state === "snapshot") return;
      if (pr.state === "probe") {
        if (pr.probeSent) return;
      } else if (pr.inflights.full || pr.next > last) {
        return;
      }
      const prevIndex = pr.next - 1;
      const prevTerm = this.#log.termAt(prevIndex);
      if (prevTerm === undefined || pr.next < this.#log.firstIndex) {
        // The entries this peer needs were compacted away (§7): send the snapshot.
        this.#sendSnapshot(pr);
        return;
      }
      const entries = pr.next <= last
        ? this.#log.slice(pr.next, last, this.#maxMsgBytes)
        : NO_ENTRIES;
      this.#send({
        type: "appendEntries",
        from: this.id,
        to: pr.id,
        term: this.#term,
        prevLogIndex: prevIndex,
        prevLogTerm: prevTerm,
        entries,
        leaderCommit: this.#commit,
        context: this.#readRoundContext,
      });
      if (pr.state === "probe") {
        pr.probeSent = true;
        return;
      }
      const lastSent = entries[entries.length - 1]!;
      // The stall clock runs only while something is in flight.
      if (pr.inflights.count === 0) pr.ticksWithoutProgress = 0;
      let bytes = 0;
      for (const e of entries) bytes += entryBytes(e);
      pr.inflights.add(lastSent.index, bytes);
      pr.next = lastSent.index + 1;
    }
  }

  /**
   * A heartbeat is an AppendEntries without entries anchored at the peer's match index,
   * which the peer's log is known to hold, so it never disturbs a pipeline; it carries the
   * commit index (capped at match) and the current read round.
   */
  #sendHeartbeat(pr: Progress): void {
    let prevIndex = pr.match;
    let prevTerm = this.#log.termAt(prevIndex);
    if (prevTerm === undefined) {
      prevIndex = 0;
      prevTerm = 0;
    }
    this.#send({
      type: "appendEntries",
      from: this.id,
      to: pr.id,
      term: this.#term,
      prevLogIndex: prevIndex,
      prevLogTerm: prevTerm,
      entries: NO_ENTRIES,
      leaderCommit: Math.min(this.#commit, prevIndex),
      context: this.#readRoundContext,
    });
  }

  #sendSnapshot(pr: Progress): void {
    const snapshot = this.#log.snapshot;
    pr.becomeSnapshot(snapshot.index);
    this.#send({
      type: "installSnapshot",
      from: this.id,
      to: pr.id,
      term: this.#term,
      lastIncludedIndex: snapshot.index,
      lastIncludedTerm: snapshot.term,
      configuration: encodeConfState(snapshot.conf),
      data: snapshot.data,
    });
  }

  #sendTimeoutNow(to: NodeId): void {
    this.#send({ type: "timeoutNow", from: this.id, to, term: this.#term });
  }

  #send(m: Message): void {
    this.#messages.push(m);
  }

  #hardStateChanged(): boolean {
    const h = this.#prevHard;
    return h.term !== this.#term || h.vote !== this.#vote || h.commit !== this.#commit;
  }

  #softStateChanged(): boolean {
    const s = this.#prevSoft;
    return s.role !== this.#role || s.leader !== this.#leader || s.term !== this.#term;
  }
}

/** The read round as AppendEntries context: empty for 0, else an 8-byte big-endian integer. */
function encodeReadRound(round: number): Uint8Array {
  if (round === 0) return EMPTY_BYTES;
  const bytes = new Uint8Array(8);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, Math.floor(round / 0x1_0000_0000));
  view.setUint32(4, round >>> 0);
  return bytes;
}

function decodeReadRound(context: Uint8Array): number {
  if (context.length !== 8) return 0;
  const view = new DataView(context.buffer, context.byteOffset, 8);
  return view.getUint32(0) * 0x1_0000_0000 + view.getUint32(4);
}
