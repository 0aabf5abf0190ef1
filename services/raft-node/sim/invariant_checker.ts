/**
 * The safety properties of Raft (paper Figure 3) and of this implementation, checked by the
 * simulator after every step. Checks are incremental, so that checking after every event
 * stays cheap.
 *
 * @module
 */
import type { Raft } from "../core/raft.ts";
import type { Entry, HardState, NodeId } from "../core/types.ts";

/** A broken invariant; the message names it and the values that broke it. */
export class InvariantViolation extends Error {
  override name = "InvariantViolation";
}

interface NodeTrack {
  term: number;
  commit: number;
  applied: number;
  wasLeaderInTerm: number;
  /** Highest index whose entry was compared with the global committed log. */
  commitChecked: number;
  /** Log Matching: the last entry checked, by identity, to find what changed. */
  lmIndex: number;
  lmEntry: Entry | undefined;
  durable: HardState;
}

/** What the checker knows of one committed index. */
interface CommittedEntry {
  readonly term: number;
  readonly data: Uint8Array;
}

/**
 * Checks, for every node after every step:
 * - Election Safety: at most one leader per term (over the whole run);
 * - Log Matching: two entries with the same index and term have the same data and the same
 *   term before them (so, by induction, identical prefixes);
 * - Leader Completeness: a new leader holds every entry committed so far;
 * - State Machine Safety: no two nodes apply different entries (or results) at one index;
 * - committed entries never change: every node's committed entries equal the global
 *   committed log;
 * - term, commit and applied are monotonic while a node is up, and term, vote and commit
 *   are monotonic in stable storage across crashes (one vote per term);
 * - snapshot index <= applied <= commit <= last index, and the log's own invariants.
 */
export class InvariantChecker {
  readonly #leaderOfTerm = new Map<number, NodeId>();
  readonly #committed = new Map<number, CommittedEntry>();
  #maxCommitted = 0;
  readonly #applied = new Map<number, { term: number; result: string }>();
  /** Every (index, term) seen in some log: the term before it, its data, who held it. */
  readonly #logMatching = new Map<
    string,
    { prevTerm: number; data: Uint8Array; holders: Set<NodeId> }
  >();
  readonly #nodes = new Map<NodeId, NodeTrack>();

  /** The highest index known committed anywhere. */
  get maxCommitted(): number {
    return this.#maxCommitted;
  }

  /** The term of the committed entry at `index`, if known. */
  committedTerm(index: number): number | undefined {
    return this.#committed.get(index)?.term;
  }

  /** Called when node `id` (re)starts from `durable` state. */
  nodeStarted(id: NodeId, raft: Raft, durable: HardState): void {
    const previous = this.#nodes.get(id);
    const track: NodeTrack = {
      term: raft.term,
      commit: raft.commitIndex,
      applied: raft.appliedIndex,
      wasLeaderInTerm: 0,
      commitChecked: raft.snapshotIndex,
      lmIndex: 0,
      lmEntry: undefined,
      durable: previous?.durable ?? durable,
    };
    this.#nodes.set(id, track);
  }

  /**
   * Called when node `id` crashes. Entries its memory held but its disk did not vanish from
   * it. Other nodes may hold them still (a leader's early messages leave before its write is
   * durable, thesis §10.2.1), and then they keep their place in the Log Matching check; an
   * entry that never left the node is forgotten, so that a later entry with the same index
   * and term (a single voter re-elected in a term whose vote was not yet durable, which
   * sends nothing early) does not count as breaking Log Matching.
   */
  nodeCrashed(id: NodeId, durable: { entries: readonly Entry[]; snapshotIndex: number }): void {
    const stored = new Set(durable.entries.map((e) => `${e.index}:${e.term}`));
    for (const [key, seen] of this.#logMatching) {
      if (!seen.holders.has(id) || stored.has(key)) continue;
      const index = Number(key.slice(0, key.indexOf(":")));
      if (index <= durable.snapshotIndex) continue;
      seen.holders.delete(id);
      if (seen.holders.size === 0) this.#logMatching.delete(key);
    }
  }

  /** Called when a Ready's hard state became durable on `id`. */
  hardStatePersisted(id: NodeId, hard: HardState): void {
    const track = this.#nodes.get(id)!;
    const before = track.durable;
    if (hard.term < before.term) {
      this.#fail(`${id}: durable term went back from ${before.term} to ${hard.term}`);
    }
    if (hard.term === before.term && before.vote !== "" && hard.vote !== before.vote) {
      this.#fail(
        `${id}: voted twice in term ${hard.term} (${before.vote}, then ${hard.vote || "nobody"})`,
      );
    }
    if (hard.commit < before.commit) {
      this.#fail(`${id}: durable commit went back from ${before.commit} to ${hard.commit}`);
    }
    track.durable = hard;
  }

  /** Called for every entry a node applies, with a string form of the state machine's result. */
  entryApplied(id: NodeId, entry: Entry, result: string): void {
    const first = this.#applied.get(entry.index);
    if (first === undefined) {
      this.#applied.set(entry.index, { term: entry.term, result });
    } else if (first.term !== entry.term || first.result !== result) {
      this.#fail(
        `State Machine Safety: ${id} applied (term ${entry.term}, ${result}) at index ${entry.index}, another node applied (term ${first.term}, ${first.result})`,
      );
    }
    const committed = this.#committed.get(entry.index);
    if (committed !== undefined && committed.term !== entry.term) {
      this.#fail(
        `${id} applied index ${entry.index} of term ${entry.term}, but term ${committed.term} is committed there`,
      );
    }
  }

  /** Checks node `id` after a step that touched it. */
  checkNode(id: NodeId, raft: Raft): void {
    const track = this.#nodes.get(id);
    if (track === undefined) throw new Error(`Unknown node "${id}": expected nodeStarted() first`);
    try {
      raft.assertInvariants();
    } catch (error) {
      this.#fail(`${id}: ${(error as Error).message}`);
    }
    if (raft.term < track.term) {
      this.#fail(`${id}: term went back from ${track.term} to ${raft.term}`);
    }
    if (raft.commitIndex < track.commit) {
      this.#fail(`${id}: commit went back from ${track.commit} to ${raft.commitIndex}`);
    }
    if (raft.appliedIndex < track.applied) {
      this.#fail(`${id}: applied went back from ${track.applied} to ${raft.appliedIndex}`);
    }
    track.term = raft.term;
    track.commit = raft.commitIndex;
    track.applied = raft.appliedIndex;

    if (raft.role === "leader") {
      const other = this.#leaderOfTerm.get(raft.term);
      if (other !== undefined && other !== id) {
        this.#fail(`Election Safety: ${other} and ${id} are both leaders of term ${raft.term}`);
      }
      this.#leaderOfTerm.set(raft.term, id);
      if (track.wasLeaderInTerm !== raft.term) {
        track.wasLeaderInTerm = raft.term;
        this.#checkLeaderCompleteness(id, raft);
      }
    }
    this.#checkLogMatching(id, raft, track);
    this.#checkCommitted(id, raft, track);
  }

  #checkLeaderCompleteness(id: NodeId, raft: Raft): void {
    const from = Math.max(1, raft.snapshotIndex);
    for (let i = from; i <= this.#maxCommitted; i++) {
      const committed = this.#committed.get(i);
      if (committed === undefined) continue;
      const term = raft.termAt(i);
      if (term === undefined) {
        this.#fail(
          `Leader Completeness: ${id}, leader of term ${raft.term}, lacks committed entry ${i} (its last index is ${raft.lastIndex})`,
        );
      }
      if (term !== committed.term) {
        this.#fail(
          `Leader Completeness: ${id}, leader of term ${raft.term}, has term ${term} at ${i} where term ${committed.term} is committed`,
        );
      }
    }
  }

  #checkLogMatching(id: NodeId, raft: Raft, track: NodeTrack): void {
    // Entries are immutable objects: if the last entry checked is still there, nothing
    // before it changed. Otherwise (a truncation or a snapshot) check the whole log again.
    const unchanged = track.lmIndex > 0 && raft.entry(track.lmIndex) === track.lmEntry;
    const first = unchanged ? track.lmIndex + 1 : raft.firstIndex;
    for (let i = first; i <= raft.lastIndex; i++) {
      const entry = raft.entry(i)!;
      const prevTerm = raft.termAt(i - 1);
      if (prevTerm === undefined) continue;
      const key = `${i}:${entry.term}`;
      const seen = this.#logMatching.get(key);
      if (seen === undefined) {
        this.#logMatching.set(key, { prevTerm, data: entry.data, holders: new Set([id]) });
      } else if (seen.prevTerm !== prevTerm || !sameBytes(seen.data, entry.data)) {
        this.#fail(
          `Log Matching: ${id} has entry ${i} of term ${entry.term} with ${
            seen.prevTerm !== prevTerm ? `term ${prevTerm} before it` : "other data"
          } than another log (term ${seen.prevTerm} before it)`,
        );
      }
      seen?.holders.add(id);
      if (i <= raft.commitIndex) this.#compareCommitted(id, i, entry);
    }
    track.lmIndex = raft.lastIndex;
    track.lmEntry = raft.entry(raft.lastIndex);
  }

  #checkCommitted(id: NodeId, raft: Raft, track: NodeTrack): void {
    const commit = raft.commitIndex;
    for (let i = Math.max(track.commitChecked + 1, 1); i <= commit; i++) {
      const entry = raft.entry(i);
      if (entry === undefined) continue; // compacted: covered by a snapshot
      this.#compareCommitted(id, i, entry);
    }
    track.commitChecked = Math.max(track.commitChecked, commit);
  }

  #compareCommitted(id: NodeId, index: number, entry: Entry): void {
    const committed = this.#committed.get(index);
    if (committed === undefined) {
      this.#committed.set(index, { term: entry.term, data: entry.data });
      if (index > this.#maxCommitted) this.#maxCommitted = index;
    } else if (committed.term !== entry.term || !sameBytes(committed.data, entry.data)) {
      this.#fail(
        `Committed entry changed: ${id} has term ${entry.term} at committed index ${index}, term ${committed.term} was committed there`,
      );
    }
  }

  #fail(message: string): never {
    throw new InvariantViolation(message);
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
