/**
 * A synchronous in-memory cluster for unit tests of the core: every node persists a Ready
 * instantly into a {@linkcode MemoryStorage}, and messages are delivered by hand, so a test
 * reads as a script of messages. Test code only; the deterministic simulator (`../sim`)
 * is the place for faults, delays and crashes.
 *
 * @module
 */
import { Raft } from "./raft.ts";
import type {
  ConfState,
  Entry,
  HardState,
  Message,
  NodeId,
  PersistedState,
  RaftConfig,
  ReadState,
  Snapshot,
} from "./types.ts";

/** Stable storage of one node, written by the Ready contract. */
export class MemoryStorage {
  hardState: HardState = { term: 0, vote: "", commit: 0 };
  snapshot: Snapshot | undefined;
  entries: Entry[] = [];

  /** What the node restores from on restart. */
  persisted(): PersistedState {
    return { hardState: this.hardState, snapshot: this.snapshot, entries: [...this.entries] };
  }

  /** Steps 1a-1c of the Ready contract. */
  persist(rd: {
    hardState: HardState | undefined;
    snapshot: Snapshot | undefined;
    entries: readonly Entry[];
  }): void {
    if (rd.snapshot !== undefined) {
      this.snapshot = rd.snapshot;
      this.entries = [];
    }
    const first = rd.entries[0];
    if (first !== undefined) {
      const keep = this.entries.findIndex((e) => e.index >= first.index);
      if (keep >= 0) this.entries.length = keep;
      this.entries.push(...rd.entries);
    }
    if (rd.hardState !== undefined) this.hardState = rd.hardState;
  }

  /** Persists a snapshot taken by `compact()` and drops the entries it covers. */
  compacted(snapshot: Snapshot, retain = 0): void {
    this.snapshot = snapshot;
    this.entries = this.entries.filter((e) => e.index > snapshot.index - retain);
  }
}

/** Options for every node of a {@linkcode TestCluster}. */
export type NodeOptions = Omit<RaftConfig, "id" | "random" | "storage" | "bootstrap">;

/** A few Raft nodes wired together through an explicit message queue. */
export class TestCluster {
  readonly nodes = new Map<NodeId, Raft>();
  readonly storage = new Map<NodeId, MemoryStorage>();
  /** Entries each node applied, in order. */
  readonly applied = new Map<NodeId, Entry[]>();
  /** Snapshots each node restored its state machine from. */
  readonly restored = new Map<NodeId, Snapshot[]>();
  readonly readStates = new Map<NodeId, ReadState[]>();
  readonly droppedReads = new Map<NodeId, number[]>();
  /** Messages sent and not yet delivered. */
  queue: Message[] = [];
  /** Messages matching this are dropped instead of delivered. */
  drop: (m: Message) => boolean = () => false;
  #seed = 1;

  /** Nodes `ids`, all bootstrapped with `ids` as voters. */
  constructor(readonly ids: NodeId[], readonly options: NodeOptions = {}) {
    const conf: ConfState = { voters: ids, learners: [], context: {} };
    for (const id of ids) this.add(id, conf);
  }

  /** Adds a node; `bootstrap` omitted means a node that waits to be added. */
  add(id: NodeId, bootstrap?: ConfState, storage = new MemoryStorage()): Raft {
    const random = this.#random();
    const node = new Raft({
      ...this.options,
      id,
      random,
      storage: storage.persisted(),
      ...(bootstrap === undefined ? {} : { bootstrap }),
    });
    this.nodes.set(id, node);
    this.storage.set(id, storage);
    if (!this.applied.has(id)) this.applied.set(id, []);
    this.restored.set(id, this.restored.get(id) ?? []);
    this.readStates.set(id, []);
    this.droppedReads.set(id, []);
    this.process(id);
    return node;
  }

  /** Restarts `id` from its storage, losing all volatile state. */
  restart(id: NodeId): Raft {
    this.applied.set(id, []);
    this.queue = this.queue.filter((m) => m.to !== id && m.from !== id);
    return this.add(id, undefined, this.storage.get(id)!);
  }

  /** The node `id`. */
  node(id: NodeId): Raft {
    const node = this.nodes.get(id);
    if (node === undefined) {
      throw new Error(`Unknown node "${id}": expected one of ${[...this.nodes.keys()]}`);
    }
    return node;
  }

  /** Handles every Ready of `id` (queue early messages, persist, queue messages, apply, advance). */
  process(id: NodeId): void {
    const node = this.node(id);
    const storage = this.storage.get(id)!;
    while (node.hasReady()) {
      const rd = node.ready();
      this.queue.push(...rd.earlyMessages);
      storage.persist(rd);
      this.queue.push(...rd.messages);
      if (rd.snapshot !== undefined) {
        this.restored.get(id)!.push(rd.snapshot);
        this.applied.set(id, []);
      }
      this.applied.get(id)!.push(...rd.committedEntries);
      this.readStates.get(id)!.push(...rd.readStates);
      this.droppedReads.get(id)!.push(...rd.droppedReads);
      node.advance(rd);
    }
  }

  /** Ticks `id` `n` times, handling Readys after each tick. */
  tick(id: NodeId, n = 1): void {
    for (let i = 0; i < n; i++) {
      this.node(id).tick();
      this.process(id);
    }
  }

  /** Ticks every node `n` times and delivers messages after each round. */
  tickAll(n = 1): void {
    for (let i = 0; i < n; i++) {
      for (const id of this.nodes.keys()) this.tick(id);
      this.deliverAll();
    }
  }

  /** Takes (and removes) the queued messages matching `filter`. */
  take(filter: (m: Message) => boolean = () => true): Message[] {
    const taken = this.queue.filter(filter);
    this.queue = this.queue.filter((m) => !filter(m));
    return taken;
  }

  /** Delivers one message to its recipient (unless dropped) and handles the Readys. */
  deliver(m: Message): void {
    if (this.drop(m)) return;
    const node = this.nodes.get(m.to);
    if (node === undefined) return;
    node.step(m);
    this.process(m.to);
  }

  /** Delivers queued messages until none are left; returns how many were delivered. */
  deliverAll(limit = 100_000): number {
    let delivered = 0;
    while (this.queue.length > 0) {
      const batch = this.queue;
      this.queue = [];
      for (const m of batch) {
        this.deliver(m);
        if (++delivered > limit) throw new Error(`Cluster did not settle within ${limit} messages`);
      }
    }
    return delivered;
  }

  /** Makes `id` campaign and delivers everything; returns the node. */
  elect(id: NodeId): Raft {
    this.node(id).campaign();
    this.process(id);
    this.deliverAll();
    return this.node(id);
  }

  /** Proposes `text` on `id` and delivers everything. */
  propose(id: NodeId, text: string): void {
    const result = this.node(id).propose(new TextEncoder().encode(text));
    if (!result.ok) throw new Error(`Proposal "${text}" on ${id} refused: ${result.reason}`);
    this.process(id);
    this.deliverAll();
  }

  /** The data of the normal, non-empty entries `id` applied, as text. */
  appliedTexts(id: NodeId): string[] {
    return this.applied.get(id)!
      .filter((e) => e.type === 0 && e.data.length > 0)
      .map((e) => new TextDecoder().decode(e.data));
  }

  /** A deterministic PRNG per node, so that election timeouts differ but repeat. */
  #random(): () => number {
    let state = this.#seed++ * 0x9e3779b9;
    return () => {
      state = (state + 0x6d2b79f5) | 0;
      let t = Math.imul(state ^ (state >>> 15), 1 | state);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }
}
