/**
 * The timeline of a chaos run: what was injected and healed, what the supervisor saw
 * (processes killed, exited, restarted, ready), leader changes, and the first success after
 * each fault, each with its time relative to the start of the run.
 *
 * @module
 */

/** What a timeline entry records. */
export type TimelineKind =
  | "fault"
  | "heal"
  | "process"
  | "leader"
  | "recovered"
  | "note";

/** One entry. */
export interface TimelineEntry {
  /** Epoch ms. */
  readonly t: number;
  readonly kind: TimelineKind;
  readonly text: string;
}

/**
 * A timeline: entries added in any order, printed by time.
 *
 * @example
 * ```ts
 * const timeline = new Timeline(Date.now());
 * timeline.add(Date.now(), "fault", "kill raft-2 (leader)");
 * console.log(timeline.format());
 * ```
 */
export class Timeline {
  /** Epoch ms that `+0.000s` stands for. */
  readonly start: number;
  #entries: TimelineEntry[] = [];

  constructor(start: number) {
    this.start = start;
  }

  /** Adds an entry. */
  add(t: number, kind: TimelineKind, text: string): void {
    this.#entries.push({ t, kind, text });
  }

  /** The entries by time (stable for equal times). */
  get entries(): TimelineEntry[] {
    return this.#entries.map((e, i) => ({ e, i })).sort((a, b) => a.e.t - b.e.t || a.i - b.i)
      .map(({ e }) => e);
  }

  /** The entries of `kind`. */
  of(kind: TimelineKind): TimelineEntry[] {
    return this.entries.filter((e) => e.kind === kind);
  }

  /** One line per entry: `  +1.234s  leader     raft-3 leads in term 4`. */
  format(indent = "  "): string {
    return this.entries.map((e) =>
      `${indent}${formatOffset(e.t - this.start).padStart(9)}  ${e.kind.padEnd(9)}  ${e.text}`
    ).join("\n");
  }
}

/** Formats a duration in ms as `+1.234s` (or `-0.100s`). */
export function formatOffset(ms: number): string {
  return `${ms < 0 ? "-" : "+"}${(Math.abs(ms) / 1000).toFixed(3)}s`;
}
