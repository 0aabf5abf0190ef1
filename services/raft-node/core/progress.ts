/**
 * A leader's view of one follower's replication: how far its log matches, what to send
 * next, and the flow control that bounds what is in flight (etcd-io/raft `tracker`).
 *
 * @module
 */
import type { NodeId } from "./types.ts";

/**
 * The replication state of one peer:
 * - `probe`: the match point is unknown; send one AppendEntries, wait for its answer;
 * - `replicate`: the match point is known; pipeline AppendEntries optimistically, bounded by
 *   the in-flight window;
 * - `snapshot`: an InstallSnapshot is on its way; send nothing else until it is answered.
 */
export type ProgressState = "probe" | "replicate" | "snapshot";

/**
 * The in-flight window of one peer: the last index and byte size of every AppendEntries
 * sent in the replicate state and not yet acknowledged, oldest first, in a ring buffer.
 */
export class Inflights {
  #lastIndexes: Float64Array;
  #bytes: Float64Array;
  #start = 0;
  #count = 0;
  #totalBytes = 0;

  /** A window of at most `maxMsgs` messages and `maxBytes` bytes (0 = unbounded bytes). */
  constructor(readonly maxMsgs: number, readonly maxBytes: number) {
    this.#lastIndexes = new Float64Array(maxMsgs);
    this.#bytes = new Float64Array(maxMsgs);
  }

  /** Messages in flight. */
  get count(): number {
    return this.#count;
  }

  /** Entry bytes in flight. */
  get bytes(): number {
    return this.#totalBytes;
  }

  /** True when no more messages may be sent. */
  get full(): boolean {
    return this.#count >= this.maxMsgs || (this.maxBytes > 0 && this.#totalBytes >= this.maxBytes);
  }

  /** Records a message whose last entry is `lastIndex`. */
  add(lastIndex: number, bytes: number): void {
    const slot = (this.#start + this.#count) % this.maxMsgs;
    this.#lastIndexes[slot] = lastIndex;
    this.#bytes[slot] = bytes;
    this.#count++;
    this.#totalBytes += bytes;
  }

  /** Frees every message whose last index is at most `index` (acknowledged). */
  freeLE(index: number): void {
    while (this.#count > 0 && this.#lastIndexes[this.#start]! <= index) {
      this.#totalBytes -= this.#bytes[this.#start]!;
      this.#start = (this.#start + 1) % this.maxMsgs;
      this.#count--;
    }
    if (this.#count === 0) this.#totalBytes = 0;
  }

  /** Forgets everything in flight. */
  reset(): void {
    this.#start = 0;
    this.#count = 0;
    this.#totalBytes = 0;
  }
}

/**
 * What a leader knows of one peer.
 *
 * Invariants: `match < next`; `match` never decreases within a term (responses may arrive
 * late or twice, so every update is a max); in the replicate state every in-flight message
 * ends at or before `next - 1`.
 */
export class Progress {
  /** The highest index known to be replicated on the peer. */
  match = 0;
  /** The next index to send. */
  next: number;
  state: ProgressState = "probe";
  /** Probe state: a probe is out; wait for an answer or the next heartbeat response. */
  probeSent = false;
  /** Snapshot state: the index of the snapshot sent. */
  pendingSnapshot = 0;
  /** Ticks spent in the current state without `match` advancing (stall detection). */
  ticksWithoutProgress = 0;
  /** Heard from the peer since the last check-quorum round. */
  recentActive = false;
  ticksSinceContact = 0;
  /** The highest ReadIndex confirmation round the peer has answered in this term. */
  readAck = 0;
  readonly inflights: Inflights;

  /** A peer whose log is assumed to end at `next - 1` until it answers. */
  constructor(
    readonly id: NodeId,
    public voter: boolean,
    next: number,
    maxMsgs: number,
    maxBytes: number,
  ) {
    this.next = next;
    this.inflights = new Inflights(maxMsgs, maxBytes);
  }

  /** Raises `match` (and `next` past it); true when it advanced. */
  maybeUpdate(index: number): boolean {
    let updated = false;
    if (index > this.match) {
      this.match = index;
      this.ticksWithoutProgress = 0;
      updated = true;
    }
    if (this.next < index + 1) this.next = index + 1;
    return updated;
  }

  /** Back to finding the match point, starting right after it. */
  becomeProbe(): void {
    if (this.state === "snapshot") {
      this.next = Math.max(this.match + 1, this.pendingSnapshot + 1);
    } else {
      this.next = this.match + 1;
    }
    this.state = "probe";
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.ticksWithoutProgress = 0;
    this.inflights.reset();
  }

  /** The match point is known: pipeline from right after it. */
  becomeReplicate(): void {
    this.next = this.match + 1;
    this.state = "replicate";
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.ticksWithoutProgress = 0;
    this.inflights.reset();
  }

  /** An InstallSnapshot at `index` is on its way. */
  becomeSnapshot(index: number): void {
    this.state = "snapshot";
    this.pendingSnapshot = index;
    this.probeSent = false;
    this.ticksWithoutProgress = 0;
    this.inflights.reset();
  }

  /**
   * Handles a rejection of the AppendEntries that followed `rejected`, with `hint` the index
   * to resume after (computed from the follower's hints). Returns false for a stale rejection.
   * (etcd-io/raft `Progress.MaybeDecrTo`.)
   */
  maybeDecreaseTo(rejected: number, hint: number): boolean {
    if (this.state === "replicate") {
      // A rejection at or below match answers an older message: stale.
      if (rejected <= this.match) return false;
      this.becomeProbe();
      return true;
    }
    // In probe state only the answer to the outstanding probe counts.
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, hint + 1), this.match + 1);
    this.probeSent = false;
    return true;
  }
}
