/**
 * The supervisor's event bus and bounded timeline: every lifecycle event (started, ready,
 * exited, restarting, failed, paused, resumed, killed, stopping, stopped) and, from the
 * chaos work, `fault-start` / `fault-stop`. The HTTP API serves the timeline; a dashboard
 * subscribes to the stream.
 *
 * @module
 */

/** The kinds the supervisor emits; other modules may emit their own kinds (`fault-start`). */
export type EventKind =
  | "started"
  | "ready"
  | "health"
  | "exited"
  | "restarting"
  | "failed"
  | "paused"
  | "resumed"
  | "killed"
  | "stopping"
  | "stopped"
  | "shutdown"
  | "command"
  | "fault-start"
  | "fault-stop"
  // deno-lint-ignore ban-types
  | (string & {});

/** One entry of the timeline. */
export interface SupervisorEvent {
  /** Increases by one per event, from 1. */
  seq: number;
  /** ISO-8601 time. */
  time: string;
  kind: EventKind;
  /** The child it concerns, if any. */
  child?: string;
  /** One human sentence. */
  message: string;
  fields?: Record<string, unknown>;
}

/** What a caller passes to {@linkcode EventTimeline.emit}. */
export type NewEvent = Omit<SupervisorEvent, "seq" | "time">;

/**
 * A bounded, in-memory timeline of events with subscribers.
 *
 * @example
 * ```ts
 * const timeline = new EventTimeline(1000);
 * const stop = timeline.subscribe((event) => console.log(event.kind, event.child));
 * timeline.emit({ kind: "fault-start", child: "raft-2", message: "partitioned raft-2" });
 * stop();
 * ```
 */
export class EventTimeline {
  readonly capacity: number;
  #events: SupervisorEvent[] = [];
  #seq = 0;
  #listeners = new Set<(event: SupervisorEvent) => void>();

  constructor(capacity = 1000) {
    this.capacity = capacity;
  }

  /** Records an event, tells every subscriber, and returns it. */
  emit(event: NewEvent): SupervisorEvent {
    const full: SupervisorEvent = { seq: ++this.#seq, time: new Date().toISOString(), ...event };
    this.#events.push(full);
    if (this.#events.length > this.capacity) this.#events.shift();
    for (const listener of this.#listeners) {
      try {
        listener(full);
      } catch { /* a faulty subscriber must not break the supervisor */ }
    }
    return full;
  }

  /** Returns the retained events with `seq` greater than `afterSeq`, oldest first. */
  list(afterSeq = 0): SupervisorEvent[] {
    return this.#events.filter((e) => e.seq > afterSeq);
  }

  /** Calls `listener` for every later event; returns the function that unsubscribes. */
  subscribe(listener: (event: SupervisorEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Yields every later event until `signal` aborts (for server-sent events). Events that
   * arrive while the consumer is busy are queued.
   */
  async *stream(signal: AbortSignal): AsyncGenerator<SupervisorEvent> {
    const queue: SupervisorEvent[] = [];
    let wake: (() => void) | undefined;
    const unsubscribe = this.subscribe((event) => {
      queue.push(event);
      wake?.();
    });
    const onAbort = () => wake?.();
    signal.addEventListener("abort", onAbort);
    try {
      while (!signal.aborted) {
        const next = queue.shift();
        if (next) {
          yield next;
          continue;
        }
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
      }
    } finally {
      unsubscribe();
      signal.removeEventListener("abort", onAbort);
    }
  }
}
