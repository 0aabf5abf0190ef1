/**
 * The supervisor's restart policy for one child: after an exit, restart (with exponential
 * backoff and jitter), let it rest (`exited`), or give up (`failed`) because it exceeded its
 * restart intensity. Pure: time and randomness come in as arguments.
 *
 * @module
 */
import { backoffDelay } from "@trading/shared/retry";
import type { ChildSpec } from "./child_spec.ts";

/** How a process ended: its exit code, or the signal that killed it. */
export interface ExitStatus {
  code: number;
  signal: string | null;
}

/** What to do after an exit. */
export type RestartDecision =
  | { action: "restart"; delayMs: number; attempt: number }
  | { action: "exit"; reason: string }
  | { action: "fail"; reason: string };

/** True for an exit that a `transient` child is restarted after: non-zero code or a signal. */
export function isAbnormalExit(exit: ExitStatus): boolean {
  return exit.signal !== null || exit.code !== 0;
}

/**
 * Tracks one child's recent restarts and decides what follows each exit.
 *
 * @example
 * ```ts
 * const policy = new RestartPolicy(spec);
 * const decision = policy.decide({ code: 1, signal: null }, Date.now(), uptimeMs);
 * if (decision.action === "restart") setTimeout(start, decision.delayMs);
 * ```
 */
export class RestartPolicy {
  #spec: Pick<ChildSpec, "restart" | "intensity" | "backoff">;
  #random: () => number;
  #restartTimes: number[] = [];
  #attempt = 0;

  constructor(
    spec: Pick<ChildSpec, "restart" | "intensity" | "backoff">,
    random: () => number = Math.random,
  ) {
    this.#spec = spec;
    this.#random = random;
  }

  /**
   * Decides what follows an exit at time `now` (ms) of a process that ran `uptimeMs`, and
   * records a restart when it says so. An `injected` exit (an operator's or a chaos test's
   * `kill`) is restarted after the initial delay and neither grows the backoff nor counts
   * toward the intensity limit: the child did nothing wrong, and a chaos run that kills the
   * Raft leader twenty times must not get it given up.
   */
  decide(
    exit: ExitStatus,
    now: number,
    uptimeMs: number,
    { injected = false }: { injected?: boolean } = {},
  ): RestartDecision {
    const { restart, intensity, backoff } = this.#spec;
    if (restart === "temporary") return { action: "exit", reason: "temporary child" };
    if (restart === "transient" && !isAbnormalExit(exit)) {
      return { action: "exit", reason: "transient child exited normally" };
    }
    const options = {
      initialDelayMs: backoff.initialMs,
      maxDelayMs: backoff.maxMs,
      multiplier: backoff.multiplier,
      jitter: backoff.jitter,
      random: this.#random,
    };
    if (injected) return { action: "restart", delayMs: backoffDelay(1, options), attempt: 1 };
    if (uptimeMs >= backoff.resetAfterMs) this.#attempt = 0;
    this.#restartTimes = this.#restartTimes.filter((t) => now - t < intensity.withinMs);
    if (this.#restartTimes.length >= intensity.maxRestarts) {
      return {
        action: "fail",
        reason: `more than ${intensity.maxRestarts} restarts within ${intensity.withinMs} ms`,
      };
    }
    this.#restartTimes.push(now);
    this.#attempt++;
    const delayMs = backoffDelay(this.#attempt, options);
    return { action: "restart", delayMs, attempt: this.#attempt };
  }

  /** Forgets the backoff and the restart history (an operator's `restart`). */
  reset(): void {
    this.#attempt = 0;
    this.#restartTimes = [];
  }
}
