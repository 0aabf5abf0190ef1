/**
 * Where the ingestor's quotes come from and when they are due: the synthetic market at a
 * rate, or a recorded file at its own pace times a speed factor.
 *
 * @module
 */
import { SyntheticMarket } from "./synthetic_market.ts";
import type { Quote } from "./synthetic_market.ts";
import { readTickFile, type RecordedTick } from "./tick_file.ts";

/** A paced source of quotes. Times are `performance.now()` milliseconds. */
export interface TickFeed {
  readonly source: "synthetic" | "replay";
  /** Quotes due at `nowMs`, at most `max` of them (possibly none). */
  take(nowMs: number, max: number): Promise<Quote[]>;
  /** Milliseconds until the next quote is due (0 when overdue); undefined when finished. */
  untilNext(nowMs: number): number | undefined;
  /** Starts pacing afresh from `nowMs` (after a pause or a rate change): no burst to catch up. */
  restart(nowMs: number): void;
}

/** The synthetic market at a configurable rate (ticks per second over all symbols). */
export class SyntheticFeed implements TickFeed {
  readonly source = "synthetic" as const;
  #market: SyntheticMarket;
  #rate: number;
  #startMs = 0;
  #taken = 0;

  constructor(market: SyntheticMarket, ratePerSecond: number, nowMs: number) {
    this.#market = market;
    this.#rate = ratePerSecond;
    this.restart(nowMs);
  }

  /** Ticks per second. */
  get rate(): number {
    return this.#rate;
  }

  /** Changes the rate from `nowMs` on. */
  setRate(ratePerSecond: number, nowMs: number): void {
    this.#rate = ratePerSecond;
    this.restart(nowMs);
  }

  restart(nowMs: number): void {
    this.#startMs = nowMs;
    this.#taken = 0;
  }

  #due(nowMs: number): number {
    return Math.floor(((nowMs - this.#startMs) / 1000) * this.#rate) - this.#taken;
  }

  take(nowMs: number, max: number): Promise<Quote[]> {
    let due = this.#due(nowMs);
    if (due > Math.max(1, this.#rate)) {
      // More than a second behind, e.g. after the broker was down: skip the
      // backlog instead of bursting it, so the rate stays the configured one.
      this.restart(nowMs - 1000 / this.#rate);
      due = this.#due(nowMs);
    }
    const count = Math.max(0, Math.min(due, max));
    this.#taken += count;
    return Promise.resolve(Array.from({ length: count }, () => this.#market.next()));
  }

  untilNext(nowMs: number): number {
    const nextAt = this.#startMs + ((this.#taken + 1) / this.#rate) * 1000;
    return Math.max(0, nextAt - nowMs);
  }
}

/** A recorded file replayed at its recorded pace divided by `speed` (2 = twice as fast). */
export class ReplayFeed implements TickFeed {
  readonly source = "replay" as const;
  #ticks: AsyncGenerator<RecordedTick>;
  #speed: number;
  #next: RecordedTick | undefined;
  #finished = false;
  #startMs = 0;
  #startUs = 0;

  private constructor(ticks: AsyncGenerator<RecordedTick>, speed: number) {
    this.#ticks = ticks;
    this.#speed = speed;
  }

  /** Opens `path` and reads its first tick. */
  static async open(path: string, speed: number, nowMs: number): Promise<ReplayFeed> {
    if (!(speed > 0)) throw new Error(`Invalid replay speed ${speed}: expected a number > 0`);
    const feed = new ReplayFeed(readTickFile(path), speed);
    await feed.#advance();
    if (feed.#next) feed.#startUs = feed.#next.timeUs;
    feed.#startMs = nowMs;
    return feed;
  }

  /** The symbols in `path`, in order of first appearance (reads the whole file). */
  static async symbols(path: string): Promise<string[]> {
    const symbols = new Set<string>();
    for await (const tick of readTickFile(path)) symbols.add(tick.symbol);
    return [...symbols];
  }

  async #advance(): Promise<void> {
    const result = await this.#ticks.next();
    this.#next = result.done ? undefined : result.value;
    if (result.done) this.#finished = true;
  }

  #dueAtMs(tick: RecordedTick): number {
    return this.#startMs + (tick.timeUs - this.#startUs) / 1000 / this.#speed;
  }

  restart(nowMs: number): void {
    if (this.#next) {
      this.#startMs = nowMs;
      this.#startUs = this.#next.timeUs;
    }
  }

  async take(nowMs: number, max: number): Promise<Quote[]> {
    const out: Quote[] = [];
    while (this.#next && out.length < max && this.#dueAtMs(this.#next) <= nowMs) {
      const { timeUs: _timeUs, ...quote } = this.#next;
      out.push(quote);
      await this.#advance();
    }
    return out;
  }

  untilNext(nowMs: number): number | undefined {
    if (this.#finished || !this.#next) return undefined;
    return Math.max(0, this.#dueAtMs(this.#next) - nowMs);
  }
}
