/**
 * One simulated raft-node: the pure core, a model of its stable storage (only what a Ready
 * asked to persist, and only once the simulated fsync completes), the order state machine,
 * and the request handling of the real service (Apply waits for its entry to be applied,
 * Read waits for its ReadIndex and for the state machine to reach it).
 *
 * @module
 */
import { Raft } from "../core/raft.ts";
import {
  type Entry,
  EntryType,
  type HardState,
  type NodeId,
  type RaftConfig,
  type Ready,
  type Snapshot,
} from "../core/types.ts";
import {
  type ApplyCommand,
  type ApplyOutcome,
  encodeCommand,
  type OrderOutcome,
  OrderStateMachine,
} from "../state_machine.ts";

/** A client request as it reaches a node. */
export type ClientRequest =
  & { readonly client: number; readonly requestId: number }
  & (
    | { readonly kind: "apply"; readonly command: ApplyCommand }
    | { readonly kind: "read"; readonly orderId: string }
  );

/** A node's answer to a client request. */
export type ClientResponse =
  & { readonly client: number; readonly requestId: number }
  & (
    | { readonly kind: "applied"; readonly outcome: ApplyOutcome }
    | { readonly kind: "read"; readonly found: false }
    | { readonly kind: "read"; readonly found: true; readonly outcome: OrderOutcome }
    /** The request certainly had no effect (not leader, proposal overwritten, read dropped). */
    | { readonly kind: "rejected"; readonly leader: NodeId; readonly why: string }
  );

/** A read confirmed by ReadIndex, waiting for the state machine to reach `index`. */
interface ConfirmedRead {
  readonly index: number;
  readonly request: ClientRequest & { kind: "read" };
}

/** Stable storage of a simulated node: survives crashes. */
export interface DurableState {
  hardState: HardState;
  snapshot: Snapshot | undefined;
  entries: Entry[];
}

/** Options for the core of every simulated node. */
export type SimRaftOptions = Omit<
  RaftConfig,
  "id" | "storage" | "random" | "bootstrap" | "applied"
>;

/** Callbacks of a node into the simulation. */
export interface SimNodeHooks {
  respond(response: ClientResponse): void;
  entryApplied(id: NodeId, entry: Entry, result: string): void;
}

/** A simulated raft-node process and its disk. */
export class SimNode {
  raft: Raft | undefined;
  /** Bumped at every crash, so that events of a previous life are ignored. */
  incarnation = 0;
  readonly durable: DurableState = {
    hardState: { term: 0, vote: "", commit: 0 },
    snapshot: undefined,
    entries: [],
  };
  sm = new OrderStateMachine();
  /** The Ready being "fsynced". */
  inFlight: Ready | undefined;
  #proposals = new Map<number, { term: number; request: ClientRequest }>();
  #reads = new Map<number, ClientRequest & { kind: "read" }>();
  #confirmedReads: ConfirmedRead[] = [];
  #nextReadContext = 1;

  /** A node with empty storage; `bootstrapped` nodes found the cluster. */
  constructor(readonly id: NodeId, readonly hooks: SimNodeHooks) {}

  /** True while the process runs. */
  get up(): boolean {
    return this.raft !== undefined;
  }

  /** Starts (or restarts) the process from stable storage. */
  start(random: () => number, options: SimRaftOptions, bootstrap?: readonly NodeId[]): Raft {
    const empty = this.durable.hardState.term === 0 && this.durable.entries.length === 0 &&
      this.durable.snapshot === undefined;
    this.raft = new Raft({
      ...options,
      id: this.id,
      random,
      storage: {
        hardState: this.durable.hardState,
        snapshot: this.durable.snapshot,
        entries: [...this.durable.entries],
      },
      ...(empty && bootstrap !== undefined
        ? { bootstrap: { voters: bootstrap, learners: [], context: {} } }
        : {}),
    });
    this.sm = new OrderStateMachine();
    if (this.durable.snapshot !== undefined) this.sm.restore(this.durable.snapshot.data);
    this.inFlight = undefined;
    return this.raft;
  }

  /** Kills the process: everything not durable is gone, pending requests get no answer. */
  crash(): void {
    this.raft = undefined;
    this.inFlight = undefined;
    this.incarnation++;
    this.#proposals.clear();
    this.#reads.clear();
    this.#confirmedReads = [];
  }

  /** Step 1 of the Ready contract, at the end of the simulated fsync. */
  persist(rd: Ready): void {
    const d = this.durable;
    if (rd.snapshot !== undefined) {
      d.snapshot = rd.snapshot;
      d.entries = [];
    }
    const first = rd.entries[0];
    if (first !== undefined) {
      const start = d.entries[0]?.index ?? first.index;
      if (first.index < start) {
        d.entries = [];
      } else {
        d.entries.length = Math.min(d.entries.length, first.index - start);
      }
      const last = d.entries[d.entries.length - 1];
      if (last !== undefined && last.index + 1 !== first.index) {
        throw new Error(
          `Invalid Ready for ${this.id}: entries start at ${first.index}, stored log ends at ${last.index}`,
        );
      }
      for (const e of rd.entries) d.entries.push(e);
    }
    if (rd.hardState !== undefined) d.hardState = rd.hardState;
  }

  /** Step 3 and 4 of the Ready contract: restore, apply, answer reads. */
  applyReady(rd: Ready): void {
    if (rd.snapshot !== undefined) this.sm.restore(rd.snapshot.data);
    for (const entry of rd.committedEntries) this.#apply(entry);
    for (const rs of rd.readStates) {
      const request = this.#reads.get(rs.context);
      if (request === undefined) continue;
      this.#reads.delete(rs.context);
      this.#confirmedReads.push({ index: rs.index, request });
    }
    for (const context of rd.droppedReads) {
      const request = this.#reads.get(context);
      if (request === undefined) continue;
      this.#reads.delete(context);
      this.#reject(request, "read dropped");
    }
    this.#serveReads();
  }

  /** Takes a snapshot when the log since the last one is long enough. */
  maybeCompact(threshold: number, retain: number): void {
    const raft = this.raft!;
    if (raft.appliedIndex - raft.snapshotIndex < threshold) return;
    if (this.sm.appliedIndex !== raft.appliedIndex) {
      throw new Error(
        `State machine of ${this.id} at ${this.sm.appliedIndex}, Raft applied ${raft.appliedIndex}`,
      );
    }
    const snapshot = raft.compact(raft.appliedIndex, this.sm.snapshot(), retain);
    // The application persists the snapshot before deleting the entries it covers.
    this.durable.snapshot = snapshot;
    this.durable.entries = this.durable.entries.filter((e) => e.index > snapshot.index - retain);
  }

  /** A client request arrives. */
  handleClient(request: ClientRequest): void {
    const raft = this.raft;
    if (raft === undefined) return; // the process is down: the request is lost
    if (request.kind === "apply") {
      const result = raft.propose(encodeCommand(request.command));
      if (!result.ok) return this.#reject(request, result.reason, result.leader);
      this.#proposals.set(result.index, { term: result.term, request });
    } else {
      const context = this.#nextReadContext++;
      const result = raft.readIndex(context);
      if (!result.ok) return this.#reject(request, result.reason, result.leader);
      this.#reads.set(context, request);
    }
  }

  #apply(entry: Entry): void {
    let result: string;
    let outcome: ApplyOutcome | undefined;
    if (entry.type === EntryType.Config) {
      this.sm.skip(entry.index);
      result = "config";
    } else {
      outcome = this.sm.applyEntry(entry.index, entry.data);
      result = outcome === undefined
        ? "noop"
        : `${outcome.result}:${outcome.index}:${outcome.outcome.status}:${outcome.outcome.reason}`;
    }
    this.hooks.entryApplied(this.id, entry, result);
    const waiting = this.#proposals.get(entry.index);
    if (waiting === undefined) return;
    this.#proposals.delete(entry.index);
    const request = waiting.request;
    if (waiting.term !== entry.term || outcome === undefined) {
      // Another leader's entry took this index: ours can never be committed.
      this.#reject(request, "proposal overwritten");
    } else {
      this.hooks.respond({
        client: request.client,
        requestId: request.requestId,
        kind: "applied",
        outcome,
      });
    }
  }

  #serveReads(): void {
    if (this.#confirmedReads.length === 0) return;
    const applied = this.sm.appliedIndex;
    const waiting: ConfirmedRead[] = [];
    for (const r of this.#confirmedReads) {
      if (r.index > applied) {
        waiting.push(r);
        continue;
      }
      const record = this.sm.read(r.request.orderId);
      const base = { client: r.request.client, requestId: r.request.requestId };
      this.hooks.respond(
        record === undefined
          ? { ...base, kind: "read", found: false }
          : { ...base, kind: "read", found: true, outcome: record.outcome },
      );
    }
    this.#confirmedReads = waiting;
  }

  #reject(request: ClientRequest, why: string, leader: NodeId = ""): void {
    this.hooks.respond({
      client: request.client,
      requestId: request.requestId,
      kind: "rejected",
      leader,
      why,
    });
  }
}
