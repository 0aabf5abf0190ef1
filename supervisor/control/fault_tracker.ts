/**
 * The active chaos faults of a supervisor. A fault is data (Toxiproxy/Jepsen style): a kind,
 * a target and a detail, with a `fault-start` event on the supervisor's timeline when it is
 * injected and a `fault-stop` event when it ends, both timestamped. Some faults end by
 * themselves: a pause when the child is resumed or exits, a kill when the child is ready
 * again, a node's runtime network settings when that node's process exits (a new process
 * starts without them). The others end by a command (`chaos <node> off`, `heal`).
 *
 * @module
 */
import type { EventKind, SupervisorEvent } from "../supervision/event_timeline.ts";
import type { Supervisor } from "../supervision/supervisor.ts";

/** What a fault does. */
export type FaultKind = "pause" | "kill" | "network" | "partition" | "exit-on-leader";

/** A fault that has started and not stopped, as `/status` shows it. */
export interface ActiveFault {
  /** Increases by one per fault, from 1. */
  readonly id: number;
  readonly kind: FaultKind;
  /** The child it was injected into. */
  readonly target: string;
  /** The profile, the duration, or how the target was chosen (`leader`). */
  readonly detail: string;
  /** ISO-8601 time of its `fault-start` event. */
  readonly startedAt: string;
}

/** When a fault ends by itself: on one of these events of its target child. */
export type FaultEnd = readonly EventKind[];

interface TrackedFault {
  fault: ActiveFault;
  startedMs: number;
  endsOn: FaultEnd;
}

/**
 * Tracks the faults injected through one supervisor and writes their start and stop events.
 *
 * @example
 * ```ts
 * const faults = faultTracker(supervisor);
 * faults.start("pause", "raft-2", "leader, 2000 ms", ["resumed", "exited"]);
 * faults.active(); // [{ id: 1, kind: "pause", target: "raft-2", ... }] until raft-2 resumes
 * ```
 */
export class FaultTracker {
  #supervisor: Supervisor;
  #faults = new Map<number, TrackedFault>();
  #nextId = 1;

  constructor(supervisor: Supervisor) {
    this.#supervisor = supervisor;
    supervisor.events.subscribe((event) => this.#onEvent(event));
  }

  /** Records a fault's start (a `fault-start` event) and returns it. */
  start(kind: FaultKind, target: string, detail: string, endsOn: FaultEnd = []): ActiveFault {
    const fault: ActiveFault = {
      id: this.#nextId++,
      kind,
      target,
      detail,
      startedAt: new Date().toISOString(),
    };
    this.#faults.set(fault.id, { fault, startedMs: Date.now(), endsOn });
    this.#supervisor.emit({
      kind: "fault-start",
      child: target,
      message: `fault ${fault.id} started: ${kind} ${target}${detail ? ` (${detail})` : ""}`,
      fields: { fault: fault.id, faultKind: kind, target, detail },
    });
    return fault;
  }

  /** Stops every active fault `match` selects (a `fault-stop` event each); returns them. */
  stop(match: (fault: ActiveFault) => boolean, reason: string): ActiveFault[] {
    const stopped: ActiveFault[] = [];
    for (const [id, tracked] of [...this.#faults]) {
      if (!match(tracked.fault)) continue;
      this.#faults.delete(id);
      stopped.push(tracked.fault);
      const durationMs = Date.now() - tracked.startedMs;
      const { kind, target } = tracked.fault;
      this.#supervisor.emit({
        kind: "fault-stop",
        child: target,
        message: `fault ${id} stopped after ${durationMs} ms: ${kind} ${target} (${reason})`,
        fields: { fault: id, faultKind: kind, target, durationMs, reason },
      });
    }
    return stopped;
  }

  /** The active faults, oldest first. */
  active(): ActiveFault[] {
    return [...this.#faults.values()].map((t) => t.fault);
  }

  #onEvent(event: SupervisorEvent): void {
    if (event.child === undefined || event.kind === "fault-start" || event.kind === "fault-stop") {
      return;
    }
    this.stop(
      (fault) =>
        fault.target === event.child && (this.#faults.get(fault.id)?.endsOn.includes(event.kind) ??
          false),
      `${event.child} ${event.kind}`,
    );
  }
}

const trackers = new WeakMap<Supervisor, FaultTracker>();

/** The one fault tracker of `supervisor`, created on first use. */
export function faultTracker(supervisor: Supervisor): FaultTracker {
  let tracker = trackers.get(supervisor);
  if (!tracker) {
    tracker = new FaultTracker(supervisor);
    trackers.set(supervisor, tracker);
  }
  return tracker;
}
