/**
 * The deterministic simulation of a raft-node cluster: every node is the service's own node
 * loop (node_loop.ts) over a simulated disk (sim_storage.ts), a virtual clock and a faulty
 * network, with crashing processes and machines and clients, all driven by one seed. Every step is followed by the
 * invariant checks; the run ends with a liveness phase and a linearizability check of the
 * clients' history.
 *
 * @module
 */
import { hashPayload, OrderStateMachine } from "../state_machine.ts";
import { Raft } from "../core/raft.ts";
import {
  EntryType,
  type Message,
  type NodeId,
  type RaftConfig,
  type UnsafeFlags,
} from "../core/types.ts";
import { type LoopClock, type LoopTransport, NodeLoop, type NodeLoopEvents } from "../node_loop.ts";
import { checkLinearizable, type Operation } from "@trading/testing/linearizability";
import { EventQueue } from "./event_queue.ts";
import { InvariantChecker, InvariantViolation } from "./invariant_checker.ts";
import { Prng } from "./prng.ts";
import { type ClientRequest, type ClientResponse, SimNode } from "./sim_node.ts";
import { SimStorage } from "./sim_storage.ts";

/** Options for the core of every simulated node. */
type SimRaftOptions = Omit<
  RaftConfig,
  "id" | "storage" | "random" | "bootstrap" | "applied"
>;

/** Options of one simulation run. */
export interface SimulationOptions {
  readonly seed: number;
  /** Cluster size (3 or 5 in the standard runs). */
  readonly nodes: number;
  /** Events processed in the chaos phase. */
  readonly steps: number;
  /** Concurrent clients. Default 3. */
  readonly clients?: number;
  /** Deliberately broken rules (to show that the simulator finds them). */
  readonly unsafe?: UnsafeFlags;
  /** Virtual milliseconds the liveness phase may take. Default 20 000. */
  readonly livenessBoundMs?: number;
  /** Keep this many recent events for the failure report. Default 60. */
  readonly traceLength?: number;
}

/** What a run did. */
export interface SimulationReport {
  readonly seed: number;
  readonly nodes: number;
  readonly steps: number;
  readonly virtualMs: number;
  readonly crashes: number;
  readonly partitions: number;
  readonly transfers: number;
  /** Membership changes proposed and accepted by a leader (removes and adds). */
  readonly confChanges: number;
  readonly maxTerm: number;
  readonly committed: number;
  /** Processes killed after their early messages left and before their fsync completed. */
  readonly crashesBeforeSync: number;
  /**
   * Leader Readys whose entries a quorum of followers had made durable (so they were
   * committed) before the leader's own fsync of them completed (thesis §10.2.1 at work).
   */
  readonly commitsBeforeLeaderSync: number;
  readonly snapshotsInstalled: number;
  /** Followers that forgot their leader when their connection to it closed (NodeLoop.peerGone). */
  readonly leadersForgotten: number;
  readonly messages: number;
  readonly operations: { readonly total: number; readonly ok: number; readonly unknown: number };
  /** Virtual ms from healing everything to a converged cluster. */
  readonly convergedAfterMs: number;
  readonly history: readonly Operation[];
}

/** A failed run: the invariant or check that broke, and the command that replays it. */
export class SimulationFailure extends Error {
  override name = "SimulationFailure";
  constructor(
    readonly reason: string,
    readonly replay: string,
    readonly trace: readonly string[],
    readonly seed: number,
  ) {
    super(`${reason}\nReplay: ${replay}`);
  }
}

/** The command line that replays a run with `options`. */
export function replayCommand(options: SimulationOptions): string {
  const parts = [`deno task test:sim --seed ${options.seed} --nodes ${options.nodes}`];
  parts.push(`--steps ${options.steps}`);
  if (options.clients !== undefined) parts.push(`--clients ${options.clients}`);
  for (const [flag, on] of Object.entries(options.unsafe ?? {})) {
    if (on) parts.push(`--unsafe ${flag}`);
  }
  return parts.join(" ");
}

type SimEvent =
  /** A timer of the node's loop (ticks, a staggered campaign); `run` checks the incarnation. */
  | { kind: "timer"; node: number; run: () => boolean }
  | { kind: "deliver"; message: Message }
  | { kind: "fsync"; node: number; incarnation: number; complete: () => void }
  /** A peer's connection to the crashed `peer` closed (the kernel closes a dead process's). */
  | { kind: "peerGone"; node: number; incarnation: number; peer: NodeId }
  | { kind: "request"; node: number; request: ClientRequest }
  | { kind: "response"; response: ClientResponse }
  | { kind: "timeout"; client: number; requestId: number }
  | { kind: "clientNext"; client: number }
  | { kind: "fault" }
  | { kind: "restart"; node: number }
  | { kind: "crashLeader"; node: number; incarnation: number };

/**
 * A node replacement in progress: remove a member, and once that is committed stop it for
 * good and add a brand-new node (with a fresh id: reusing the id of a wiped node is unsafe
 * in Raft) that joins as a learner and is promoted when it has caught up.
 */
type MembershipOp =
  | { kind: "idle" }
  | { kind: "removing"; victim: number; index: number; term: number }
  | { kind: "adding"; newcomer: number; index: number; term: number };

interface Client {
  readonly id: number;
  leaderHint: number;
  requestId: number;
  /** The history record of the request in flight (undefined when idle). */
  pending: { requestId: number; op: Operation; sentTo: number } | undefined;
  seq: number;
  /** An order id whose Apply outcome is unknown: read it, then retry it. */
  uncertain: { orderId: string; variant: number; outcomeStatus: number } | undefined;
}

const TICK_MS = 10;
const REQUEST_TIMEOUT_MS = 250;
/** The loop's own apply timeout: shorter than the client's, so that it is exercised too. */
const APPLY_TIMEOUT_MS = 200;

/**
 * How a node goes down. A killed process (SIGKILL, OOM) leaves what it wrote in the page
 * cache, and its peers' connections to it close at once; a machine that loses power or
 * panics loses what was not synced, and its peers notice nothing.
 */
type CrashKind = "process" | "machine";

/** A process killed by the simulation inside the node loop (thrown out of a send). */
class SimulatedCrash extends Error {
  override name = "SimulatedCrash";
  constructor(message: string, readonly kind: CrashKind) {
    super(message);
  }
}
const ACCEPTED = 1;
const REJECTED = 2;

/** One seeded run of the cluster. */
export class Simulation {
  readonly options: SimulationOptions;
  readonly #rng: Prng;
  readonly #queue = new EventQueue<SimEvent>();
  readonly #nodes: SimNode[] = [];
  readonly #ids: NodeId[];
  readonly #raftOptions: SimRaftOptions;
  readonly #checker = new InvariantChecker();
  readonly #clients: Client[] = [];
  readonly #history: Operation[] = [];
  /** Order ids used so far with the payload variants sent for them. */
  readonly #orders: string[] = [];
  readonly #trace: string[] = [];
  #now = 0;
  /** Work the node loops deferred (next turn, microtask): run at the end of each event. */
  #deferred: { node: number; incarnation: number; fn: () => void }[] = [];
  #chaos = true;
  #clientsActive = true;

  // Network faults.
  /** Directed links `from>to` that drop everything. */
  #blocked = new Set<string>();
  #dropRate = 0;
  #duplicateRate = 0;
  #maxDelayMs = 5;

  // Compaction policy of this run.
  readonly #compactEvery: number;
  readonly #retain: number;
  /** Chance that a node that just became leader crashes within a few ms (flapping leaders). */
  readonly #leaderFlap: number;
  /** Virtual ms between fault events, drawn per run. */
  readonly #faultGapMs: number;
  /** Chance that a process dies while sending a Ready's messages (after its fsync). */
  readonly #crashMidSend: number;
  /**
   * Chance that a process dies after sending a Ready's early messages and before its fsync
   * completes: a leader whose followers hold entries its own disk never got (thesis §10.2.1).
   */
  readonly #crashBeforeSync: number;
  /** Apply committed entries when a Ready is handed out rather than once it is durable. */
  readonly #applyBeforeSync: boolean;
  /** Chance that an fsync takes 2-10 virtual ms instead of 0.1-2. */
  readonly #slowFsync: number;

  // Counters.
  #crashes = 0;
  #crashesBeforeSync = 0;
  #commitsBeforeLeaderSync = 0;
  #partitions = 0;
  #transfers = 0;
  #messages = 0;
  #snapshotsInstalled = 0;
  #leadersForgotten = 0;
  #confChanges = 0;

  // Membership changes.
  readonly #membershipChanges: boolean;
  #membership: MembershipOp = { kind: "idle" };
  /** Nodes removed from the cluster and stopped for good. */
  readonly #removed = new Set<number>();

  /** Sets up a cluster of `options.nodes` founders, not yet started. */
  constructor(options: SimulationOptions) {
    this.options = options;
    this.#rng = new Prng(options.seed);
    this.#ids = Array.from({ length: options.nodes }, (_, i) => `n${i + 1}`);
    // Per-run variety in the knobs that shape message batching and flow control.
    this.#raftOptions = {
      electionTick: 10,
      heartbeatTick: 1,
      preVote: true,
      checkQuorum: true,
      maxMsgBytes: this.#rng.pick([1, 256, 64 << 10]),
      maxInflightMsgs: this.#rng.pick([1, 4, 64]),
      maxInflightBytes: this.#rng.pick([0, 2048, 1 << 20]),
      ...(options.unsafe === undefined ? {} : { unsafe: options.unsafe }),
    };
    this.#compactEvery = this.#rng.pick([8, 20, 50, 1_000_000]);
    this.#retain = this.#rng.pick([0, 0, 3, 10]);
    this.#leaderFlap = this.#rng.pick([0, 0.05, 0.2, 0.4]);
    this.#faultGapMs = this.#rng.pick([100, 200, 400]);
    this.#crashMidSend = this.#rng.pick([0, 0.001, 0.005, 0.02]);
    this.#crashBeforeSync = this.#rng.pick([0, 0.002, 0.01, 0.03]);
    this.#applyBeforeSync = this.#rng.chance(0.5);
    this.#slowFsync = this.#rng.pick([0, 0, 0.2, 0.5]);
    this.#membershipChanges = this.#rng.chance(0.5);
    for (const id of this.#ids) this.#nodes.push(this.#newNode(id));
    for (let c = 0; c < (options.clients ?? 3); c++) {
      this.#clients.push({
        id: c,
        leaderHint: this.#rng.int(0, options.nodes - 1),
        requestId: 0,
        pending: undefined,
        seq: 0,
        uncertain: undefined,
      });
    }
  }

  #newNode(id: NodeId): SimNode {
    const index = this.#nodes.length;
    return new SimNode(
      id,
      new SimStorage({
        startSync: (bytes, firstEntryIndex, complete) =>
          this.#startSync(index, bytes, firstEntryIndex, complete),
        hardStateDurable: (hardState) => this.#checker.hardStatePersisted(id, hardState),
      }),
    );
  }

  /** Indexes of the nodes that have not been removed for good. */
  #live(): number[] {
    const live: number[] = [];
    for (let i = 0; i < this.#nodes.length; i++) if (!this.#removed.has(i)) live.push(i);
    return live;
  }

  /** Runs the chaos phase, the liveness phase and the linearizability check. */
  run(): SimulationReport {
    try {
      return this.#run();
    } catch (error) {
      const reason = error instanceof InvariantViolation || error instanceof LivenessFailure ||
          error instanceof LinearizabilityFailure
        ? error.message
        : `Unexpected error at ${this.#now.toFixed(3)} ms: ${(error as Error).stack ?? error}`;
      throw new SimulationFailure(
        reason,
        replayCommand(this.options),
        [...this.#trace],
        this.options.seed,
      );
    }
  }

  #run(): SimulationReport {
    for (let i = 0; i < this.#nodes.length; i++) this.#startNode(i, true);
    this.#runDeferred();
    for (const client of this.#clients) {
      this.#queue.push(this.#rng.between(0, 50), { kind: "clientNext", client: client.id });
    }
    this.#queue.push(this.#rng.between(100, 400), { kind: "fault" });

    let steps = 0;
    while (steps < this.options.steps) {
      if (!this.#step()) break;
      steps++;
    }

    // Liveness: heal everything, stop new client work, and require a leader and convergence.
    this.#chaos = false;
    this.#clientsActive = false;
    this.#heal();
    this.#dropRate = 0;
    this.#duplicateRate = 0;
    this.#maxDelayMs = 5;
    for (const i of this.#live()) if (!this.#nodes[i]!.up) this.#startNode(i, false);
    this.#runDeferred();
    const healedAt = this.#now;
    const deadline = healedAt + (this.options.livenessBoundMs ?? 20_000);
    let convergedAt: number | undefined;
    while (this.#now < deadline) {
      if (!this.#step()) break;
      if (this.#converged()) {
        convergedAt = this.#now;
        break;
      }
    }
    if (convergedAt === undefined) {
      throw new LivenessFailure(
        `Liveness: no convergence within ${
          deadline - healedAt
        } virtual ms after healing: ${this.#clusterSummary()}`,
      );
    }
    // Let outstanding client requests finish or time out, then check the history.
    const drainUntil = this.#now + REQUEST_TIMEOUT_MS + 50;
    while (this.#queue.peekTime() <= drainUntil && this.#step()) { /* drain */ }

    const history = this.#history;
    const result = checkLinearizable(history);
    if (!result.ok) throw new LinearizabilityFailure(`Linearizability: ${result.explanation}`);

    let maxTerm = 0;
    let committed = 0;
    for (const node of this.#nodes) {
      if (node.raft === undefined) continue;
      maxTerm = Math.max(maxTerm, node.raft.term);
      committed = Math.max(committed, node.raft.commitIndex);
    }
    const unknown = history.filter((op) => op.return === undefined).length;
    return {
      seed: this.options.seed,
      nodes: this.options.nodes,
      steps,
      virtualMs: Math.round(this.#now),
      crashes: this.#crashes,
      partitions: this.#partitions,
      transfers: this.#transfers,
      confChanges: this.#confChanges,
      maxTerm,
      committed,
      crashesBeforeSync: this.#crashesBeforeSync,
      commitsBeforeLeaderSync: this.#commitsBeforeLeaderSync,
      snapshotsInstalled: this.#snapshotsInstalled,
      leadersForgotten: this.#leadersForgotten,
      messages: this.#messages,
      operations: { total: history.length, ok: history.length - unknown, unknown },
      convergedAfterMs: Math.round(convergedAt - healedAt),
      history,
    };
  }

  /**
   * Processes the next event and the work the node loops deferred meanwhile (a turn of their
   * event loop takes no virtual time), then checks the invariants of every node touched;
   * false when nothing is left to do.
   */
  #step(): boolean {
    const next = this.#queue.pop();
    if (next === undefined) return false;
    this.#now = next.time;
    const touched = new Set<number>();
    const first = this.#handle(next.item);
    if (first !== undefined) touched.add(first);
    this.#runDeferred(touched);
    for (const i of touched) {
      const node = this.#nodes[i]!;
      if (node.up) this.#checker.checkNode(node.id, node.raft!);
    }
    return true;
  }

  /** Runs the loops' deferred work (Readys, mostly) until none is left. */
  #runDeferred(touched?: Set<number>): void {
    while (this.#deferred.length > 0) {
      const { node, incarnation, fn } = this.#deferred.shift()!;
      if (!this.#alive(node, incarnation)) continue;
      fn();
      touched?.add(node);
    }
  }

  /** True while node `i` runs in life `incarnation`. */
  #alive(i: number, incarnation: number): boolean {
    const node = this.#nodes[i]!;
    return node.up && node.incarnation === incarnation;
  }

  /** Handles one event; returns the index of the node it touched, if any. */
  #handle(event: SimEvent): number | undefined {
    switch (event.kind) {
      case "timer":
        return event.run() ? event.node : undefined;
      case "deliver": {
        const m = event.message;
        const to = this.#ids.indexOf(m.to);
        const node = this.#nodes[to]!;
        if (!node.up || this.#blocked.has(`${m.from}>${m.to}`)) return undefined;
        this.#trace1(`deliver ${describeMessage(m)}`);
        node.loop!.receive(m);
        return to;
      }
      case "fsync":
        if (!this.#alive(event.node, event.incarnation)) return undefined;
        event.complete();
        return event.node;
      case "peerGone":
        if (!this.#alive(event.node, event.incarnation)) return undefined;
        this.#nodes[event.node]!.loop!.peerGone(event.peer);
        return event.node;
      case "request": {
        const node = this.#nodes[event.node]!;
        if (!node.up) return undefined;
        node.handleClient(event.request, (response) => this.#sendResponse(response));
        return event.node;
      }
      case "response":
        this.#onResponse(event.response);
        return undefined;
      case "timeout":
        this.#onTimeout(event.client, event.requestId);
        return undefined;
      case "clientNext":
        this.#clientNext(this.#clients[event.client]!);
        return undefined;
      case "fault":
        if (this.#chaos) {
          this.#fault();
          this.#queue.push(this.#now + this.#rng.between(10, this.#faultGapMs), { kind: "fault" });
        }
        return undefined;
      case "crashLeader": {
        const node = this.#nodes[event.node]!;
        if (node.incarnation === event.incarnation && node.raft?.role === "leader") {
          this.#crash(event.node, this.#rng.between(0, 300));
        }
        return undefined;
      }
      case "restart":
        if (this.#nodes[event.node]!.up || this.#removed.has(event.node)) return undefined;
        this.#startNode(event.node, false);
        return event.node;
    }
  }

  // -------------------------------------------------------------------------------------------
  // Nodes, storage and the Ready loop.
  // -------------------------------------------------------------------------------------------

  #startNode(i: number, first: boolean): void {
    const node = this.#nodes[i]!;
    const persisted = node.disk.recover();
    const raft = new Raft({
      ...this.#raftOptions,
      id: node.id,
      random: this.#rng.fork().asFunction(),
      storage: persisted,
      ...(first && node.disk.isEmpty
        ? { bootstrap: { voters: this.#ids, learners: [], context: {} } }
        : {}),
    });
    const incarnation = node.incarnation;
    node.loop = new NodeLoop({
      config: {
        nodeId: node.id,
        tickMs: TICK_MS,
        applyTimeoutMs: APPLY_TIMEOUT_MS,
        snapshotEntries: this.#compactEvery,
        snapshotRetain: this.#retain,
      },
      raft,
      stateMachine: new OrderStateMachine(),
      snapshot: persisted.snapshot,
      storage: node.disk,
      transport: this.#transportOf(i),
      clock: this.#clockOf(i, incarnation),
      applyBeforeSync: this.#applyBeforeSync,
      events: this.#eventsOf(i, incarnation),
    });
    this.#checker.nodeStarted(node.id, raft, persisted.hardState);
    this.#trace1(
      `${node.id} starts (term ${raft.term}, last ${raft.lastIndex}, commit ${raft.commitIndex})`,
    );
    node.loop.start((error) => {
      if (!(error instanceof SimulatedCrash)) throw error;
      this.#crash(i, this.#rng.between(0, 500), error.kind);
    });
  }

  /** Node `i`'s clock: virtual time, timers on the agenda, deferred work run after the event. */
  #clockOf(i: number, incarnation: number): LoopClock {
    const timer = (at: number, fn: () => void): () => void => {
      let cancelled = false;
      this.#queue.push(at, {
        kind: "timer",
        node: i,
        run: () => {
          if (cancelled || !this.#alive(i, incarnation)) return false;
          fn();
          return true;
        },
      });
      return () => {
        cancelled = true;
      };
    };
    const defer = (fn: () => void) => this.#deferred.push({ node: i, incarnation, fn });
    return {
      now: () => this.#now,
      every: (ms, fn) => {
        // A process starts at any phase of its tick, and clocks drift a little: each node
        // ticks every 0.9-1.1 periods.
        const tick = () => {
          fn();
          cancel = timer(this.#now + this.#rng.between(ms * 0.9, ms * 1.1), tick);
        };
        let cancel = timer(this.#now + this.#rng.between(0, ms), tick);
        return () => cancel();
      },
      after: (ms, fn) => timer(this.#now + ms, fn),
      nextTurn: defer,
      soon: defer,
    };
  }

  /**
   * Node `i`'s network: the process may die in the middle of a send, after some of the
   * messages left. With writes not synced yet (a leader's early AppendEntries), that is a
   * leader whose followers get entries its own disk may never hold (thesis §10.2.1).
   */
  #transportOf(i: number): LoopTransport {
    return {
      send: (messages) => {
        const node = this.#nodes[i]!;
        const beforeSync = node.disk.hasUnsynced;
        if (
          this.#chaos &&
          this.#rng.chance(beforeSync ? this.#crashBeforeSync : this.#crashMidSend)
        ) {
          const sent = beforeSync
            ? this.#rng.int(1, messages.length)
            : this.#rng.int(0, messages.length - 1);
          for (const m of messages.slice(0, sent)) this.#send(m);
          const what = beforeSync
            ? `early messages, before its fsync of ${node.disk.unsyncedBytes} bytes`
            : "messages";
          this.#trace1(`${node.id} dies after sending ${sent} of ${messages.length} ${what}`);
          if (beforeSync) this.#crashesBeforeSync++;
          // Dead before its fsync: the machine, so that the unsynced write is lost.
          throw new SimulatedCrash(
            `${node.id} died while sending`,
            beforeSync ? "machine" : this.#crashKind(),
          );
        }
        for (const m of messages) this.#send(m);
      },
      setPeers: () => {},
    };
  }

  /** What node `i`'s loop reports: the checker's view, the trace, flapping leaders. */
  #eventsOf(i: number, incarnation: number): NodeLoopEvents {
    const id = this.#nodes[i]!.id;
    return {
      entryApplied: (entry, outcome) => {
        const result = entry.type === EntryType.Config
          ? "config"
          : outcome === undefined
          ? "noop"
          : `${outcome.result}:${outcome.index}:${outcome.outcome.status}:${outcome.outcome.reason}`;
        this.#checker.entryApplied(id, entry, result);
      },
      leaderGone: () => {
        this.#leadersForgotten++;
      },
      snapshotInstalled: (snapshot) => {
        this.#snapshotsInstalled++;
        this.#trace1(`${id} installs snapshot at ${snapshot.index}`);
      },
      softState: (soft) => {
        this.#trace1(
          `${id} is ${soft.role} of term ${soft.term} (leader ${soft.leader || "-"})`,
        );
        if (this.#chaos && soft.role === "leader" && this.#rng.chance(this.#leaderFlap)) {
          // Leaders that die soon after winning are what exercises recovery of uncommitted
          // entries of earlier terms (Figure 8 of the Raft paper).
          this.#queue.push(this.#now + this.#rng.between(0, 15), {
            kind: "crashLeader",
            node: i,
            incarnation,
          });
        }
      },
    };
  }

  /**
   * An fsync of node `i`: 0.1-2 ms, now and then a slow 20-60 ms; in some runs often 2-10
   * ms, so that followers regularly finish before their leader.
   */
  #startSync(
    i: number,
    bytes: number,
    firstEntryIndex: number | undefined,
    complete: () => void,
  ): void {
    const node = this.#nodes[i]!;
    const delay = bytes === 0
      ? 0
      : this.#rng.chance(0.02)
      ? this.#rng.between(20, 60)
      : this.#rng.chance(this.#slowFsync)
      ? this.#rng.between(2, 10)
      : this.#rng.between(0.1, 2);
    this.#queue.push(this.#now + delay, {
      kind: "fsync",
      node: i,
      incarnation: node.incarnation,
      complete: () => {
        const raft = node.raft!;
        if (
          raft.role === "leader" && firstEntryIndex !== undefined &&
          raft.commitIndex >= firstEntryIndex
        ) {
          this.#commitsBeforeLeaderSync++;
        }
        complete();
      },
    });
  }

  #crashKind(): CrashKind {
    return this.#rng.chance(0.5) ? "process" : "machine";
  }

  /** Crashes node `i` and restarts it `restartAfterMs` later. */
  #crash(i: number, restartAfterMs: number, kind = this.#crashKind()): void {
    if (!this.#kill(i, kind)) return;
    this.#queue.push(this.#now + restartAfterMs, { kind: "restart", node: i });
  }

  /**
   * Crashes node `i`. A killed process's disk keeps everything written, and its peers see
   * their connections to it close; a crashed machine's keeps what was synced and half the
   * time some of the rest (the page cache wrote it back), cut at a random byte. False when
   * it was down already.
   */
  #kill(i: number, kind: CrashKind): boolean {
    const node = this.#nodes[i]!;
    if (!node.up) return false;
    this.#crashes++;
    const unsynced = node.disk.unsyncedBytes;
    const writtenBack = kind === "process"
      ? unsynced
      : this.#rng.chance(0.5)
      ? 0
      : this.#rng.between(0, unsynced);
    const damage = node.crash(writtenBack);
    this.#trace1(
      `${node.id} ${kind === "process" ? "process is killed" : "machine crashes"} (${
        damage.unsynced === 0
          ? "nothing unsynced"
          : `${damage.survived} of ${damage.unsynced} unsynced records written back${
            damage.torn ? ", a torn one cut" : ""
          }`
      })`,
    );
    this.#checker.nodeCrashed(node.id, {
      entries: node.disk.durableEntries,
      snapshotIndex: node.disk.durableSnapshotIndex,
    });
    if (kind === "machine") return true;
    for (const j of this.#live()) {
      const peer = this.#nodes[j]!;
      if (j === i || !peer.up) continue;
      this.#queue.push(this.#now + this.#rng.between(0.1, 2), {
        kind: "peerGone",
        node: j,
        incarnation: peer.incarnation,
        peer: node.id,
      });
    }
    return true;
  }

  // -------------------------------------------------------------------------------------------
  // Network.
  // -------------------------------------------------------------------------------------------

  #send(m: Message): void {
    this.#messages++;
    if (this.#rng.chance(this.#dropRate)) return;
    const copies = this.#rng.chance(this.#duplicateRate) ? 2 : 1;
    for (let c = 0; c < copies; c++) {
      // Mostly 0.1-max ms (reordering whenever delays overlap), now and then a straggler.
      const delay = this.#rng.chance(0.01)
        ? this.#rng.between(50, 300)
        : this.#rng.between(0.1, this.#maxDelayMs);
      this.#queue.push(this.#now + delay, { kind: "deliver", message: m });
    }
  }

  #heal(): void {
    if (this.#blocked.size > 0) this.#trace1("heal all partitions");
    this.#blocked.clear();
  }

  #fault(): void {
    const r = this.#rng;
    const choice = r.next();
    if (choice < 0.18) {
      const i = r.pick(this.#live());
      this.#crash(i, r.chance(0.2) ? r.between(0, 20) : r.between(50, 1500));
    } else if (choice < 0.26) {
      const leader = this.#nodes.findIndex((node) => node.raft?.role === "leader");
      if (leader >= 0) this.#crash(leader, r.between(0, 800));
    } else if (choice < 0.40) {
      this.#partition();
    } else if (choice < 0.52) {
      this.#heal();
    } else if (choice < 0.62) {
      this.#dropRate = r.pick([0, 0, 0.01, 0.05, 0.2, 0.5]);
      this.#duplicateRate = r.pick([0, 0.01, 0.05, 0.2]);
      this.#trace1(`network: drop ${this.#dropRate}, duplicate ${this.#duplicateRate}`);
    } else if (choice < 0.68) {
      this.#maxDelayMs = r.pick([2, 5, 20, 80]);
      this.#trace1(`network: delays up to ${this.#maxDelayMs} ms`);
    } else if (choice < 0.76) {
      const leader = this.#nodes.find((node) => node.raft?.role === "leader");
      const voters = leader?.raft?.conf.voters.filter((id) => id !== leader.id) ?? [];
      if (leader !== undefined && voters.length > 0) {
        const target = r.pick(voters);
        this.#transfers++;
        this.#trace1(`${leader.id} transfers leadership to ${target}`);
        leader.raft!.transferLeadership(target);
        leader.loop!.schedule();
      }
    } else if (choice < 0.9 && this.#membershipChanges) {
      this.#advanceMembership();
    }
  }

  /** Moves the node replacement one step forward (proposals are retried until accepted). */
  #advanceMembership(): void {
    const op = this.#membership;
    const leaderIndex = this.#nodes.findIndex((node) => node.raft?.role === "leader");
    const leader = leaderIndex >= 0 ? this.#nodes[leaderIndex]!.raft! : undefined;
    const committed = (index: number, term: number) => this.#checker.committedTerm(index) === term;
    const lost = (index: number, term: number) => {
      const t = this.#checker.committedTerm(index);
      return t !== undefined && t !== term;
    };
    if (op.kind === "idle") {
      if (leader === undefined) return;
      const members = [...leader.conf.voters, ...leader.conf.learners];
      if (members.length < 2) return;
      const victimId = this.#rng.pick(members);
      const result = leader.proposeConfChange({ type: "remove", node: victimId });
      if (!result.ok) return;
      this.#confChanges++;
      this.#trace1(`${leader.id} proposes removing ${victimId} at ${result.index}`);
      this.#membership = {
        kind: "removing",
        victim: this.#ids.indexOf(victimId),
        index: result.index,
        term: result.term,
      };
      this.#nodes[leaderIndex]!.loop!.schedule();
    } else if (op.kind === "removing") {
      if (lost(op.index, op.term)) this.#membership = { kind: "idle" };
      if (!committed(op.index, op.term)) return;
      // Removed for good: stop it, then bring in a fresh node in its place.
      const victim = this.#nodes[op.victim]!;
      this.#trace1(`${victim.id} is removed and stopped for good`);
      this.#kill(op.victim, "process");
      this.#removed.add(op.victim);
      const id = `n${this.#nodes.length + 1}`;
      this.#ids.push(id);
      this.#nodes.push(this.#newNode(id));
      const newcomer = this.#nodes.length - 1;
      this.#startNode(newcomer, false);
      this.#membership = { kind: "adding", newcomer, index: 0, term: 0 };
    } else {
      if (op.index > 0 && committed(op.index, op.term)) {
        this.#membership = { kind: "idle" };
        return;
      }
      if (op.index > 0 && !lost(op.index, op.term)) return; // still in flight
      if (leader === undefined) return;
      const id = this.#ids[op.newcomer]!;
      const result = leader.proposeConfChange({ type: "add", node: id, context: `addr-${id}` });
      if (!result.ok) return;
      this.#confChanges++;
      this.#trace1(`${leader.id} proposes adding ${id} at ${result.index}`);
      this.#membership = { ...op, index: result.index, term: result.term };
      this.#nodes[leaderIndex]!.loop!.schedule();
    }
  }

  #partition(): void {
    const r = this.#rng;
    const ids = this.#ids;
    this.#partitions++;
    const kind = r.int(0, 2);
    if (kind === 0) {
      // Isolate one node (the leader half of the time).
      const leader = this.#nodes.find((node) => node.raft?.role === "leader");
      const victim = leader !== undefined && r.chance(0.5) ? leader.id : r.pick(ids);
      for (const other of ids) {
        if (other === victim) continue;
        this.#blocked.add(`${victim}>${other}`);
        this.#blocked.add(`${other}>${victim}`);
      }
      this.#trace1(`partition: isolate ${victim}`);
    } else if (kind === 1) {
      // Split into two groups.
      const side = new Set(ids.filter(() => r.chance(0.5)));
      for (const a of ids) {
        for (const b of ids) {
          if (a !== b && side.has(a) !== side.has(b)) this.#blocked.add(`${a}>${b}`);
        }
      }
      this.#trace1(`partition: {${[...side]}} | {${ids.filter((id) => !side.has(id))}}`);
    } else {
      // Asymmetric: some directed links fail, their reverse keeps working.
      const cut: string[] = [];
      for (const a of ids) {
        for (const b of ids) {
          if (a !== b && r.chance(0.3)) {
            this.#blocked.add(`${a}>${b}`);
            cut.push(`${a}>${b}`);
          }
        }
      }
      this.#trace1(`partition: one-way cuts ${cut.join(" ")}`);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Clients.
  // -------------------------------------------------------------------------------------------

  #clientNext(client: Client): void {
    if (!this.#clientsActive || client.pending !== undefined) return;
    const r = this.#rng;
    const requestId = ++client.requestId;
    let request: ClientRequest;
    let op: Operation;
    const retry = client.uncertain;
    const kind = r.next();
    if (retry !== undefined && kind < 0.5) {
      // As the order executor does after an uncertain Apply: read, then apply again.
      request = { client: client.id, requestId, kind: "read", orderId: retry.orderId };
      op = { clientId: client.id, op: "read", orderId: retry.orderId, call: this.#now };
    } else if (retry !== undefined || kind < 0.65 || this.#orders.length === 0) {
      let orderId: string;
      let variant = 0;
      let status = r.chance(0.8) ? ACCEPTED : REJECTED;
      if (retry !== undefined) {
        orderId = retry.orderId;
        variant = retry.variant;
        status = retry.outcomeStatus;
        client.uncertain = undefined;
      } else if (r.chance(0.15) && this.#orders.length > 0) {
        orderId = r.pick(this.#orders); // someone else's id: duplicate or conflict
        variant = r.chance(0.5) ? 0 : 1;
      } else {
        orderId = `o${client.id}-${++client.seq}`;
        this.#orders.push(orderId);
      }
      const payload = new TextEncoder().encode(`${orderId}/${variant}`);
      const outcome = { status, reason: status === ACCEPTED ? "" : "max_quantity" };
      request = {
        client: client.id,
        requestId,
        kind: "apply",
        command: {
          orderId,
          payloadHash: hashPayload(payload),
          outcome,
          symbol: "SYM",
          positionDelta: 1,
          maxPosition: 0,
        },
      };
      op = {
        clientId: client.id,
        op: "apply",
        orderId,
        input: { payloadHash: `v${variant}`, outcome },
        call: this.#now,
      };
    } else {
      // Mostly recent orders: a stale read is only visible on an id written lately.
      const recent = this.#orders.slice(-8);
      const orderId = r.chance(0.7)
        ? r.pick(recent)
        : r.chance(0.9)
        ? r.pick(this.#orders)
        : `never-${r.int(1, 1000)}`;
      request = { client: client.id, requestId, kind: "read", orderId };
      op = { clientId: client.id, op: "read", orderId, call: this.#now };
    }
    // Now and then a client with an out-of-date view asks any node (a deposed leader that
    // has not noticed yet must not answer from its stale state).
    const target = r.chance(0.2) ? r.pick(this.#live()) : client.leaderHint;
    client.pending = { requestId, op, sentTo: target };
    this.#history.push(op);
    this.#queue.push(this.#now + r.between(0.1, 2), { kind: "request", node: target, request });
    this.#queue.push(this.#now + REQUEST_TIMEOUT_MS, {
      kind: "timeout",
      client: client.id,
      requestId,
    });
  }

  #sendResponse(response: ClientResponse): void {
    this.#queue.push(this.#now + this.#rng.between(0.1, 2), { kind: "response", response });
  }

  #onResponse(response: ClientResponse): void {
    const client = this.#clients[response.client]!;
    const pending = client.pending;
    if (pending === undefined || pending.requestId !== response.requestId) return; // too late
    client.pending = undefined;
    const op = pending.op as { return?: number; output?: unknown };
    if (response.kind === "unknown") {
      this.#outcomeUnknown(client, pending.op);
    } else if (response.kind === "rejected") {
      // Certainly no effect: leave it out of the history, and try where the leader is.
      this.#history.splice(this.#history.lastIndexOf(pending.op), 1);
      const hinted = this.#ids.indexOf(response.leader);
      client.leaderHint = hinted >= 0 ? hinted : this.#rng.pick(this.#live());
      if (pending.op.op === "apply") {
        // The executor retries the same order elsewhere.
        const input = pending.op.input;
        client.uncertain = {
          orderId: pending.op.orderId,
          variant: input.payloadHash === "v1" ? 1 : 0,
          outcomeStatus: input.outcome.status,
        };
      }
    } else if (response.kind === "applied") {
      op.return = this.#now;
      op.output = {
        result: response.outcome.result,
        outcome: {
          status: response.outcome.outcome.status,
          reason: response.outcome.outcome.reason,
        },
      };
    } else {
      op.return = this.#now;
      op.output = response.found
        ? {
          found: true,
          outcome: { status: response.outcome.status, reason: response.outcome.reason },
        }
        : { found: false };
    }
    this.#queue.push(this.#now + this.#rng.between(0, 20), {
      kind: "clientNext",
      client: client.id,
    });
  }

  /** No answer, or one that cannot tell: what the executor does after an uncertain call. */
  #outcomeUnknown(client: Client, op: Operation): void {
    if (op.op === "read") {
      this.#history.splice(this.#history.lastIndexOf(op), 1); // a read has no effect
    } else {
      // Unknown: stays open in the history. Find out by reading it, then retry.
      const variant = op.input.payloadHash === "v1" ? 1 : 0;
      client.uncertain = { orderId: op.orderId, variant, outcomeStatus: op.input.outcome.status };
    }
    client.leaderHint = this.#rng.pick(this.#live());
  }

  #onTimeout(clientId: number, requestId: number): void {
    const client = this.#clients[clientId]!;
    const pending = client.pending;
    if (pending === undefined || pending.requestId !== requestId) return;
    client.pending = undefined;
    this.#outcomeUnknown(client, pending.op);
    this.#queue.push(this.#now + this.#rng.between(0, 20), {
      kind: "clientNext",
      client: clientId,
    });
  }

  // -------------------------------------------------------------------------------------------
  // Liveness and reporting.
  // -------------------------------------------------------------------------------------------

  /** One leader in the highest term, everything committed, applied on every member. */
  #converged(): boolean {
    let leader: SimNode | undefined;
    let maxTerm = 0;
    const live = this.#live().map((i) => this.#nodes[i]!);
    for (const node of live) {
      if (!node.up) return false;
      maxTerm = Math.max(maxTerm, node.raft!.term);
    }
    for (const node of live) {
      const raft = node.raft!;
      if (raft.role === "leader" && raft.term === maxTerm) leader = node;
    }
    if (leader === undefined) return false;
    const lr = leader.raft!;
    if (lr.commitIndex !== lr.lastIndex || lr.termAt(lr.commitIndex) !== lr.term) return false;
    const members = [...lr.conf.voters, ...lr.conf.learners];
    return members.every((id) => {
      const node = this.#nodes[this.#ids.indexOf(id)];
      if (node === undefined || !node.up) return false;
      const raft = node.raft!;
      return raft.leader === leader!.id && raft.term === lr.term &&
        raft.appliedIndex === lr.commitIndex &&
        !node.loop!.syncing;
    });
  }

  #clusterSummary(): string {
    return this.#nodes.map((node) => {
      const raft = node.raft;
      if (raft === undefined) return `${node.id}: down`;
      return `${node.id}: ${raft.role} term ${raft.term} leader ${
        raft.leader || "-"
      } last ${raft.lastIndex}/t${raft.lastTerm} commit ${raft.commitIndex} applied ${raft.appliedIndex} voters [${raft.conf.voters}] learners [${raft.conf.learners}]`;
    }).join("; ");
  }

  #trace1(line: string): void {
    this.#trace.push(`${this.#now.toFixed(3).padStart(10)} ms  ${line}`);
    const max = this.options.traceLength ?? 60;
    if (this.#trace.length > max * 2) this.#trace.splice(0, this.#trace.length - max);
  }
}

class LivenessFailure extends Error {}
class LinearizabilityFailure extends Error {}

function describeMessage(m: Message): string {
  switch (m.type) {
    case "appendEntries":
      return `${m.from}->${m.to} append t${m.term} prev ${m.prevLogIndex}/${m.prevLogTerm} n=${m.entries.length} commit ${m.leaderCommit}`;
    case "appendEntriesResponse":
      return `${m.from}->${m.to} append-resp t${m.term} ${
        m.success ? "ok" : "reject"
      } match ${m.matchIndex}${m.success ? "" : ` hint ${m.rejectHintIndex}/${m.rejectHintTerm}`}`;
    case "requestVote":
      return `${m.from}->${m.to} ${
        m.preVote ? "pre-vote" : "vote"
      } t${m.term} last ${m.lastLogIndex}/${m.lastLogTerm}${m.transfer ? " transfer" : ""}`;
    case "requestVoteResponse":
      return `${m.from}->${m.to} ${m.preVote ? "pre-vote" : "vote"}-resp t${m.term} ${
        m.granted ? "granted" : "refused"
      }`;
    case "installSnapshot":
      return `${m.from}->${m.to} snapshot t${m.term} at ${m.lastIncludedIndex}/${m.lastIncludedTerm}`;
    case "installSnapshotResponse":
      return `${m.from}->${m.to} snapshot-resp t${m.term} match ${m.matchIndex}`;
    case "timeoutNow":
      return `${m.from}->${m.to} timeout-now t${m.term}`;
  }
}
