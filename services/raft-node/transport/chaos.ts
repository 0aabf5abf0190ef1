/**
 * The chaos layer of the Raft transport (docs/DESIGN.md, `CHAOS_*`): seeded drops and delays of
 * outgoing messages, partitions in both directions, and the exit-on-leader switch. A fault is
 * data (Toxiproxy/Jepsen style) and reproducible: the same seed gives the same decisions for
 * the same sequence of messages.
 *
 * Decisions are made at the sender. With a target node, a node applies faults to the
 * messages it sends to the target, and the target to everything it sends, so that when every
 * node has the same settings each message to or from the target is judged exactly once.
 *
 * @module
 */
import { EXIT_ON_LEADER_WORD } from "@trading/shared/chaos";
import { SeededRandom } from "@trading/shared/seeded-random";

/** The chaos settings of one node. */
export interface ChaosSettings {
  /** Drops and delays happen only when enabled (partitions and exit-on-leader do not need it). */
  readonly enabled: boolean;
  /** Percentage of judged messages dropped, 0-100. */
  readonly dropPct: number;
  /** Delay of a judged message that is not dropped, uniform in [min, max] ms. */
  readonly delayMsMin: number;
  readonly delayMsMax: number;
  /** Judge only messages to or from this node; "" judges every message. */
  readonly targetNodeId: string;
  readonly seed: number;
  /** Exit (code 3) as soon as this node becomes leader. */
  readonly exitOnLeader: boolean;
}

/** No faults at all. */
export const NO_CHAOS: ChaosSettings = Object.freeze({
  enabled: false,
  dropPct: 0,
  delayMsMin: 0,
  delayMsMax: 0,
  targetNodeId: "",
  seed: 1,
  exitOnLeader: false,
});

/** The decision for one message: deliver now, deliver after `delayMs`, or drop. */
export type ChaosDecision =
  | { readonly action: "pass" }
  | { readonly action: "delay"; readonly delayMs: number }
  | { readonly action: "drop" };

const PASS: ChaosDecision = Object.freeze({ action: "pass" });
const DROP: ChaosDecision = Object.freeze({ action: "drop" });

/** Writes settings back as a profile string (`drop-pct=30,delay=50-250,exit-on-leader`). */
export function formatProfile(settings: ChaosSettings): string {
  const parts: string[] = [];
  if (settings.dropPct > 0) parts.push(`drop-pct=${settings.dropPct}`);
  if (settings.delayMsMax > 0) {
    parts.push(
      settings.delayMsMin === settings.delayMsMax
        ? `delay=${settings.delayMsMin}`
        : `delay=${settings.delayMsMin}-${settings.delayMsMax}`,
    );
  }
  if (settings.exitOnLeader) parts.push(EXIT_ON_LEADER_WORD);
  return parts.length === 0 ? "off" : parts.join(",");
}

/** The one seeded generator, from a seed folded as the transport always did (seed32). */
function randomOf(seed: number): () => number {
  const random = new SeededRandom(seed32(seed));
  return () => random.next();
}

/** Folds a seed of up to 53 bits into 32 so that seeds differing only in high bits differ. */
function seed32(seed: number): number {
  const high = Math.floor(seed / 0x1_0000_0000);
  return ((seed >>> 0) ^ Math.imul(high, 0x9e3779b1)) >>> 0;
}

/**
 * The chaos state of one node: settings, partitions and counters.
 *
 * @example
 * ```ts
 * const chaos = new Chaos("raft-1", { ...NO_CHAOS, enabled: true, dropPct: 30, seed: 7 });
 * chaos.judge("raft-1", "raft-2"); // { action: "drop" } or "pass" or "delay", reproducibly
 * ```
 */
export class Chaos {
  readonly self: string;
  #settings: ChaosSettings;
  #random: () => number;
  #partitionAll = false;
  #partitioned = new Set<string>();
  #dropped = 0;
  #delayed = 0;

  constructor(self: string, settings: ChaosSettings = NO_CHAOS) {
    this.self = self;
    this.#settings = settings;
    this.#random = randomOf(settings.seed);
  }

  /** The current settings. */
  get settings(): ChaosSettings {
    return this.#settings;
  }

  /** Messages dropped by chaos or a partition, since start. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Messages delayed by chaos, since start. */
  get delayed(): number {
    return this.#delayed;
  }

  /** Replaces the settings and restarts the random sequence from `settings.seed`. */
  configure(settings: ChaosSettings): void {
    this.#settings = settings;
    this.#random = randomOf(settings.seed);
  }

  /** Cuts this node off from `peers` in both directions (every peer when `peers` is empty). */
  partition(peers: readonly string[]): void {
    if (peers.length === 0) this.#partitionAll = true;
    for (const peer of peers) this.#partitioned.add(peer);
  }

  /** Removes every partition and turns drops and delays off; exit-on-leader stays as it is. */
  heal(): void {
    this.#partitionAll = false;
    this.#partitioned.clear();
    this.configure({
      ...NO_CHAOS,
      seed: this.#settings.seed,
      exitOnLeader: this.#settings.exitOnLeader,
    });
  }

  /** The peers this node is partitioned from; `["*"]` when from all of them. */
  get partitionedFrom(): string[] {
    return this.#partitionAll ? ["*"] : [...this.#partitioned];
  }

  /** True when a partition separates this node from `peer`. */
  isPartitionedFrom(peer: string): boolean {
    return this.#partitionAll || this.#partitioned.has(peer);
  }

  /**
   * Decides the fate of a message from this node to `to` and counts it. Partitions drop
   * without consuming randomness; every judged message consumes exactly two draws, so the
   * decisions for a given seed depend only on the sequence of judged messages.
   */
  judgeOutgoing(to: string): ChaosDecision {
    if (this.isPartitionedFrom(to)) {
      this.#dropped++;
      return DROP;
    }
    const s = this.#settings;
    if (!s.enabled) return PASS;
    if (s.targetNodeId !== "" && s.targetNodeId !== to && s.targetNodeId !== this.self) return PASS;
    const dropDraw = this.#random();
    const delayDraw = this.#random();
    if (dropDraw * 100 < s.dropPct) {
      this.#dropped++;
      return DROP;
    }
    if (s.delayMsMax <= 0) return PASS;
    this.#delayed++;
    const delayMs = s.delayMsMin + Math.floor(delayDraw * (s.delayMsMax - s.delayMsMin + 1));
    return { action: "delay", delayMs };
  }

  /** Decides whether a message received from `from` is dropped (a partition); counts it. */
  dropsIncoming(from: string): boolean {
    if (!this.isPartitionedFrom(from)) return false;
    this.#dropped++;
    return true;
  }
}
