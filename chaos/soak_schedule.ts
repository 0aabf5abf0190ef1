/**
 * The soak's nemesis schedule: a list of faults (kind, target, when, how long) derived from a
 * seed alone, so that the same seed gives the same schedule, printed before the run. Faults
 * follow each other with gaps that leave time to recover; every kind appears in a run of a
 * few minutes.
 *
 * @module
 */
import type { SeededRandom } from "@trading/shared/seeded-random";
import { chaosRandom } from "@trading/shared/chaos";

/** What a soak fault does. */
export type SoakFaultKind =
  | "pause-leader"
  | "pause-node"
  | "kill-leader"
  | "kill-node"
  | "kill-service"
  | "kill-broker"
  | "flapping-network"
  | "partition-leader"
  | "partition-node"
  | "exit-on-leader";

/** Every kind, in the order the schedule cycles through them before drawing at random. */
export const SOAK_FAULT_KINDS: readonly SoakFaultKind[] = [
  "kill-leader",
  "pause-leader",
  "flapping-network",
  "kill-service",
  "partition-leader",
  "kill-node",
  "exit-on-leader",
  "pause-node",
  "kill-broker",
  "partition-node",
];

/** One scheduled fault. */
export interface SoakFault {
  /** Start, ms after the soak's start. */
  readonly atMs: number;
  readonly kind: SoakFaultKind;
  /** A child name (`raft-2`, `order-executor`), or `leader` when resolved at injection. */
  readonly target: string;
  /** How long the fault is held before it is healed (0: a kill, healed by the restart). */
  readonly holdMs: number;
  /** The chaos layer's seed, for network faults. */
  readonly chaosSeed: number;
}

const SERVICES = ["order-executor", "stream-processor", "market-ingestor"] as const;
const RAFT_NODES = ["raft-1", "raft-2", "raft-3"] as const;

/** Time a fault of each kind usually needs to heal completely, ms (restart, rebalance). */
const RECOVERY_MS: Record<SoakFaultKind, number> = {
  "pause-leader": 2000,
  "pause-node": 1000,
  "kill-leader": 3000,
  "kill-node": 3000,
  "kill-service": 8000,
  "kill-broker": 8000,
  "flapping-network": 2000,
  "partition-leader": 3000,
  "partition-node": 2000,
  "exit-on-leader": 5000,
};

function pick<T>(random: SeededRandom, items: readonly T[]): T {
  return items[random.int(0, items.length - 1)]!;
}

/** The fault of `kind` at `atMs`, its target and hold drawn from `random`. */
function draw(random: SeededRandom, kind: SoakFaultKind, atMs: number): SoakFault {
  const chaosSeed = random.int(1, 999_999_999);
  switch (kind) {
    case "pause-leader":
      return { atMs, kind, target: "leader", holdMs: random.int(1500, 4000), chaosSeed };
    case "pause-node":
      return {
        atMs,
        kind,
        target: pick(random, RAFT_NODES),
        holdMs: random.int(1000, 5000),
        chaosSeed,
      };
    case "kill-leader":
      return { atMs, kind, target: "leader", holdMs: 0, chaosSeed };
    case "kill-node":
      return { atMs, kind, target: pick(random, RAFT_NODES), holdMs: 0, chaosSeed };
    case "kill-service":
      return { atMs, kind, target: pick(random, SERVICES), holdMs: 0, chaosSeed };
    case "kill-broker":
      return { atMs, kind, target: "broker", holdMs: 0, chaosSeed };
    case "flapping-network":
      return { atMs, kind, target: "all", holdMs: random.int(3000, 8000), chaosSeed };
    case "partition-leader":
      return { atMs, kind, target: "leader", holdMs: random.int(3000, 7000), chaosSeed };
    case "partition-node":
      return {
        atMs,
        kind,
        target: pick(random, RAFT_NODES),
        holdMs: random.int(2000, 6000),
        chaosSeed,
      };
    case "exit-on-leader":
      return { atMs, kind, target: "all", holdMs: random.int(3000, 6000), chaosSeed };
  }
}

/**
 * The schedule of a soak of `minutes` with `seed`: faults from 5 s after the start until
 * 30 s before the end (left for healing, the liveness check and the verifier), one at a time.
 * The first ones go through every kind once, in a seeded order; the rest are drawn at random.
 */
export function soakSchedule(seed: number, minutes: number): SoakFault[] {
  const random = chaosRandom(seed);
  const endMs = minutes * 60_000 - 30_000;
  const kinds = [...SOAK_FAULT_KINDS];
  for (let i = kinds.length - 1; i > 0; i--) {
    const j = random.int(0, i);
    [kinds[i], kinds[j]] = [kinds[j]!, kinds[i]!];
  }
  const faults: SoakFault[] = [];
  let atMs = 5000;
  for (let n = 0;; n++) {
    const kind = n < kinds.length ? kinds[n]! : pick(random, SOAK_FAULT_KINDS);
    const fault = draw(random, kind, atMs);
    const next = atMs + fault.holdMs + RECOVERY_MS[kind];
    if (next > endMs) break;
    faults.push(fault);
    atMs = next + random.int(1000, 5000);
  }
  return faults;
}

/** The schedule as a table: one line per fault. */
export function formatSchedule(faults: readonly SoakFault[]): string {
  return faults.map((f, i) =>
    `${String(i + 1).padStart(4)}  ${(f.atMs / 1000).toFixed(1).padStart(7)}s  ${
      f.kind.padEnd(16)
    }  ${f.target.padEnd(16)}  ${f.holdMs > 0 ? `hold ${f.holdMs} ms` : ""}${
      f.kind === "flapping-network" ? `, chaos seed ${f.chaosSeed}` : ""
    }`
  ).join("\n");
}
