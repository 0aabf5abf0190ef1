/**
 * The Raft consensus algorithm as a pure state machine, modelled on etcd-io/raft: messages
 * and ticks go in through {@linkcode Raft.step} and {@linkcode Raft.tick}; what to persist,
 * send and apply comes out of {@linkcode Raft.ready}. No I/O, no clock, no randomness but the
 * injected `random`.
 *
 * @module
 */
import type {
  ConfChange,
  ConfState,
  Entry,
  Message,
  NodeId,
  ProposeResult,
  RaftConfig,
  RaftStatus,
  Ready,
  RequestResult,
  Role,
  Snapshot,
} from "./types.ts";

/**
 * One Raft node. Drive it with `tick()` on a timer and `step()` for every received message;
 * whenever `hasReady()` is true, take `ready()`, handle it exactly as {@linkcode Ready}
 * describes, and call `advance()`.
 *
 * @example
 * ```ts
 * const raft = new Raft({ id: "a", bootstrap: { voters: ["a"], learners: [], context: {} }, random: Math.random });
 * raft.campaign();
 * const rd = raft.ready(); // persist rd.entries and rd.hardState, send rd.messages, apply ...
 * raft.advance(rd);
 * ```
 */
export class Raft {
  /** This node's id. */
  readonly id: NodeId;

  /** Restores a node from `config.storage` (or bootstraps a new one). */
  constructor(config: RaftConfig) {
    this.id = config.id;
    throw new Error("Raft is not implemented yet");
  }

  /** Advances the logical clock by one tick: elections, heartbeats, check-quorum, timeouts. */
  tick(): void {}

  /** Handles one message received from the transport. Stale and duplicate messages are safe. */
  step(_message: Message): void {}

  /**
   * Appends `data` as a normal entry, on the leader only. Refused while a leadership
   * transfer is in progress or on a follower (the result names the known leader).
   */
  propose(_data: Uint8Array): ProposeResult {
    throw new Error("not implemented");
  }

  /**
   * Appends a single-server membership change, on the leader only. Refused while another
   * change is uncommitted and until the leader has committed an entry of its own term
   * (the fix for single-server changes across leader changes, raft-dev 2015).
   */
  proposeConfChange(_change: ConfChange): ProposeResult {
    throw new Error("not implemented");
  }

  /**
   * Starts a linearizable read (ReadIndex, thesis §6.4), on the leader only: once the
   * leader has committed an entry of its term and a quorum has confirmed its leadership
   * after this call, a {@linkcode ReadState} with `context` and the commit index of this
   * moment comes out of `ready()`. If leadership is lost first, `context` comes out in
   * `droppedReads` instead.
   */
  readIndex(_context: number): RequestResult {
    throw new Error("not implemented");
  }

  /**
   * Hands leadership to `to` (thesis §3.10): stops accepting proposals, brings `to` up to
   * date, then sends it TimeoutNow so that it campaigns at once. Aborted after an election
   * timeout if `to` has not taken over.
   */
  transferLeadership(_to: NodeId): RequestResult {
    throw new Error("not implemented");
  }

  /** Starts an election now (a voter only), as if the election timeout had elapsed. */
  campaign(): void {}

  /**
   * Compacts the log: the state machine, whose serialization is `data`, has applied
   * exactly `index` (which must be <= the applied index). Entries up to `index - retain`
   * are dropped from memory, so that followers only a little behind still get entries
   * rather than the snapshot. Returns the snapshot the application must persist before it
   * deletes stored entries up to `index - retain`.
   */
  compact(_index: number, _data: Uint8Array, _retain = 0): Snapshot {
    throw new Error("not implemented");
  }

  /** True when `ready()` has something to persist, send, apply or answer. */
  hasReady(): boolean {
    return false;
  }

  /** Returns the next batch of work; see {@linkcode Ready} for the handling contract. */
  ready(): Ready {
    throw new Error("not implemented");
  }

  /** Acknowledges that `ready` (the last value of `ready()`) was handled completely. */
  advance(_ready: Ready): void {}

  /** The node's state for Status RPCs, metrics and tests. */
  status(): RaftStatus {
    throw new Error("not implemented");
  }

  /** This node's role. */
  get role(): Role {
    return "follower";
  }

  /** The current term. */
  get term(): number {
    return 0;
  }

  /** The leader this node knows of in the current term, or `""`. */
  get leader(): NodeId {
    return "";
  }

  /** The highest committed index this node knows. */
  get commitIndex(): number {
    return 0;
  }

  /** The highest index handed out for applying and acknowledged by `advance()`. */
  get appliedIndex(): number {
    return 0;
  }

  /** The membership in force: the latest config entry in the log, committed or not. */
  get conf(): ConfState {
    throw new Error("not implemented");
  }

  /** The log entry at `index`, or undefined when compacted away or beyond the log. */
  entry(_index: number): Entry | undefined {
    return undefined;
  }
}
