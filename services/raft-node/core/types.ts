/**
 * The data types of the pure Raft core: log entries, persistent state, membership,
 * snapshots, the transport messages and the {@linkcode Ready} batch handed to the
 * application.
 *
 * Every index and term is a plain `number` (safe up to 2^53, far beyond any log we will
 * write). Node ids are strings; `""` means "none" (no vote, no known leader).
 *
 * The transport messages map 1:1 onto `proto/trading/v1/raft.proto`: the `type` tag is the
 * `$case` of `RaftEnvelope.message` in the generated code and every other field has the same
 * name and meaning as the proto field (bytes are `Uint8Array`, uint64 are `number`), so a
 * conversion is a field copy.
 *
 * @module
 */

/** A node's id in the cluster (RAFT_NODE_ID). `""` stands for "nobody". */
export type NodeId = string;

/** The id that stands for "no node": no vote cast, no leader known. */
export const NONE: NodeId = "";

/**
 * The kind of a log entry, with the same numeric values as the proto enum `EntryType`
 * (`ENTRY_TYPE_NORMAL = 0`, `ENTRY_TYPE_CONFIG = 1`).
 */
export const EntryType = {
  /** A state-machine command; an empty normal entry is a leader's no-op. */
  Normal: 0,
  /** A membership change; `data` is the whole new configuration ({@linkcode encodeConfState}). */
  Config: 1,
} as const;

/** `EntryType.Normal` (0) or `EntryType.Config` (1). */
export type EntryType = typeof EntryType[keyof typeof EntryType];

/** One log entry. Same shape as the proto message `Entry`. */
export interface Entry {
  readonly index: number;
  readonly term: number;
  readonly type: EntryType;
  readonly data: Uint8Array;
}

/** The state that must be durable before any message that depends on it is sent. */
export interface HardState {
  /** The latest term this node has seen. */
  readonly term: number;
  /** The candidate this node voted for in `term`, or {@linkcode NONE}. */
  readonly vote: NodeId;
  /** The highest index known to be committed (persisting it saves replay work on restart). */
  readonly commit: number;
}

/**
 * A cluster membership. Voters elect leaders and count towards quorums; learners (non-voters)
 * only receive the log. A node is in at most one of the two lists.
 */
export interface ConfState {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
  /**
   * Opaque per-member data set by the application when the member was added (for example
   * its transport and client addresses as JSON). The core copies it and never reads it.
   */
  readonly context: Readonly<Record<NodeId, string>>;
}

/**
 * A single-server membership change (Raft thesis §4.1: one server at a time, so any old and
 * new majority overlap).
 *
 * - `add`: the node joins as a learner; the leader promotes it to voter once it has caught
 *   up (its match index reached the leader's commit index).
 * - `promote`: make an existing learner a voter now.
 * - `remove`: the node leaves (voter or learner). A leader that removes itself steps down
 *   once the change is committed.
 */
export interface ConfChange {
  readonly type: "add" | "promote" | "remove";
  readonly node: NodeId;
  /** For `add`: stored in {@linkcode ConfState.context} for this node. */
  readonly context?: string;
}

/** A snapshot of the state machine at `index`, with the membership in force at `index`. */
export interface Snapshot {
  /** The last log index the snapshot covers. */
  readonly index: number;
  /** The term of the entry at `index`. */
  readonly term: number;
  readonly conf: ConfState;
  /** The state machine's own serialization; opaque to the core. */
  readonly data: Uint8Array;
}

/** The role of a node. The strings are those of `StatusResponse.role` in raft.proto. */
export type Role = "follower" | "pre-candidate" | "candidate" | "leader";

/** Volatile state the application may want to log or expose; it need not be persisted. */
export interface SoftState {
  readonly role: Role;
  readonly leader: NodeId;
  readonly term: number;
}

/**
 * The result of a ReadIndex request: once the application has applied up to `index`, a read
 * of its state machine is linearizable with respect to the moment `readIndex()` was called.
 */
export interface ReadState {
  /** The number the application passed to `readIndex()`. */
  readonly context: number;
  readonly index: number;
}

// ---------------------------------------------------------------------------------------------
// Transport messages (raft.proto, section "Transport between raft-nodes").
// ---------------------------------------------------------------------------------------------

/** `AppendEntriesRequest`: log replication and heartbeat (a heartbeat has no entries). */
export interface AppendEntriesRequest {
  readonly type: "appendEntries";
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: number;
  readonly prevLogIndex: number;
  readonly prevLogTerm: number;
  readonly entries: readonly Entry[];
  readonly leaderCommit: number;
  /**
   * The leader's read-confirmation round (ReadIndex), big-endian, echoed by the follower;
   * empty when the leader has no read round in progress.
   */
  readonly context: Uint8Array;
}

/** `AppendEntriesResponse`. */
export interface AppendEntriesResponse {
  readonly type: "appendEntriesResponse";
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: number;
  readonly success: boolean;
  /**
   * On success, the highest index at which the follower's log is known to equal the
   * leader's. On rejection, the `prevLogIndex` that was rejected.
   */
  readonly matchIndex: number;
  /**
   * On rejection, fast backtracking hints (etcd-io/raft's `findConflictByTerm`): the
   * largest index on the follower, at most `prevLogIndex`, whose term is at most
   * `prevLogTerm`, and the term of that entry. The leader resumes from the largest index of
   * its own log at most `rejectHintIndex` whose term is at most `rejectHintTerm`, skipping a
   * whole conflicting term per round trip.
   */
  readonly rejectHintIndex: number;
  readonly rejectHintTerm: number;
  /** The request's `context`, echoed. */
  readonly context: Uint8Array;
}

/** `RequestVoteRequest`, for a real election or a pre-vote (`preVote`, term not bumped). */
export interface RequestVoteRequest {
  readonly type: "requestVote";
  readonly from: NodeId;
  readonly to: NodeId;
  /** For a pre-vote, the term the candidate would campaign in (its term + 1). */
  readonly term: number;
  readonly lastLogIndex: number;
  readonly lastLogTerm: number;
  readonly preVote: boolean;
  /** Campaigning because of TimeoutNow: voters ignore their leader lease. */
  readonly transfer: boolean;
}

/** `RequestVoteResponse`. */
export interface RequestVoteResponse {
  readonly type: "requestVoteResponse";
  readonly from: NodeId;
  readonly to: NodeId;
  /** The request's term when granted; the voter's own term when rejected. */
  readonly term: number;
  readonly granted: boolean;
  readonly preVote: boolean;
}

/** `InstallSnapshotRequest`: the whole snapshot in one message. */
export interface InstallSnapshotRequest {
  readonly type: "installSnapshot";
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: number;
  readonly lastIncludedIndex: number;
  readonly lastIncludedTerm: number;
  /** The membership at `lastIncludedIndex`, encoded with {@linkcode encodeConfState}. */
  readonly configuration: Uint8Array;
  readonly data: Uint8Array;
}

/** `InstallSnapshotResponse`. */
export interface InstallSnapshotResponse {
  readonly type: "installSnapshotResponse";
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: number;
  /** The follower's commit index after handling the snapshot (its log matches up to it). */
  readonly matchIndex: number;
}

/** `TimeoutNowRequest`: the leader tells the transfer target to campaign at once. */
export interface TimeoutNowRequest {
  readonly type: "timeoutNow";
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: number;
}

/** Any transport message; `type` is the `$case` of `RaftEnvelope.message`. */
export type Message =
  | AppendEntriesRequest
  | AppendEntriesResponse
  | RequestVoteRequest
  | RequestVoteResponse
  | InstallSnapshotRequest
  | InstallSnapshotResponse
  | TimeoutNowRequest;

/** The tag of a {@linkcode Message}. */
export type MessageType = Message["type"];

// ---------------------------------------------------------------------------------------------
// The Ready batch.
// ---------------------------------------------------------------------------------------------

/**
 * Everything the core asks of the application, returned by `Raft.ready()`. The application
 * MUST handle a Ready as follows (etcd-io/raft README, "Usage", with the leader's disk write
 * in parallel with replication of Raft thesis §10.2.1):
 *
 * 1. Send `earlyMessages`: at once, while step 2 runs, or after it, as is convenient. They
 *    are AppendEntries (with entries), heartbeats, InstallSnapshot and TimeoutNow of a
 *    leader whose term (and vote for itself) is already durable, so nothing in them relies
 *    on step 2: a follower may store and acknowledge the leader's new entries before the
 *    leader's own write of them is done. The core counts the leader's own log toward the
 *    commit quorum only up to what `advance()` reported durable, so a committed entry is
 *    always on a majority of disks, whether that majority includes the leader or not.
 * 2. Persist, durably (fsync) and atomically: a crash leaves all of it or none of it (one
 *    transaction, or one checksummed record of a log file). Entries that survive without
 *    the hard state written with them leave a log whose last term is above the node's own
 *    term (the simulator found it, sim/sim_storage.ts):
 *    a. `snapshot`, if set: store it as the node's snapshot and delete every stored entry
 *       (the core's log was replaced by it);
 *    b. `entries`: delete every stored entry with index >= `entries[0].index` (a new leader
 *       overwrote a conflicting suffix), then append `entries`;
 *    c. `hardState`, if set.
 * 3. Only once step 2 is durable, send `messages`. A vote, an acknowledgement or a term in
 *    them relies on step 2. Messages (early ones too) may be lost, duplicated or reordered
 *    by the network; the core copes.
 * 4. Apply. If `snapshot` is set: once step 2 is durable, restore the state machine from
 *    `snapshot.data`, then apply `committedEntries`. Without a snapshot, `committedEntries`
 *    may be applied as soon as the Ready is handed out, before or while step 2 runs: they
 *    are committed, that is durable on a majority of disks already (etcd's server applies
 *    concurrently with its WAL write the same way). Apply them in order; config entries too
 *    (the core already uses the new membership; the application may update its address
 *    book from them).
 * 5. Answer `readStates`: a read with `context` may be served once the state machine has
 *    applied `index`. `droppedReads` will never get a read state (leadership was lost):
 *    answer them "not leader". Like step 4, this need not wait for step 2 without a snapshot.
 * 6. Once step 2 is durable and steps 3 to 5 are done, call `Raft.advance(ready)`: only then
 *    does the core count this Ready's entries as durable.
 *
 * `step()`, `tick()`, `propose()` and `readIndex()` may be called while a Ready is being
 * handled (between `ready()` and `advance()`): what they produce goes into the next Ready,
 * which is how proposals made during one fsync are group-committed by the next. Never call
 * `ready()` again before `advance()`.
 */
export interface Ready {
  /** Set when role, leader or term changed since the last Ready. Not persisted. */
  readonly softState: SoftState | undefined;
  /** Set when term, vote or commit changed since the last Ready. Persist (2c). */
  readonly hardState: HardState | undefined;
  /** A snapshot received from the leader: persist (2a), then restore the state machine (4). */
  readonly snapshot: Snapshot | undefined;
  /** Entries to append to stable storage (2b). */
  readonly entries: readonly Entry[];
  /** A leader's messages that may be sent before step 2 is durable (1). */
  readonly earlyMessages: readonly Message[];
  /** Messages to send only once step 2 is durable (3). */
  readonly messages: readonly Message[];
  /** Entries to apply to the state machine, in order (4). Committed on a majority of disks. */
  readonly committedEntries: readonly Entry[];
  /** Confirmed linearizable reads (5). */
  readonly readStates: readonly ReadState[];
  /** Contexts of `readIndex()` calls that will never be confirmed (5). */
  readonly droppedReads: readonly number[];
}

// ---------------------------------------------------------------------------------------------
// Construction, results and status.
// ---------------------------------------------------------------------------------------------

/** What the application restores from stable storage when a node (re)starts. */
export interface PersistedState {
  readonly hardState: HardState;
  /** The stored snapshot, if any. */
  readonly snapshot: Snapshot | undefined;
  /**
   * Every stored entry in index order, contiguous. It may begin at or before
   * `snapshot.index + 1` (entries retained by `compact(..., retain)`) but not after it.
   */
  readonly entries: readonly Entry[];
}

/** Options of the {@linkcode Raft} constructor. Times are in ticks. */
export interface RaftConfig {
  readonly id: NodeId;
  /** State restored from storage; omit (or pass empty state) for a brand-new node. */
  readonly storage?: PersistedState;
  /**
   * The membership a brand-new cluster starts with. Only used when `storage` is empty: the
   * node then writes it as a config entry at index 1, term 1 in its first Ready (HashiCorp
   * Raft's BootstrapCluster). Every founding node may bootstrap with the same voters; a node
   * that joins later starts with neither storage nor bootstrap and waits to be contacted.
   */
  readonly bootstrap?: ConfState;
  /**
   * The index the state machine has already applied, for a state machine that persists
   * itself; committed entries up to it are not handed out again. Defaults to the snapshot
   * index (the state machine is rebuilt from the snapshot and the log).
   */
  readonly applied?: number;
  /**
   * Ticks without hearing from a leader before a follower campaigns; the actual timeout is
   * drawn uniformly from [electionTick, 2 * electionTick - 1] each time it is reset. Also the
   * check-quorum period of a leader and the length of a follower's leader lease. Default 10.
   */
  readonly electionTick?: number;
  /** Ticks between a leader's heartbeats. Must be less than `electionTick`. Default 1. */
  readonly heartbeatTick?: number;
  /** Uniform in [0, 1): the only randomness of the core. Inject a seeded PRNG in tests. */
  readonly random: () => number;
  /** Pre-vote (thesis §9.6) before a real election. Default true. */
  readonly preVote?: boolean;
  /**
   * Check-quorum (thesis §6.2): a leader steps down when it has not heard from a majority
   * within an election timeout, and a follower that heard from its leader within an election
   * timeout ignores (pre)vote requests (the leader lease). Default true.
   */
  readonly checkQuorum?: boolean;
  /** Most AppendEntries in flight to one follower in the replicate state. Default 256. */
  readonly maxInflightMsgs?: number;
  /** Most entry bytes in flight to one follower (0 = no limit). Default 8 MiB. */
  readonly maxInflightBytes?: number;
  /** Most entry bytes in one AppendEntries (at least one entry is always sent). Default 1 MiB. */
  readonly maxMsgBytes?: number;
  /** Most entry bytes in one Ready's `committedEntries` (at least one). Default 16 MiB. */
  readonly maxApplyBytes?: number;
  /** Promote a learner to voter once it has caught up. Default true. */
  readonly autoPromoteLearners?: boolean;
  /**
   * Deliberately broken rules, for proving that the simulator catches bugs. Never set them
   * outside tests.
   */
  readonly unsafe?: UnsafeFlags;
}

/** Test-only switches that break one Raft rule each. */
export interface UnsafeFlags {
  /**
   * Commit an entry of an earlier term by counting replicas (the mistake of Raft paper
   * Figure 8) instead of only entries of the current term.
   */
  readonly commitPreviousTermByCounting?: boolean;
  /** Grant (pre)votes even while in a leader lease (breaks check-quorum's guarantee). */
  readonly skipPreVoteLeaseCheck?: boolean;
  /** Grant votes without the "candidate's log is at least as up-to-date" check (§5.4.1). */
  readonly skipLogUpToDateCheck?: boolean;
  /** Serve ReadIndex from the commit index without the heartbeat confirmation round. */
  readonly skipReadIndexConfirmation?: boolean;
  /**
   * Count the leader's own log toward the commit quorum up to its last index, durable or
   * not (breaks thesis §10.2.1: a leader that crashes before its write lands may leave a
   * "committed" entry on a minority of disks).
   */
  readonly countUnpersistedLeaderLog?: boolean;
  /**
   * Hand out every message as early, acknowledgements and votes included (breaks "nothing
   * is acknowledged or voted before it is durable").
   */
  readonly sendEverythingEarly?: boolean;
}

/** Why a proposal, read or change was refused. */
export type RefusalReason =
  | "not-leader"
  | "transfer-in-progress"
  | "conf-change-in-progress"
  | "not-member"
  | "invalid";

/**
 * The result of `propose()` / `proposeConfChange()`. When accepted, the entry was appended
 * at `index` in `term`; it is committed only if the entry applied at `index` has `term`
 * (another leader may overwrite it, in which case the proposal was lost).
 */
export type ProposeResult =
  | { readonly ok: true; readonly index: number; readonly term: number }
  | { readonly ok: false; readonly reason: RefusalReason; readonly leader: NodeId };

/** The result of `readIndex()` and `transferLeadership()`. */
export type RequestResult =
  | { readonly ok: true }
  | { readonly ok: false; readonly reason: RefusalReason; readonly leader: NodeId };

/** Replication state of one peer, as a leader sees it. */
export interface PeerStatus {
  readonly id: NodeId;
  readonly voter: boolean;
  readonly match: number;
  readonly next: number;
  /** "probe": finding the match point; "replicate": pipelining; "snapshot": sending one. */
  readonly state: "probe" | "replicate" | "snapshot";
  readonly inflight: number;
  /** Ticks since the leader last heard from this peer. */
  readonly ticksSinceContact: number;
}

/** A snapshot of a node's state for Status RPCs, metrics and tests. */
export interface RaftStatus {
  readonly id: NodeId;
  readonly role: Role;
  readonly term: number;
  readonly vote: NodeId;
  readonly leader: NodeId;
  readonly commit: number;
  readonly applied: number;
  readonly lastIndex: number;
  readonly lastTerm: number;
  readonly firstIndex: number;
  readonly snapshotIndex: number;
  readonly snapshotTerm: number;
  readonly conf: ConfState;
  /** Ticks since this node last heard from a leader (0 when it is the leader). */
  readonly ticksSinceLeaderContact: number;
  readonly transferTarget: NodeId;
  /** Only on a leader: every other member. */
  readonly peers: readonly PeerStatus[];
}
