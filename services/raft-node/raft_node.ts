/**
 * A raft-node: the node loop (node_loop.ts) wired to its storage (SQLite or the log file,
 * `RAFT_STORAGE`), the peer transport
 * (gRPC or TCP, `RAFT_TRANSPORT`) and the real clock, with the client API's requests (Apply, Read, membership,
 * leadership transfer), metrics and logs around it.
 *
 * @module
 */
import { DENO_GOAWAY_WORKAROUND } from "@trading/shared/grpc";
import { getLogger } from "@trading/shared/log";
import { Raft } from "./core/raft.ts";
import type { NodeId, PersistedState, RaftStatus, Role } from "./core/types.ts";
import { type ApplyCommand, type ApplyOutcome, OrderStateMachine } from "./state_machine.ts";
import type { RaftNodeConfig } from "./config.ts";
import { encodeMemberAddresses, type MemberAddresses } from "./member_addresses.ts";
import type { NodeStorage } from "./storage/node_storage.ts";
import { Chaos } from "./transport/chaos.ts";
import { createPeerTransport, type PeerTransport } from "./transport/peer_transport.ts";
import { flushHttp2Writes } from "./http2/coalesce_http2_writes.ts";
import { RaftNodeMetrics } from "./raft_node_metrics.ts";
import {
  type ApplyReply,
  NodeLoop,
  type NodeLoopEvents,
  type ReadReply,
  SYSTEM_CLOCK,
} from "./node_loop.ts";

export {
  type ApplyReply,
  type NotLeader,
  RaftNodeError,
  type RaftNodeErrorKind,
  type ReadReply,
} from "./node_loop.ts";

/** The exit code of a node that became leader with exit-on-leader set. */
export const EXIT_ON_LEADER_CODE = 3;

/** The answer to a membership or leadership request. */
export interface ChangeReply {
  readonly accepted: boolean;
  readonly message: string;
  readonly leaderId: NodeId;
  readonly leaderAddr: string;
}

/** What {@linkcode RaftNode.create} needs besides the configuration. */
export interface RaftNodeParts {
  readonly config: RaftNodeConfig;
  readonly storage: NodeStorage;
}

/**
 * One raft-node: the node loop over its storage (RAFT_STORAGE), the peer transport (RAFT_TRANSPORT) and the real
 * clock, and the client API's requests on it.
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
  readonly transport: PeerTransport;
  readonly metrics: RaftNodeMetrics;
  readonly #loop: NodeLoop;
  #raft: Raft;
  #storage: NodeStorage;
  #log = getLogger("raft");
  #bootstrapped: boolean;
  #statusTimer: ReturnType<typeof setInterval> | undefined;

  private constructor(
    config: RaftNodeConfig,
    storage: NodeStorage,
    raft: Raft,
    persisted: PersistedState | undefined,
    bootstrapped: boolean,
  ) {
    this.id = config.nodeId;
    this.config = config;
    this.#storage = storage;
    this.#raft = raft;
    this.#bootstrapped = bootstrapped;
    this.transport = createPeerTransport(config.transport, {
      nodeId: config.nodeId,
      bindAddr: config.bindAddr,
      advertiseAddr: config.raftAddr,
      stream: config.transportStream,
      clusterSecret: config.clusterSecret,
      chaos: new Chaos(config.nodeId, config.chaos),
      // Messages arrive only once the server is started (create), after the loop is set.
      onMessage: (message) => this.#loop.receive(message),
      onPeerGone: (peer) => this.#loop.peerGone(peer),
    });
    const transport = this.transport;
    this.#loop = new NodeLoop({
      config,
      raft,
      stateMachine: new OrderStateMachine(),
      snapshot: persisted?.snapshot,
      storage,
      transport: {
        send(messages) {
          transport.send(messages);
          flushHttp2Writes();
        },
        setPeers: (addresses) => transport.setPeers(addresses),
      },
      clock: SYSTEM_CLOCK,
      events: this.#loopEvents(),
    });
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
    const node = new RaftNode(config, storage, raft, persisted, bootstrap);
    await node.transport.start();
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

  /** The loop's reports: metrics, and the chaos setting that exits on becoming leader. */
  #loopEvents(): NodeLoopEvents {
    return {
      proposed: () => this.metrics.proposals.inc(),
      readServed: (ms) => this.metrics.readIndexSeconds.observe(ms / 1000),
      persisted: (ms, entries, synced) => {
        if (!synced) return;
        this.metrics.fsyncSeconds.observe(ms / 1000);
        this.metrics.readyEntries.observe(entries);
      },
      softState: (soft, previous) => {
        if (soft.leader !== previous.leader) this.metrics.leaderChanges.inc();
        if (
          soft.role === "leader" && previous.role !== "leader" &&
          this.transport.chaos.settings.exitOnLeader
        ) {
          this.#log.error("became leader with exit-on-leader set (CHAOS_EXIT_ON_LEADER): exiting", {
            term: soft.term,
            code: EXIT_ON_LEADER_CODE,
          });
          Deno.exit(EXIT_ON_LEADER_CODE);
        }
      },
      snapshotTaken: () => this.metrics.snapshotsTaken.inc(),
      leaderGone: () => this.metrics.leaderGone.inc(),
      tick: (ms) => this.metrics.tickIntervalSeconds.observe(ms / 1000),
    };
  }

  /**
   * Starts the tick timer and the status log. `onFatal` is called when a Ready cannot be
   * handled (a storage error): the process must stop rather than run on with a state it
   * did not persist.
   */
  start(onFatal: (error: unknown) => void = (error) => {
    throw error;
  }): void {
    this.#loop.start(onFatal);
    if (this.config.statusLogMs > 0) {
      this.#statusTimer = setInterval(() => this.#logStatus(), this.config.statusLogMs);
    }
    // A freshly bootstrapped single voter need not wait an election timeout.
    if (this.#bootstrapped) this.#loop.campaign();
  }

  /** The order table, as this node has applied it. */
  get stateMachine(): OrderStateMachine {
    return this.#loop.stateMachine;
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
    return this.#loop.members.get(this.#raft.leader)?.grpc ?? "";
  }

  /** True when this node is a member with stored state (it need not join). */
  get isMember(): boolean {
    const conf = this.#raft.conf;
    return conf.voters.includes(this.id) || conf.learners.includes(this.id);
  }

  /** The members and their addresses, as the node knows them. */
  get members(): ReadonlyMap<NodeId, MemberAddresses> {
    return this.#loop.members;
  }

  /** The core's status. */
  status(): RaftStatus {
    return this.#raft.status();
  }

  /** Snapshots received from a leader (InstallSnapshot) and installed since start. */
  get snapshotsInstalled(): number {
    return this.#loop.snapshotsInstalled;
  }

  /** Leader changes seen since start. */
  get leaderChanges(): number {
    return this.#loop.leaderChanges;
  }

  /** Milliseconds spent writing the last Ready's transaction (its fsync runs apart). */
  get lastWriteMs(): number {
    return this.#storage.lastWriteMs;
  }

  /** fsyncs of the storage's log since start. */
  get storageFsyncs(): number {
    return this.#storage.fsyncs;
  }

  /**
   * Records an order's outcome once (leader only). Resolves with the stored outcome once
   * the entry is applied, or at once for an id that is already stored (see
   * {@linkcode NodeLoop.apply}).
   */
  apply(command: ApplyCommand): Promise<ApplyReply> {
    return new Promise((resolve, reject) => this.#loop.apply(command, { resolve, reject }));
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
    return new Promise((resolve, reject) => this.#loop.read(orderId, { resolve, reject }));
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
    this.#loop.schedule();
    const moved = await this.#waitUntil(
      () => this.#raft.leader !== this.id && this.#raft.leader !== "",
      2 * this.config.electionTicks * this.config.tickMs,
    );
    return moved
      ? this.#changeReply(true, `leadership moved to ${this.#raft.leader}`)
      : this.#changeReply(false, `${target} did not take over within two election timeouts`);
  }

  #changeNotLeader(): ChangeReply {
    const notLeader = this.#loop.notLeader();
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
      leaderAddr: this.leaderAddr,
    };
  }

  #awaitEntry(index: number, term: number): Promise<ApplyOutcome | undefined> {
    return new Promise((resolve, reject) => {
      this.#loop.awaitEntry(index, term, { resolve, reject });
    });
  }

  async #waitUntil(condition: () => boolean, timeoutMs: number): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    while (!condition()) {
      if (performance.now() >= deadline || this.#loop.stopped) return false;
      await new Promise((resolve) => setTimeout(resolve, this.config.tickMs / 2));
    }
    return true;
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
    if (this.#loop.stopping) return;
    this.#loop.drain();
    if (transfer && this.#raft.role === "leader" && !this.#loop.stopped) {
      const target = this.#raft.status().peers
        .filter((p) => p.voter)
        .sort((a, b) => b.match - a.match)[0];
      if (target && this.#raft.transferLeadership(target.id).ok) {
        this.#log.info("shutting down: transferring leadership to {target}", { target: target.id });
        this.#loop.schedule();
        const moved = await this.#waitUntil(
          () => this.#raft.role !== "leader",
          2 * this.config.electionTicks * this.config.tickMs,
        );
        this.#log.info(moved ? "leadership transferred" : "leadership transfer timed out", {
          leader: this.#raft.leader,
        });
      }
    }
    if (this.#statusTimer !== undefined) clearInterval(this.#statusTimer);
    this.#loop.stop();
    // The channels to the peers are left for the process exit to close (no GOAWAY, see
    // RaftTransport.close).
    await this.transport.close({ closeChannels: !DENO_GOAWAY_WORKAROUND });
    await this.#storage.close();
  }
}
