/**
 * The node loop of a raft-node: the thin shell around the pure core (etcd-io/raft style).
 * Timers drive `tick()`, the transport feeds `step()`, and every Ready is handled as
 * core/types.ts documents: the leader's AppendEntries go out first (its followers write
 * them while it does), committed entries are applied and reads answered, the Ready is
 * written (one SQLite transaction, fsynced), then what relies on the write is sent and the
 * core advanced. Client requests wait here for their entry to be applied or their read to be
 * confirmed.
 *
 * Group commit comes from the loop's shape: one Ready is handled at a time, so every
 * proposal and message that arrives while its fsync runs goes into the next single
 * transaction.
 *
 * @module
 */
import { setImmediate } from "node:timers";
import { DENO_GOAWAY_WORKAROUND } from "@trading/shared/grpc";
import { getLogger } from "@trading/shared/log";
import { errorMessage } from "@trading/shared/retry";
import { Raft } from "./core/raft.ts";
import type {
  ConfState,
  Entry,
  NodeId,
  PersistedState,
  RaftStatus,
  Ready,
  Role,
  SoftState,
} from "./core/types.ts";
import {
  type ApplyCommand,
  type ApplyOutcome,
  encodeCommand,
  type OrderRecord,
  OrderStateMachine,
  UndecodableCommandError,
} from "./state_machine.ts";
import type { RaftNodeConfig } from "./config.ts";
import { addressBook, encodeMemberAddresses, type MemberAddresses } from "./member_addresses.ts";
import type { RaftStorage } from "./storage/raft_storage.ts";
import { Chaos } from "./transport/chaos.ts";
import { RaftTransport } from "./transport/raft_transport.ts";
import { flushHttp2Writes } from "./http2/coalesce_http2_writes.ts";
import { RaftNodeMetrics } from "./raft_node_metrics.ts";
import { peerMessageRefusal, PeerRefusals } from "./peer_message_guard.ts";
import { counter } from "@trading/shared/metrics";

const undecodableEntries = counter(
  "raft_entries_undecodable_total",
  "Committed entries whose command bytes did not decode: skipped by every member",
);

/**
 * Ticks between the campaigns of the survivors of a leader whose connection closed, by their
 * rank (see RaftNode.#onPeerGone): the first campaigns at once, the next this much later, so
 * that two pre-candidates rarely split the vote; enough for a pre-vote and a vote round with
 * their fsyncs on a loaded machine.
 */
const LEADER_GONE_STAGGER_TICKS = 5;

/** The exit code of a node that became leader with exit-on-leader set. */
export const EXIT_ON_LEADER_CODE = 3;

/** Why a request could not be served; the API maps each kind to a gRPC status. */
export type RaftNodeErrorKind =
  /** The entry may or may not commit (leadership lost, or the node stops). */
  | "unknown-outcome"
  /** The entry did not commit within the apply timeout; it may still. */
  | "timeout"
  /** The node is shutting down and takes no new work. */
  | "shutting-down"
  /** The core refused the request for a reason other than leadership. */
  | "refused";

/** A request that failed; `kind` says what a client may conclude. */
export class RaftNodeError extends Error {
  readonly kind: RaftNodeErrorKind;
  constructor(kind: RaftNodeErrorKind, message: string) {
    super(message);
    this.name = "RaftNodeError";
    this.kind = kind;
  }
}

/** The answer to a request that only the leader serves, on another node. */
export interface NotLeader {
  readonly kind: "not-leader";
  readonly leaderId: NodeId;
  /** The leader's client address, "" when no leader is known. */
  readonly leaderAddr: string;
}

/** The answer to {@linkcode RaftNode.apply}. */
export type ApplyReply = (ApplyOutcome & { readonly kind: "outcome" }) | NotLeader;

/** The answer to {@linkcode RaftNode.read}. */
export type ReadReply =
  | { readonly kind: "record"; readonly record: OrderRecord | undefined }
  | NotLeader;

/** The answer to a membership or leadership request. */
export interface ChangeReply {
  readonly accepted: boolean;
  readonly message: string;
  readonly leaderId: NodeId;
  readonly leaderAddr: string;
}

interface PendingEntry {
  readonly term: number;
  readonly deadline: number;
  resolve(outcome: ApplyOutcome | undefined): void;
  reject(error: RaftNodeError): void;
}

interface PendingRead {
  readonly deadline: number;
  /** Set once the leader confirmed the read: serve it when this index is applied. */
  index: number;
  /** Answers from the state machine (confirmed and applied). */
  serve(): void;
  /** Answers "not leader" (leadership lost before the read was confirmed). */
  refuse(reply: NotLeader): void;
  reject(error: RaftNodeError): void;
}

/** What {@linkcode RaftNode.create} needs besides the configuration. */
export interface RaftNodeParts {
  readonly config: RaftNodeConfig;
  readonly storage: RaftStorage;
}

/**
 * One raft-node: core, storage, transport, state machine and the requests waiting on them.
 *
 * @example
 * ```ts
 * const node = await RaftNode.create({ config, storage });
 * node.start();
 * const reply = await node.apply(command);
 * await node.stop();
 * ```
 */
export class RaftNode {
  readonly id: NodeId;
  readonly config: RaftNodeConfig;
  readonly transport: RaftTransport;
  readonly stateMachine = new OrderStateMachine();
  readonly metrics: RaftNodeMetrics;
  #raft: Raft;
  #storage: RaftStorage;
  #log = getLogger("raft");
  #refusals = new PeerRefusals(getLogger(["raft", "guard"]));
  #bootstrapped: boolean;
  #scheduled = false;
  #scheduledSoon = false;
  #ticker: ReturnType<typeof setInterval> | undefined;
  #statusTimer: ReturnType<typeof setInterval> | undefined;
  #lastTickAt = 0;
  #pendingEntries = new Map<number, PendingEntry>();
  #pendingReads = new Map<number, PendingRead>();
  #readsAwaitingApply: PendingRead[] = [];
  #nextReadContext = 1;
  #soft: SoftState;
  #conf: ConfState | undefined;
  #members = new Map<NodeId, MemberAddresses>();
  #appliedSinceSnapshot = 0;
  /** Orders in the table when the last snapshot was taken or restored. */
  #ordersAtSnapshot = 0;
  #snapshotsInstalled = 0;
  #leaderChanges = 0;
  #stopping = false;
  #stopped = false;
  #fatal: ((error: unknown) => void) | undefined;

  private constructor(
    config: RaftNodeConfig,
    storage: RaftStorage,
    raft: Raft,
    transport: RaftTransport,
    bootstrapped: boolean,
  ) {
    this.id = config.nodeId;
    this.config = config;
    this.#storage = storage;
    this.#raft = raft;
    this.transport = transport;
    this.#bootstrapped = bootstrapped;
    this.#soft = { role: raft.role, leader: raft.leader, term: raft.term };
    this.metrics = new RaftNodeMetrics(this);
  }

  /**
   * Restores a node from its storage (or bootstraps a one-node cluster when
   * `RAFT_BOOTSTRAP` is set and the storage is empty), and starts its transport server.
   */
  static async create({ config, storage }: RaftNodeParts): Promise<RaftNode> {
    const log = getLogger("raft");
    const empty = storage.isEmpty();
    const persisted: PersistedState | undefined = empty ? undefined : storage.load();
    const self: MemberAddresses = { raft: config.raftAddr, grpc: config.grpcAddr };
    const bootstrap = empty && config.bootstrap;
    if (!empty && config.bootstrap) {
      log.info("data directory is not empty: RAFT_BOOTSTRAP ignored, restarting as a member");
    }
    const raft = new Raft({
      id: config.nodeId,
      ...(persisted ? { storage: persisted } : {}),
      ...(bootstrap
        ? {
          bootstrap: {
            voters: [config.nodeId],
            learners: [],
            context: { [config.nodeId]: encodeMemberAddresses(self) },
          },
        }
        : {}),
      electionTick: config.electionTicks,
      heartbeatTick: config.heartbeatTicks,
      random: Math.random,
    });
    const chaos = new Chaos(config.nodeId, config.chaos);
    const transport = new RaftTransport({
      nodeId: config.nodeId,
      bindAddr: config.bindAddr,
      advertiseAddr: config.raftAddr,
      stream: config.transportStream,
      clusterSecret: config.clusterSecret,
      chaos,
      // Messages arrive only once the server is started below, after `node` is set.
      onMessage: (message) => node.#receive(message),
      onPeerGone: (peer) => node.#onPeerGone(peer),
    });
    const node: RaftNode = new RaftNode(config, storage, raft, transport, bootstrap);
    if (persisted?.snapshot) {
      node.stateMachine.restore(persisted.snapshot.data);
      node.#ordersAtSnapshot = node.stateMachine.size;
    }
    node.#refreshMembers();
    await transport.start();
    log.info("raft node {id} restored: term {term}, commit {commit}, last index {last}", {
      id: config.nodeId,
      term: raft.term,
      commit: raft.commitIndex,
      last: raft.lastIndex,
      snapshot: raft.snapshotIndex,
      bootstrap,
      members: [...raft.conf.voters, ...raft.conf.learners],
    });
    return node;
  }

  /**
   * Starts the tick timer and the status log. `onFatal` is called when a Ready cannot be
   * handled (a storage error): the process must stop rather than run on with a state it
   * did not persist.
   */
  start(onFatal: (error: unknown) => void = (error) => {
    throw error;
  }): void {
    this.#fatal = onFatal;
    this.#lastTickAt = performance.now();
    this.#ticker = setInterval(() => this.#tick(), this.config.tickMs);
    if (this.config.statusLogMs > 0) {
      this.#statusTimer = setInterval(() => this.#logStatus(), this.config.statusLogMs);
    }
    // A freshly bootstrapped single voter need not wait an election timeout.
    if (this.#bootstrapped) this.#raft.campaign();
    this.#schedule();
  }

  /** This node's role. */
  get role(): Role {
    return this.#raft.role;
  }

  /** The current term. */
  get term(): number {
    return this.#raft.term;
  }

  /** The known leader's id, or "". */
  get leaderId(): NodeId {
    return this.#raft.leader;
  }

  /** The known leader's client address, or "". */
  get leaderAddr(): string {
    return this.#members.get(this.#raft.leader)?.grpc ?? "";
  }

  /** True when this node is a member with stored state (it need not join). */
  get isMember(): boolean {
    const conf = this.#raft.conf;
    return conf.voters.includes(this.id) || conf.learners.includes(this.id);
  }

  /** The members and their addresses, as the node knows them. */
  get members(): ReadonlyMap<NodeId, MemberAddresses> {
    return this.#members;
  }

  /** The core's status. */
  status(): RaftStatus {
    return this.#raft.status();
  }

  /** Snapshots received from a leader (InstallSnapshot) and installed since start. */
  get snapshotsInstalled(): number {
    return this.#snapshotsInstalled;
  }

  /** Leader changes seen since start. */
  get leaderChanges(): number {
    return this.#leaderChanges;
  }

  /** Milliseconds spent writing the last Ready's transaction (its fsync runs apart). */
  get lastWriteMs(): number {
    return this.#storage.lastWriteMs;
  }

  #notLeader(leader: NodeId = this.#raft.leader): NotLeader {
    const known = leader === this.id ? "" : leader;
    return {
      kind: "not-leader",
      leaderId: known,
      leaderAddr: this.#members.get(known)?.grpc ?? "",
    };
  }

  /**
   * Records an order's outcome once (leader only). Resolves with the stored outcome once
   * the entry is applied, or at once for an id that is already stored (an order id, once
   * committed, is never removed, so the local table answers a duplicate linearizably).
   */
  apply(command: ApplyCommand): Promise<ApplyReply> {
    if (this.#stopping) return this.#shuttingDown();
    if (this.#raft.role !== "leader") return Promise.resolve(this.#notLeader());
    const existing = this.stateMachine.read(command.orderId);
    if (existing !== undefined) {
      const same = equalBytes(existing.payloadHash, command.payloadHash);
      return Promise.resolve({
        kind: "outcome",
        result: same ? "duplicate" : "conflict",
        outcome: existing.outcome,
        index: existing.index,
      });
    }
    const result = this.#raft.propose(encodeCommand(command));
    if (!result.ok) {
      if (result.reason === "not-leader" || result.reason === "transfer-in-progress") {
        return Promise.resolve(this.#notLeader(result.leader));
      }
      return Promise.reject(new RaftNodeError("refused", `Proposal refused: ${result.reason}`));
    }
    this.metrics.proposals.inc();
    this.#schedule();
    return new Promise<ApplyReply>((resolve, reject) => {
      this.#pendingEntries.set(result.index, {
        term: result.term,
        deadline: performance.now() + this.config.applyTimeoutMs,
        resolve: (outcome) => {
          // A normal entry of ours always yields an outcome.
          resolve({ kind: "outcome", ...outcome! });
        },
        reject,
      });
    });
  }

  /**
   * Records several orders' outcomes (leader only), each exactly as {@linkcode apply} would:
   * proposed in this order in one turn, so they share a Ready and its fsync. Rejects when
   * the outcome of any of them is unknown.
   */
  applyBatch(commands: readonly ApplyCommand[]): Promise<ApplyReply[]> {
    return Promise.all(commands.map((command) => this.apply(command)));
  }

  /**
   * Reads an order's record: linearizable (ReadIndex on the leader) unless `stale`, which
   * answers from this node's state machine as it is.
   */
  read(orderId: string, { stale = false }: { stale?: boolean } = {}): Promise<ReadReply> {
    if (stale) return Promise.resolve({ kind: "record", record: this.stateMachine.read(orderId) });
    if (this.#stopping) return this.#shuttingDown();
    if (this.#raft.role !== "leader") return Promise.resolve(this.#notLeader());
    const context = this.#nextReadContext++;
    const result = this.#raft.readIndex(context);
    if (!result.ok) {
      if (result.reason === "not-leader" || result.reason === "transfer-in-progress") {
        return Promise.resolve(this.#notLeader(result.leader));
      }
      return Promise.reject(new RaftNodeError("refused", `Read refused: ${result.reason}`));
    }
    this.#schedule();
    const started = performance.now();
    return new Promise<ReadReply>((resolve, reject) => {
      this.#pendingReads.set(context, {
        deadline: started + this.config.applyTimeoutMs,
        index: 0,
        serve: () => {
          this.metrics.readIndexSeconds.observe((performance.now() - started) / 1000);
          resolve({ kind: "record", record: this.stateMachine.read(orderId) });
        },
        refuse: resolve,
        reject,
      });
    });
  }

  /**
   * Adds a node as a learner (the core promotes it once caught up), on the leader. A node
   * that is already a member with the same addresses is accepted as it is.
   */
  async join(nodeId: NodeId, addresses: MemberAddresses): Promise<ChangeReply> {
    if (this.#raft.role !== "leader") return this.#changeNotLeader();
    const conf = this.#raft.conf;
    const context = encodeMemberAddresses(addresses);
    if (conf.voters.includes(nodeId) || conf.learners.includes(nodeId)) {
      if (conf.context[nodeId] === context) {
        return this.#changeReply(true, `${nodeId} is already a member`);
      }
      // The core's single-server changes have no "update context"; removing and re-adding
      // a voter would shrink the quorum under it. Refuse rather than guess.
      return this.#changeReply(
        false,
        `${nodeId} is already a member at ${
          conf.context[nodeId] ?? "unknown addresses"
        }: expected the same addresses ${context}`,
      );
    }
    const result = this.#raft.proposeConfChange({ type: "add", node: nodeId, context });
    if (!result.ok) {
      if (result.reason === "not-leader") return this.#changeNotLeader();
      return this.#changeReply(false, `Join of ${nodeId} refused: ${result.reason}`);
    }
    this.#log.info("adding {node} as a learner at index {index}", {
      node: nodeId,
      index: result.index,
      ...addresses,
    });
    await this.#awaitEntry(result.index, result.term);
    return this.#changeReply(true, `${nodeId} added as a learner`);
  }

  /** Removes a member, on the leader. */
  async leave(nodeId: NodeId): Promise<ChangeReply> {
    if (this.#raft.role !== "leader") return this.#changeNotLeader();
    const conf = this.#raft.conf;
    if (!conf.voters.includes(nodeId) && !conf.learners.includes(nodeId)) {
      return this.#changeReply(true, `${nodeId} is not a member`);
    }
    const result = this.#raft.proposeConfChange({ type: "remove", node: nodeId });
    if (!result.ok) {
      if (result.reason === "not-leader") return this.#changeNotLeader();
      return this.#changeReply(false, `Leave of ${nodeId} refused: ${result.reason}`);
    }
    this.#log.info("removing {node} at index {index}", { node: nodeId, index: result.index });
    await this.#awaitEntry(result.index, result.term);
    return this.#changeReply(true, `${nodeId} removed`);
  }

  /**
   * Hands leadership to `target` (TimeoutNow), on the leader, and waits up to two election
   * timeouts for it to take over.
   */
  async transferLeadership(target: NodeId): Promise<ChangeReply> {
    if (this.#raft.role !== "leader") return this.#changeNotLeader();
    if (target === this.id) return this.#changeReply(true, `${target} is already the leader`);
    const result = this.#raft.transferLeadership(target);
    if (!result.ok) {
      return this.#changeReply(false, `Transfer to ${target} refused: ${result.reason}`);
    }
    this.#schedule();
    const moved = await this.#waitUntil(
      () => this.#raft.leader !== this.id && this.#raft.leader !== "",
      2 * this.config.electionTicks * this.config.tickMs,
    );
    return moved
      ? this.#changeReply(true, `leadership moved to ${this.#raft.leader}`)
      : this.#changeReply(false, `${target} did not take over within two election timeouts`);
  }

  #changeNotLeader(): ChangeReply {
    const notLeader = this.#notLeader();
    return {
      accepted: false,
      message: "not the leader",
      leaderId: notLeader.leaderId,
      leaderAddr: notLeader.leaderAddr,
    };
  }

  #changeReply(accepted: boolean, message: string): ChangeReply {
    return {
      accepted,
      message,
      leaderId: this.#raft.leader,
      leaderAddr: this.#members.get(this.#raft.leader)?.grpc ?? "",
    };
  }

  #awaitEntry(index: number, term: number): Promise<ApplyOutcome | undefined> {
    this.#schedule();
    return new Promise((resolve, reject) => {
      this.#pendingEntries.set(index, {
        term,
        deadline: performance.now() + this.config.applyTimeoutMs,
        resolve,
        reject,
      });
    });
  }

  #shuttingDown(): Promise<never> {
    return Promise.reject(new RaftNodeError("shutting-down", "Raft node is shutting down"));
  }

  async #waitUntil(condition: () => boolean, timeoutMs: number): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    while (!condition()) {
      if (performance.now() >= deadline || this.#stopped) return false;
      await new Promise((resolve) => setTimeout(resolve, this.config.tickMs / 2));
    }
    return true;
  }

  // -------------------------------------------------------------------------------------------
  // The loop.
  // -------------------------------------------------------------------------------------------

  #receive(message: Parameters<Raft["step"]>[0]): void {
    if (this.#stopped) return;
    const refusal = peerMessageRefusal(message, {
      id: this.id,
      term: this.#raft.term,
      commitIndex: this.#raft.commitIndex,
      conf: this.#raft.conf,
      stateMachine: this.stateMachine,
    });
    if (refusal !== undefined) return this.#refusals.record(message, refusal);
    try {
      this.#raft.step(message);
    } catch (error) {
      this.#log.warn("raft core refused a {type} from {from}: {error}", {
        type: message.type,
        from: message.from,
        error: errorMessage(error),
      });
      return;
    }
    this.#scheduleSoon();
  }

  /**
   * A connection with `peer` closed. When `peer` is our leader, a killed process is the
   * likely cause: forget it (its lease no longer stops us granting pre-votes) and campaign
   * without waiting an election timeout (pre-vote first, so a leader that is alive after all
   * is not disturbed: its followers still in its lease refuse). The survivors campaign one
   * after another by rank among the remaining voters, so that they do not split the vote.
   */
  #onPeerGone(peer: NodeId): void {
    if (this.#stopping || this.#stopped || !this.#raft.forgetLeader(peer)) return;
    const rank = this.#raft.conf.voters.filter((id) => id !== peer).sort().indexOf(this.id);
    this.#log.info("connection to leader {leader} closed: campaigning (rank {rank})", {
      leader: peer,
      rank,
      term: this.#raft.term,
    });
    this.metrics.leaderGone.inc();
    this.#schedule();
    if (rank < 0) return; // not a voter: it only stops deferring to the gone leader
    const term = this.#raft.term;
    const campaign = () => {
      // Not if anything happened meanwhile: a new leader, a vote given, our own campaign.
      if (this.#stopping || this.#stopped) return;
      if (this.#raft.term !== term || this.#raft.role !== "follower" || this.#raft.leader) return;
      this.#raft.campaign();
      this.#schedule();
    };
    if (rank === 0) campaign();
    else setTimeout(campaign, rank * LEADER_GONE_STAGGER_TICKS * this.config.tickMs);
  }

  #tick(): void {
    if (this.#stopped) return;
    const now = performance.now();
    this.metrics.tickIntervalSeconds.observe((now - this.#lastTickAt) / 1000);
    this.#lastTickAt = now;
    this.#raft.tick();
    this.#expire(now);
    this.#schedule();
  }

  #schedule(): void {
    if (this.#scheduled || this.#stopped) return;
    this.#scheduled = true;
    // Once per turn of the event loop: every proposal and message that arrives meanwhile
    // joins this Ready (client requests come as separate events of one network read).
    setImmediate(() => {
      this.#scheduled = false;
      this.#runReady();
    });
  }

  /**
   * For a message from a peer: handles the Ready as soon as the messages of this read from
   * the network are stepped (they are delivered in one go), not a turn of the event loop
   * later. On the path of every Apply are a follower's AppendEntries and the leader's
   * acknowledgements, and a turn of a loaded machine's event loop is tens of microseconds.
   */
  #scheduleSoon(): void {
    if (this.#scheduledSoon || this.#stopped) return;
    this.#scheduledSoon = true;
    queueMicrotask(() => {
      this.#scheduledSoon = false;
      this.#runReady();
    });
  }

  #runReady(): void {
    if (this.#stopped || !this.#raft.hasReady()) return;
    try {
      this.#handleReady();
    } catch (error) {
      this.#log.error("handling a Ready failed, stopping: {error}", {
        error: errorMessage(error),
      });
      this.#stopped = true;
      this.#fatal?.(error);
      return;
    }
    if (this.#raft.hasReady()) this.#schedule();
  }

  #handleReady(): void {
    const rd: Ready = this.#raft.ready();
    if (rd.softState) this.#onSoftState(rd.softState);
    // A member added by this Ready's config entry gets messages in this very Ready.
    if (this.#raft.conf !== this.#conf) this.#refreshMembers();
    // 1. A leader's AppendEntries leave before its own write (thesis §10.2.1): followers
    // write while the leader does.
    if (rd.earlyMessages.length > 0) {
      this.transport.send(rd.earlyMessages);
      flushHttp2Writes();
    }
    // 4-5. Committed entries are on a majority of disks already: apply them and answer
    // their clients before and while our own write runs (a received snapshot must be
    // durable first).
    if (rd.snapshot === undefined) this.#apply(rd);
    // 2. Write the snapshot, entries and hard state in one durable transaction. The fsync
    // blocks the event loop: an fsync handed to a thread of Deno's blocking pool (tried)
    // costs two thread hand-offs, which on a busy 2-core machine made a leader's own write
    // slower than its followers' and put it on the path of every Apply (traced, one Apply
    // at a time: 447 us against 324 us); requests and acknowledgements that arrive
    // meanwhile wait in the socket and join the next Ready.
    const writeStarted = performance.now();
    const written = this.#storage.persist(rd);
    if (written) {
      this.metrics.fsyncSeconds.observe((performance.now() - writeStarted) / 1000);
      this.metrics.readyEntries.observe(rd.entries.length);
    }
    // 3. Send what relies on the write: acknowledgements, votes, a new term.
    if (rd.messages.length > 0) {
      this.transport.send(rd.messages);
      flushHttp2Writes();
    }
    if (rd.snapshot) {
      this.stateMachine.restore(rd.snapshot.data);
      this.#snapshotsInstalled++;
      this.#appliedSinceSnapshot = 0;
      this.#ordersAtSnapshot = this.stateMachine.size;
      this.#log.info("installed a snapshot at index {index} (term {term}), {orders} orders", {
        index: rd.snapshot.index,
        term: rd.snapshot.term,
        orders: this.stateMachine.size,
      });
      this.#apply(rd);
    }
    // 6. Advance.
    this.#raft.advance(rd);
    if (this.#raft.conf !== this.#conf) this.#refreshMembers();
    this.#maybeSnapshot();
  }

  /** Steps 4 and 5 of a Ready: apply its committed entries, answer its reads. */
  #apply(rd: Ready): void {
    for (const entry of rd.committedEntries) this.#applyEntry(entry);
    for (const { context, index } of rd.readStates) {
      const read = this.#pendingReads.get(context);
      if (!read) continue;
      this.#pendingReads.delete(context);
      read.index = index;
      this.#readsAwaitingApply.push(read);
    }
    for (const context of rd.droppedReads) {
      const read = this.#pendingReads.get(context);
      if (!read) continue;
      this.#pendingReads.delete(context);
      read.refuse(this.#notLeader());
    }
    this.#serveReads();
  }

  #applyEntry(entry: Entry): void {
    let outcome: ApplyOutcome | undefined;
    let undecodable: UndecodableCommandError | undefined;
    if (entry.type === 0) {
      try {
        outcome = this.stateMachine.applyEntry(entry.index, entry.data);
      } catch (error) {
        if (!(error instanceof UndecodableCommandError)) throw error;
        // A forged or corrupt entry: counted and skipped, never a reason to stop the node.
        undecodable = error;
        undecodableEntries.inc();
        this.#log.error("skipped entry {index} (term {term}): {error}", {
          index: entry.index,
          term: entry.term,
          error: error.message,
        });
      }
    } else this.stateMachine.skip(entry.index);
    this.#appliedSinceSnapshot++;
    const pending = this.#pendingEntries.get(entry.index);
    if (pending === undefined) return;
    this.#pendingEntries.delete(entry.index);
    if (undecodable !== undefined) {
      pending.reject(new RaftNodeError("unknown-outcome", undecodable.message));
    } else if (pending.term === entry.term) {
      pending.resolve(outcome);
    } else {
      // Another leader's entry took this index: ours was lost before it committed.
      pending.reject(
        new RaftNodeError("unknown-outcome", "Proposal was overwritten by another leader"),
      );
    }
  }

  #serveReads(): void {
    if (this.#readsAwaitingApply.length === 0) return;
    const applied = this.stateMachine.appliedIndex;
    const waiting: PendingRead[] = [];
    for (const read of this.#readsAwaitingApply) {
      if (read.index <= applied) read.serve();
      else waiting.push(read);
    }
    this.#readsAwaitingApply = waiting;
  }

  #onSoftState(soft: SoftState): void {
    const previous = this.#soft;
    this.#soft = soft;
    if (soft.leader !== previous.leader) {
      this.#leaderChanges++;
      this.metrics.leaderChanges.inc();
    }
    if (soft.role !== previous.role) {
      if (soft.role === "leader") {
        this.#log.info("became leader in term {term}", { term: soft.term, id: this.id });
        if (this.transport.chaos.settings.exitOnLeader) {
          this.#log.error("became leader with exit-on-leader set (CHAOS_EXIT_ON_LEADER): exiting", {
            term: soft.term,
            code: EXIT_ON_LEADER_CODE,
          });
          Deno.exit(EXIT_ON_LEADER_CODE);
        }
      } else {
        this.#log.info("became {role} in term {term}, leader {leader}", {
          role: soft.role,
          term: soft.term,
          leader: soft.leader || "unknown",
        });
      }
    } else if (soft.leader !== previous.leader && soft.leader !== "") {
      this.#log.info("following leader {leader} in term {term}", {
        leader: soft.leader,
        term: soft.term,
      });
    }
    if (previous.role === "leader" && soft.role !== "leader") this.#failPending("leadership lost");
  }

  #failPending(reason: string): void {
    const error = new RaftNodeError(
      "unknown-outcome",
      `Raft ${reason} before commit: outcome unknown`,
    );
    for (const pending of this.#pendingEntries.values()) pending.reject(error);
    this.#pendingEntries.clear();
  }

  #expire(now: number): void {
    // Proposals are made in index order, so the oldest ones come first in the map.
    for (const [index, pending] of this.#pendingEntries) {
      if (pending.deadline > now) break;
      this.#pendingEntries.delete(index);
      pending.reject(
        new RaftNodeError(
          "timeout",
          `Entry ${index} not applied within ${this.config.applyTimeoutMs} ms: outcome unknown`,
        ),
      );
    }
    for (const [context, read] of this.#pendingReads) {
      if (read.deadline > now) break;
      this.#pendingReads.delete(context);
      read.reject(new RaftNodeError("timeout", "Read not confirmed by a quorum in time"));
    }
    if (this.#readsAwaitingApply.length > 0) {
      const waiting = this.#readsAwaitingApply.filter((read) => read.deadline > now);
      for (const read of this.#readsAwaitingApply) {
        if (read.deadline <= now) {
          read.reject(new RaftNodeError("timeout", "Read not applied in time"));
        }
      }
      this.#readsAwaitingApply = waiting;
    }
  }

  #refreshMembers(): void {
    const conf = this.#raft.conf;
    this.#conf = conf;
    this.#members = addressBook(conf);
    const raftAddresses = new Map<NodeId, string>();
    for (const [id, addresses] of this.#members) raftAddresses.set(id, addresses.raft);
    this.transport.setPeers(raftAddresses);
  }

  #maybeSnapshot(): void {
    // Serializing the table is synchronous and proportional to its size (about 110 ms for a
    // million orders, plus the write): waiting for as many new entries as the table held at
    // the last snapshot keeps that cost O(1) per applied entry, however large it grows.
    const due = Math.max(this.config.snapshotEntries, this.#ordersAtSnapshot);
    if (this.#appliedSinceSnapshot < due) return;
    const index = this.stateMachine.appliedIndex;
    if (index !== this.#raft.appliedIndex) return;
    const started = performance.now();
    const data = this.stateMachine.snapshot();
    const snapshot = this.#raft.compact(index, data, this.config.snapshotRetain);
    this.#storage.saveSnapshot(snapshot, index - this.config.snapshotRetain);
    this.#appliedSinceSnapshot = 0;
    this.#ordersAtSnapshot = this.stateMachine.size;
    this.metrics.snapshotsTaken.inc();
    this.#log.info("took a snapshot at index {index}: {bytes} bytes, {orders} orders, {ms} ms", {
      index,
      bytes: data.length,
      orders: this.stateMachine.size,
      ms: Math.round(performance.now() - started),
    });
  }

  #logStatus(): void {
    const s = this.#raft.status();
    this.#log.info(
      "raft status: {role} term {term} leader {leader} commit {commit} applied {applied}",
      {
        role: s.role,
        term: s.term,
        leader: s.leader || "unknown",
        commit: s.commit,
        applied: s.applied,
        lastIndex: s.lastIndex,
        snapshotIndex: s.snapshotIndex,
        voters: s.conf.voters,
        learners: s.conf.learners,
        orders: this.stateMachine.size,
      },
    );
  }

  /**
   * Stops the node: refuses new work, hands leadership to the most up-to-date voter if this
   * node leads (best effort, bounded by two election timeouts), fails what still waits,
   * then closes the transport and the storage.
   */
  async stop({ transfer = true }: { transfer?: boolean } = {}): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    if (transfer && this.#raft.role === "leader" && !this.#stopped) {
      const target = this.#raft.status().peers
        .filter((p) => p.voter)
        .sort((a, b) => b.match - a.match)[0];
      if (target && this.#raft.transferLeadership(target.id).ok) {
        this.#log.info("shutting down: transferring leadership to {target}", { target: target.id });
        this.#schedule();
        const moved = await this.#waitUntil(
          () => this.#raft.role !== "leader",
          2 * this.config.electionTicks * this.config.tickMs,
        );
        this.#log.info(moved ? "leadership transferred" : "leadership transfer timed out", {
          leader: this.#raft.leader,
        });
      }
    }
    this.#stopped = true;
    if (this.#ticker !== undefined) clearInterval(this.#ticker);
    if (this.#statusTimer !== undefined) clearInterval(this.#statusTimer);
    this.#failPending("node stopped");
    const error = new RaftNodeError("shutting-down", "Raft node is shutting down");
    for (const read of this.#pendingReads.values()) read.reject(error);
    for (const read of this.#readsAwaitingApply) read.reject(error);
    this.#pendingReads.clear();
    this.#readsAwaitingApply = [];
    // The channels to the peers are left for the process exit to close (no GOAWAY, see
    // RaftTransport.close).
    await this.transport.close({ closeChannels: !DENO_GOAWAY_WORKAROUND });
    this.#storage.close();
  }
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
