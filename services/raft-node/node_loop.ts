/**
 * The node loop of a raft-node: the thin shell around the pure core (etcd-io/raft style),
 * shared by the service (raft_node.ts: SQLite, gRPC peers, timers) and the deterministic
 * simulator (sim/: a crashing in-memory disk, a faulty network, a virtual clock). It talks to
 * the world only through {@linkcode LoopStorage}, {@linkcode LoopTransport} and
 * {@linkcode LoopClock}.
 *
 * The clock drives `tick()`, the transport feeds `step()`, and every Ready is handled as
 * core/types.ts documents: the Ready is written, the leader's AppendEntries go out (its
 * followers write them while it does), committed entries are applied and reads answered,
 * the write is synced, then what relies on it is sent and the core advanced. Client
 * requests wait here for their entry to be applied or their read to be confirmed.
 *
 * Group commit comes from the loop's shape: one Ready is handled at a time, so every
 * proposal and message that arrives while its sync runs goes into the next Ready.
 *
 * @module
 */
import { setImmediate } from "node:timers";
import { getLogger } from "@trading/shared/log";
import { counter } from "@trading/shared/metrics";
import { errorMessage } from "@trading/shared/retry";
import type { Raft } from "./core/raft.ts";
import type {
  ConfState,
  Entry,
  Message,
  NodeId,
  Ready,
  Snapshot,
  SoftState,
} from "./core/types.ts";
import {
  type ApplyCommand,
  type ApplyOutcome,
  encodeCommand,
  type OrderRecord,
  type OrderStateMachine,
  UndecodableCommandError,
} from "./state_machine.ts";
import { addressBook, type MemberAddresses } from "./member_addresses.ts";
import { peerMessageRefusal, PeerRefusals } from "./peer_message_guard.ts";

const undecodableEntries = counter(
  "raft_entries_undecodable_total",
  "Committed entries whose command bytes did not decode: skipped by every member",
);

/**
 * Ticks between the campaigns of the survivors of a leader whose connection closed, by their
 * rank (see {@linkcode NodeLoop.peerGone}): the first campaigns at once, the next this much
 * later, so that two pre-candidates rarely split the vote; enough for a pre-vote and a vote
 * round with their fsyncs on a loaded machine.
 */
export const LEADER_GONE_STAGGER_TICKS = 5;

// ---------------------------------------------------------------------------------------------
// What the loop needs of the world.
// ---------------------------------------------------------------------------------------------

/**
 * Stable storage as the loop uses it: step 2 of the Ready contract is a `write` (which need
 * not be durable yet) and a `sync` (the explicit sync point: once `done` is called,
 * everything written before it is durable). A crash loses what was written and not synced.
 */
export interface LoopStorage {
  /** Writes the snapshot, entries and hard state of a Ready (step 2), in that order. */
  write(ready: Pick<Ready, "snapshot" | "entries" | "hardState">): void;
  /**
   * Makes everything written so far durable, then calls `done` (before returning or later):
   * `synced` is false when nothing needed an fsync. A storage that syncs later calls `fail`
   * instead when its write or fsync failed (one that syncs before returning may throw).
   */
  sync(done: (synced: boolean) => void, fail: (error: unknown) => void): void;
  /**
   * Persists a snapshot the node took of its own state machine (`Raft.compact`), then
   * deletes the stored entries up to `compactUpTo` that it makes redundant.
   */
  saveSnapshot(snapshot: Snapshot, compactUpTo: number): void;
}

/** The network as the loop uses it: messages out, and where the peers are. */
export interface LoopTransport {
  /** Sends messages (best effort: they may be lost, duplicated or reordered). */
  send(messages: readonly Message[]): void;
  /** The Raft addresses of the members, whenever the membership changes. */
  setPeers(addresses: ReadonlyMap<NodeId, string>): void;
}

/** Time as the loop uses it; every callback runs on the loop's own thread. */
export interface LoopClock {
  /** Milliseconds on a monotonic clock. */
  now(): number;
  /** Calls `fn` every `ms` (ticks); returns what cancels it. */
  every(ms: number, fn: () => void): () => void;
  /** Calls `fn` once, `ms` from now; returns what cancels it. */
  after(ms: number, fn: () => void): () => void;
  /** Calls `fn` once the work already queued has run (the next turn of the event loop). */
  nextTurn(fn: () => void): void;
  /** Calls `fn` as soon as the current synchronous work is done (a microtask). */
  soon(fn: () => void): void;
}

/** The real clock: `performance.now()`, timers, `setImmediate` and microtasks. */
export const SYSTEM_CLOCK: LoopClock = {
  now: () => performance.now(),
  every(ms, fn) {
    const timer = setInterval(fn, ms);
    return () => clearInterval(timer);
  },
  after(ms, fn) {
    const timer = setTimeout(fn, ms);
    return () => clearTimeout(timer);
  },
  nextTurn: (fn) => void setImmediate(fn),
  soon: (fn) => queueMicrotask(fn),
};

/** What the loop reports as it runs (metrics, logs, the simulator's checks); all optional. */
export interface NodeLoopEvents {
  /** A proposal was accepted by the core. */
  proposed?(): void;
  /** A linearizable read was served, `ms` after it was asked. */
  readServed?(ms: number): void;
  /** A Ready's write was synced (`synced`) in `ms`, with `entries` entries. */
  persisted?(ms: number, entries: number, synced: boolean): void;
  /** Role, leader or term changed (called before waiting proposals fail on a lost lead). */
  softState?(soft: SoftState, previous: SoftState): void;
  /** A snapshot from the leader was installed in the state machine. */
  snapshotInstalled?(snapshot: Snapshot): void;
  /** The node took a snapshot of its own state machine and compacted its log. */
  snapshotTaken?(index: number): void;
  /** A committed entry was applied; `outcome` is undefined for a config or no-op entry. */
  entryApplied?(entry: Entry, outcome: ApplyOutcome | undefined): void;
  /** The connection to this follower's leader `peer` closed and it forgot the leader. */
  leaderGone?(peer: NodeId): void;
  /** A tick, `intervalMs` after the previous one. */
  tick?(intervalMs: number): void;
}

// ---------------------------------------------------------------------------------------------
// What the loop answers.
// ---------------------------------------------------------------------------------------------

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

/** The answer to {@linkcode NodeLoop.apply}. */
export type ApplyReply = (ApplyOutcome & { readonly kind: "outcome" }) | NotLeader;

/** The answer to {@linkcode NodeLoop.read}. */
export type ReadReply =
  | { readonly kind: "record"; readonly record: OrderRecord | undefined }
  | NotLeader;

/** Where a request's answer goes: exactly one of the two is called, at most once. */
export interface Reply<T> {
  resolve(value: T): void;
  reject(error: RaftNodeError): void;
}

interface PendingEntry {
  readonly term: number;
  readonly deadline: number;
  readonly reply: Reply<ApplyOutcome | undefined>;
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

/** The settings of the loop (a subset of `RaftNodeConfig`). */
export interface NodeLoopConfig {
  readonly nodeId: NodeId;
  /** Milliseconds per tick. */
  readonly tickMs: number;
  /** How long a proposal or a read may wait before it fails with "timeout". */
  readonly applyTimeoutMs: number;
  /** The fewest applied entries between two snapshots of the state machine. */
  readonly snapshotEntries: number;
  /** Entries kept in the log below a snapshot (followers a little behind get entries). */
  readonly snapshotRetain: number;
}

/** What {@linkcode NodeLoop} is built from. */
export interface NodeLoopParts {
  readonly config: NodeLoopConfig;
  /** The core, restored from `storage` (or bootstrapping). */
  readonly raft: Raft;
  readonly stateMachine: OrderStateMachine;
  /** The snapshot the core was restored from, which the state machine is restored from. */
  readonly snapshot?: Snapshot | undefined;
  readonly storage: LoopStorage;
  readonly transport: LoopTransport;
  readonly clock: LoopClock;
  /**
   * Apply committed entries when a Ready is handed out, while its write runs (default), or
   * only once it is synced. Both follow the Ready contract (step 4).
   */
  readonly applyBeforeSync?: boolean;
  readonly events?: NodeLoopEvents;
}

/**
 * The loop of one node: core, state machine, storage, transport, clock, and the requests
 * waiting on them.
 *
 * @example
 * ```ts ignore
 * const loop = new NodeLoop({ config, raft, stateMachine, storage, transport, clock: SYSTEM_CLOCK });
 * loop.start((error) => Deno.exit(1));
 * loop.apply(command, { resolve: console.log, reject: console.error });
 * ```
 */
export class NodeLoop {
  readonly id: NodeId;
  readonly raft: Raft;
  readonly stateMachine: OrderStateMachine;
  readonly #config: NodeLoopConfig;
  readonly #storage: LoopStorage;
  readonly #transport: LoopTransport;
  readonly #clock: LoopClock;
  readonly #events: NodeLoopEvents;
  readonly #applyBeforeSync: boolean;
  #log = getLogger("raft");
  #refusals = new PeerRefusals(getLogger(["raft", "guard"]));
  #scheduled = false;
  #scheduledSoon = false;
  /** A Ready is written and its sync has not completed. */
  #syncing = false;
  #cancelTicks: (() => void) | undefined;
  #timers = new Set<() => void>();
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

  /** Restores the state machine from `snapshot` and learns the members' addresses. */
  constructor(parts: NodeLoopParts) {
    this.id = parts.config.nodeId;
    this.#config = parts.config;
    this.raft = parts.raft;
    this.stateMachine = parts.stateMachine;
    this.#storage = parts.storage;
    this.#transport = parts.transport;
    this.#clock = parts.clock;
    this.#events = parts.events ?? {};
    this.#applyBeforeSync = parts.applyBeforeSync ?? true;
    this.#soft = { role: parts.raft.role, leader: parts.raft.leader, term: parts.raft.term };
    if (parts.snapshot !== undefined) {
      this.stateMachine.restore(parts.snapshot.data);
      this.#ordersAtSnapshot = this.stateMachine.size;
    }
    this.#refreshMembers();
  }

  /**
   * Starts the ticks and handles the first Ready. `onFatal` is called when a Ready cannot be
   * handled (a storage error): the loop has stopped, and the process must stop rather than
   * run on with a state it did not persist.
   */
  start(onFatal: (error: unknown) => void = (error) => {
    throw error;
  }): void {
    this.#fatal = onFatal;
    this.#lastTickAt = this.#clock.now();
    this.#cancelTicks = this.#clock.every(this.#config.tickMs, () => this.#tick());
    this.schedule();
  }

  /** Campaigns now (a freshly bootstrapped single voter need not wait an election timeout). */
  campaign(): void {
    this.raft.campaign();
    this.schedule();
  }

  /** The members and their addresses, as the node knows them. */
  get members(): ReadonlyMap<NodeId, MemberAddresses> {
    return this.#members;
  }

  /** Snapshots received from a leader (InstallSnapshot) and installed since start. */
  get snapshotsInstalled(): number {
    return this.#snapshotsInstalled;
  }

  /** Leader changes seen since start. */
  get leaderChanges(): number {
    return this.#leaderChanges;
  }

  /** True once {@linkcode drain} or {@linkcode stop} was called: new requests are refused. */
  get stopping(): boolean {
    return this.#stopping;
  }

  /** True once the loop stopped (stop, halt, or a fatal error). */
  get stopped(): boolean {
    return this.#stopped;
  }

  /** True while a Ready's write waits for its sync. */
  get syncing(): boolean {
    return this.#syncing;
  }

  /** The "not leader" answer, naming `leader` (default: the known leader) unless it is us. */
  notLeader(leader: NodeId = this.raft.leader): NotLeader {
    const known = leader === this.id ? "" : leader;
    return {
      kind: "not-leader",
      leaderId: known,
      leaderAddr: this.#members.get(known)?.grpc ?? "",
    };
  }

  // -------------------------------------------------------------------------------------------
  // Requests.
  // -------------------------------------------------------------------------------------------

  /**
   * Records an order's outcome once (leader only). Answers with the stored outcome once the
   * entry is applied, or at once for an id that is already stored (an order id, once
   * committed, is never removed, so the local table answers a duplicate linearizably).
   */
  apply(command: ApplyCommand, reply: Reply<ApplyReply>): void {
    if (this.#stopping) return reply.reject(shuttingDown());
    if (this.raft.role !== "leader") return reply.resolve(this.notLeader());
    const existing = this.stateMachine.read(command.orderId);
    if (existing !== undefined) {
      const same = equalBytes(existing.payloadHash, command.payloadHash);
      return reply.resolve({
        kind: "outcome",
        result: same ? "duplicate" : "conflict",
        outcome: existing.outcome,
        index: existing.index,
      });
    }
    const result = this.raft.propose(encodeCommand(command));
    if (!result.ok) {
      if (result.reason === "not-leader" || result.reason === "transfer-in-progress") {
        return reply.resolve(this.notLeader(result.leader));
      }
      return reply.reject(new RaftNodeError("refused", `Proposal refused: ${result.reason}`));
    }
    this.#events.proposed?.();
    this.awaitEntry(result.index, result.term, {
      // A normal entry of ours always yields an outcome.
      resolve: (outcome) => reply.resolve({ kind: "outcome", ...outcome! }),
      reject: reply.reject,
    });
  }

  /** Reads an order's record linearizably (ReadIndex, on the leader). */
  read(orderId: string, reply: Reply<ReadReply>): void {
    if (this.#stopping) return reply.reject(shuttingDown());
    if (this.raft.role !== "leader") return reply.resolve(this.notLeader());
    const context = this.#nextReadContext++;
    const result = this.raft.readIndex(context);
    if (!result.ok) {
      if (result.reason === "not-leader" || result.reason === "transfer-in-progress") {
        return reply.resolve(this.notLeader(result.leader));
      }
      return reply.reject(new RaftNodeError("refused", `Read refused: ${result.reason}`));
    }
    this.schedule();
    const started = this.#clock.now();
    this.#pendingReads.set(context, {
      deadline: started + this.#config.applyTimeoutMs,
      index: 0,
      serve: () => {
        this.#events.readServed?.(this.#clock.now() - started);
        reply.resolve({ kind: "record", record: this.stateMachine.read(orderId) });
      },
      refuse: reply.resolve,
      reject: reply.reject,
    });
  }

  /**
   * Waits for the entry the core accepted at `index` in `term` to be applied: answers its
   * outcome, or fails when another leader's entry took the index, leadership is lost, or
   * the apply timeout passes.
   */
  awaitEntry(index: number, term: number, reply: Reply<ApplyOutcome | undefined>): void {
    this.schedule();
    this.#pendingEntries.set(index, {
      term,
      deadline: this.#clock.now() + this.#config.applyTimeoutMs,
      reply,
    });
  }

  // -------------------------------------------------------------------------------------------
  // Inputs from the transport.
  // -------------------------------------------------------------------------------------------

  /** A message from a peer: checked by the guard, stepped, and its Ready handled soon. */
  receive(message: Message): void {
    if (this.#stopped) return;
    const refusal = peerMessageRefusal(message, {
      id: this.id,
      term: this.raft.term,
      commitIndex: this.raft.commitIndex,
      lastIndex: this.raft.lastIndex,
      lastTerm: this.raft.lastTerm,
      conf: this.raft.conf,
      stateMachine: this.stateMachine,
    });
    if (refusal !== undefined) return this.#refusals.record(message, refusal);
    try {
      this.raft.step(message);
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
  peerGone(peer: NodeId): void {
    if (this.#stopping || this.#stopped || !this.raft.forgetLeader(peer)) return;
    const rank = this.raft.conf.voters.filter((id) => id !== peer).sort().indexOf(this.id);
    this.#log.info("connection to leader {leader} closed: campaigning (rank {rank})", {
      leader: peer,
      rank,
      term: this.raft.term,
    });
    this.#events.leaderGone?.(peer);
    this.schedule();
    if (rank < 0) return; // not a voter: it only stops deferring to the gone leader
    const term = this.raft.term;
    const campaign = () => {
      // Not if anything happened meanwhile: a new leader, a vote given, our own campaign.
      if (this.#stopping || this.#stopped) return;
      if (this.raft.term !== term || this.raft.role !== "follower" || this.raft.leader) return;
      this.raft.campaign();
      this.schedule();
    };
    if (rank === 0) return campaign();
    const cancel = this.#clock.after(rank * LEADER_GONE_STAGGER_TICKS * this.#config.tickMs, () => {
      this.#timers.delete(cancel);
      campaign();
    });
    this.#timers.add(cancel);
  }

  // -------------------------------------------------------------------------------------------
  // The loop.
  // -------------------------------------------------------------------------------------------

  #tick(): void {
    if (this.#stopped) return;
    const now = this.#clock.now();
    this.#events.tick?.(now - this.#lastTickAt);
    this.#lastTickAt = now;
    this.raft.tick();
    this.#expire(now);
    this.schedule();
  }

  /**
   * Handles the next Ready on the next turn: every proposal and message that arrives
   * meanwhile joins it (client requests come as separate events of one network read).
   */
  schedule(): void {
    if (this.#scheduled || this.#stopped) return;
    this.#scheduled = true;
    this.#clock.nextTurn(() => {
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
    this.#clock.soon(() => {
      this.#scheduledSoon = false;
      this.#runReady();
    });
  }

  #runReady(): void {
    if (this.#stopped || this.#syncing || !this.raft.hasReady()) return;
    try {
      this.#startReady();
    } catch (error) {
      this.#die(error);
    }
  }

  #die(error: unknown): void {
    this.#log.error("handling a Ready failed, stopping: {error}", { error: errorMessage(error) });
    this.#halt();
    this.#fatal?.(error);
  }

  /** Steps 1, 2 (the write) and, before the sync, 4 and 5 of the Ready contract. */
  #startReady(): void {
    const rd: Ready = this.raft.ready();
    if (rd.softState) this.#onSoftState(rd.softState);
    // A member added by this Ready's config entry gets messages in this very Ready.
    if (this.raft.conf !== this.#conf) this.#refreshMembers();
    // 2. Write the snapshot, entries and hard state (durable only at the sync below).
    this.#storage.write(rd);
    // 1. A leader's AppendEntries leave before its own write is durable (thesis §10.2.1):
    // followers write while the leader does.
    if (rd.earlyMessages.length > 0) this.#transport.send(rd.earlyMessages);
    // 4-5. Committed entries are on a majority of disks already: apply them and answer
    // their clients before and while our own write runs (a received snapshot must be
    // durable first).
    const appliedEarly = this.#applyBeforeSync && rd.snapshot === undefined;
    if (appliedEarly) this.#apply(rd);
    // 2. The sync point. The SQLite storage (RAFT_STORAGE=sqlite) commits (fsyncs) here,
    // blocking the event loop: requests and acknowledgements that arrive meanwhile wait in
    // the socket and join the next Ready. The log storage (RAFT_STORAGE=log) writes here and
    // runs its fdatasync on Deno's blocking pool: the loop steps messages and takes requests
    // meanwhile, which join the next Ready (and its fsync).
    this.#syncing = true;
    const started = this.#clock.now();
    this.#storage.sync(
      (synced) => this.#finishReady(rd, appliedEarly, started, synced),
      (error) => {
        if (!this.#stopped) this.#die(error);
      },
    );
  }

  /** Once the write is durable: steps 3 to 6 of the Ready contract. */
  #finishReady(rd: Ready, appliedEarly: boolean, started: number, synced: boolean): void {
    if (this.#stopped) return;
    try {
      this.#syncing = false;
      this.#events.persisted?.(this.#clock.now() - started, rd.entries.length, synced);
      // 3. Send what relies on the write: acknowledgements, votes, a new term.
      if (rd.messages.length > 0) this.#transport.send(rd.messages);
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
        this.#events.snapshotInstalled?.(rd.snapshot);
      }
      if (!appliedEarly) this.#apply(rd);
      // 6. Advance.
      this.raft.advance(rd);
      if (this.raft.conf !== this.#conf) this.#refreshMembers();
      this.#maybeSnapshot();
    } catch (error) {
      this.#die(error);
      return;
    }
    if (this.raft.hasReady()) this.schedule();
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
      read.refuse(this.notLeader());
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
    this.#events.entryApplied?.(entry, outcome);
    const pending = this.#pendingEntries.get(entry.index);
    if (pending === undefined) return;
    this.#pendingEntries.delete(entry.index);
    if (undecodable !== undefined) {
      pending.reply.reject(new RaftNodeError("unknown-outcome", undecodable.message));
    } else if (pending.term === entry.term) {
      pending.reply.resolve(outcome);
    } else {
      // Another leader's entry took this index: ours was lost before it committed.
      pending.reply.reject(
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
    if (soft.leader !== previous.leader) this.#leaderChanges++;
    if (soft.role !== previous.role) {
      if (soft.role === "leader") {
        this.#log.info("became leader in term {term}", { term: soft.term, id: this.id });
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
    this.#events.softState?.(soft, previous);
    if (previous.role === "leader" && soft.role !== "leader") this.#failPending("leadership lost");
  }

  #failPending(reason: string): void {
    const error = new RaftNodeError(
      "unknown-outcome",
      `Raft ${reason} before commit: outcome unknown`,
    );
    const pending = [...this.#pendingEntries.values()];
    this.#pendingEntries.clear();
    for (const entry of pending) entry.reply.reject(error);
  }

  #expire(now: number): void {
    // Proposals are made in index order, so the oldest ones come first in the map.
    for (const [index, pending] of this.#pendingEntries) {
      if (pending.deadline > now) break;
      this.#pendingEntries.delete(index);
      pending.reply.reject(
        new RaftNodeError(
          "timeout",
          `Entry ${index} not applied within ${this.#config.applyTimeoutMs} ms: outcome unknown`,
        ),
      );
    }
    for (const [context, read] of this.#pendingReads) {
      if (read.deadline > now) break;
      this.#pendingReads.delete(context);
      read.reject(new RaftNodeError("timeout", "Read not confirmed by a quorum in time"));
    }
    if (this.#readsAwaitingApply.length > 0) {
      const expired = this.#readsAwaitingApply.filter((read) => read.deadline <= now);
      this.#readsAwaitingApply = this.#readsAwaitingApply.filter((read) => read.deadline > now);
      for (const read of expired) {
        read.reject(new RaftNodeError("timeout", "Read not applied in time"));
      }
    }
  }

  #refreshMembers(): void {
    const conf = this.raft.conf;
    this.#conf = conf;
    this.#members = addressBook(conf);
    const raftAddresses = new Map<NodeId, string>();
    for (const [id, addresses] of this.#members) raftAddresses.set(id, addresses.raft);
    this.#transport.setPeers(raftAddresses);
  }

  #maybeSnapshot(): void {
    // Serializing the table is synchronous and proportional to its size (about 110 ms for a
    // million orders, plus the write): waiting for as many new entries as the table held at
    // the last snapshot keeps that cost O(1) per applied entry, however large it grows.
    const due = Math.max(this.#config.snapshotEntries, this.#ordersAtSnapshot);
    if (this.#appliedSinceSnapshot < due) return;
    const index = this.stateMachine.appliedIndex;
    // A snapshot stepped in while this Ready's sync ran is ahead of what we applied: it is
    // handed out (and applied) in the next Ready.
    if (index !== this.raft.appliedIndex || index <= this.raft.snapshotIndex) return;
    const started = this.#clock.now();
    const data = this.stateMachine.snapshot();
    const snapshot = this.raft.compact(index, data, this.#config.snapshotRetain);
    this.#storage.saveSnapshot(snapshot, index - this.#config.snapshotRetain);
    this.#appliedSinceSnapshot = 0;
    this.#ordersAtSnapshot = this.stateMachine.size;
    this.#events.snapshotTaken?.(index);
    this.#log.info("took a snapshot at index {index}: {bytes} bytes, {orders} orders, {ms} ms", {
      index,
      bytes: data.length,
      orders: this.stateMachine.size,
      ms: Math.round(this.#clock.now() - started),
    });
  }

  // -------------------------------------------------------------------------------------------
  // Stopping.
  // -------------------------------------------------------------------------------------------

  /**
   * Refuses new requests ("shutting-down") and stops reacting to a closed leader connection,
   * while the loop keeps running (so that a leadership transfer can complete).
   */
  drain(): void {
    this.#stopping = true;
  }

  /** Stops the loop and fails every request that still waits. */
  stop(): void {
    this.#stopping = true;
    this.#halt();
    this.#failPending("node stopped");
    const error = shuttingDown();
    const reads = [...this.#pendingReads.values(), ...this.#readsAwaitingApply];
    this.#pendingReads.clear();
    this.#readsAwaitingApply = [];
    for (const read of reads) read.reject(error);
  }

  /** Stops the loop at once, answering nothing (the process died). */
  halt(): void {
    this.#stopping = true;
    this.#halt();
  }

  #halt(): void {
    this.#stopped = true;
    this.#cancelTicks?.();
    this.#cancelTicks = undefined;
    for (const cancel of this.#timers) cancel();
    this.#timers.clear();
  }
}

function shuttingDown(): RaftNodeError {
  return new RaftNodeError("shutting-down", "Raft node is shutting down");
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
