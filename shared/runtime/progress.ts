/**
 * Progress for long commands (`demo`, `bench`, `soak`, `verify`): on a terminal, one status
 * line rewritten in place on stderr (counts, rate, elapsed); when stderr is piped, nothing,
 * so that stdout stays machine-readable.
 *
 * @module
 */

/** Options of {@linkcode Progress}. */
export interface ProgressOptions {
  /** Force on or off; default: on when stderr is a terminal. */
  enabled?: boolean;
  /** Minimum ms between redraws. Default 200. */
  intervalMs?: number;
  /** Where to write; default stderr. */
  write?: (text: string) => void;
  /** Clock in ms, injectable for tests. */
  now?: () => number;
}

const encoder = new TextEncoder();

/**
 * A progress line: `label  1,234 orders  412/s  00:03`.
 *
 * @example
 * ```ts
 * const progress = new Progress("verify", "messages");
 * for (const message of messages) progress.add(1);
 * progress.done("read 1,234 messages");
 * ```
 */
export class Progress {
  readonly enabled: boolean;
  #label: string;
  #unit: string;
  #count = 0;
  #started: number;
  #lastDraw = 0;
  #detail = "";
  #intervalMs: number;
  #write: (text: string) => void;
  #now: () => number;

  constructor(label: string, unit: string, options: ProgressOptions = {}) {
    this.#label = label;
    this.#unit = unit;
    this.enabled = options.enabled ?? Deno.stderr.isTerminal();
    this.#intervalMs = options.intervalMs ?? 200;
    this.#write = options.write ?? ((text) => void Deno.stderr.writeSync(encoder.encode(text)));
    this.#now = options.now ?? (() => performance.now());
    this.#started = this.#now();
  }

  /** The count so far. */
  get count(): number {
    return this.#count;
  }

  /** Adds to the count and redraws if due. */
  add(n = 1): void {
    this.#count += n;
    this.#maybeDraw();
  }

  /** Sets the count (for sources that report totals) and redraws if due. */
  set(count: number, detail?: string): void {
    this.#count = count;
    if (detail !== undefined) this.#detail = detail;
    this.#maybeDraw();
  }

  /** Sets a free-form detail shown after the figures. */
  detail(text: string): void {
    this.#detail = text;
    this.#maybeDraw();
  }

  /** The status line as it would be drawn now. */
  line(): string {
    const elapsedMs = this.#now() - this.#started;
    const rate = elapsedMs > 0 ? Math.round((this.#count * 1000) / elapsedMs) : 0;
    const parts = [
      this.#label,
      `${this.#count.toLocaleString("en-US")} ${this.#unit}`,
      `${rate.toLocaleString("en-US")}/s`,
      formatElapsed(elapsedMs),
    ];
    if (this.#detail) parts.push(this.#detail);
    return parts.join("  ");
  }

  /** Clears the status line and, on a terminal, prints `summary` if given. */
  done(summary?: string): void {
    if (!this.enabled) return;
    this.#write(`\r\x1b[2K${summary ? `${this.#label}  ${summary}\n` : ""}`);
  }

  #maybeDraw(): void {
    if (!this.enabled) return;
    const now = this.#now();
    if (now - this.#lastDraw < this.#intervalMs) return;
    this.#lastDraw = now;
    this.#write(`\r\x1b[2K${this.line()}`);
  }
}

/** Formats milliseconds as `mm:ss` (or `h:mm:ss`). */
export function formatElapsed(ms: number): string {
  const total = Math.floor(ms / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const mmss = `${String(m).padStart(2, "0")}:${String(s).padStart(2, "0")}`;
  return h > 0 ? `${h}:${mmss}` : mmss;
}
