/**
 * The market-ingestor's loop: takes the quotes that are due from its feed, gives each the
 * next sequence number of its symbol and a creation time, and publishes them as one batch,
 * waiting for the broker's acknowledgement before the next batch. A failed publish is
 * retried with the same sequence numbers until it succeeds, so sequences have no gaps.
 *
 * @module
 */
import { IngestorStatus, Tick } from "@trading/proto";
import { counter, gauge, histogram } from "@trading/shared/metrics";
import type { Logger } from "@trading/shared/log";
import { errorMessage, retry } from "@trading/shared/retry";
import { nowUs } from "@trading/shared/now-us";
import type { TickFeed } from "./tick_feed.ts";
import { MARKET_INGESTOR_DEFAULTS } from "./defaults.ts";

/** Publishes a batch of ticks; resolves once the broker acknowledged all of them. */
export type PublishTicks = (ticks: Tick[]) => Promise<void>;

/** Options of {@linkcode MarketIngestor}. */
export interface MarketIngestorOptions {
  feed: TickFeed;
  publish: PublishTicks;
  /** The last published sequence per symbol (from the log), to continue from. */
  lastSequences: ReadonlyMap<string, number>;
  log: Logger;
  /** Largest batch per publish. Default 5000. */
  maxBatch?: number;
  /**
   * Least time between two publishes, ms. Default 5. At high rates ticks gather into bigger
   * batches (fewer requests for the broker and every consumer); below 1000/s ticks / lingerMs
   * it adds nothing, as ticks are further apart than that anyway.
   */
  lingerMs?: number;
  /** The configured rate, reported in the status (synthetic feeds). */
  rate?: () => number;
}

const ticksPublished = counter("ticks_published_total", "Ticks acknowledged by the broker", [
  "source",
]);
const publishSeconds = histogram("tick_publish_seconds", "Time to publish one batch of ticks");
const rateGauge = gauge(
  "ingestor_rate_ticks_per_second",
  "Configured (synthetic) or measured (replay) tick rate",
);
const publishFailures = counter("tick_publish_failures_total", "Failed tick batch publishes");

/** Runs a feed into `market.ticks`. */
export class MarketIngestor {
  #o: Required<MarketIngestorOptions>;
  #sequences: Map<string, number>;
  #published = 0;
  #paused = false;
  #stop = new AbortController();
  #wake: (() => void) | undefined;
  #loop: Promise<void> | undefined;
  #finished = false;
  #failure: string | undefined;
  #lastPublishAt = -Infinity;
  #recent: Array<{ atMs: number; count: number }> = [];

  constructor(options: MarketIngestorOptions) {
    this.#o = {
      maxBatch: MARKET_INGESTOR_DEFAULTS.maxBatch,
      lingerMs: MARKET_INGESTOR_DEFAULTS.lingerMs,
      rate: () => this.#measuredRate(),
      ...options,
    };
    this.#sequences = new Map(options.lastSequences);
  }

  /** True once a replay has published its whole file. */
  get finished(): boolean {
    return this.#finished;
  }

  /** Why the loop stopped on its own (a replay file that turned out invalid), if it did. */
  get failure(): string | undefined {
    return this.#failure;
  }

  /** Starts publishing in the background. */
  start(): void {
    this.#loop ??= this.#run().catch((error) => {
      if (!this.#stop.signal.aborted) {
        this.#failure = errorMessage(error);
        this.#o.log.error("ingest loop failed: {error}", { error: errorMessage(error) });
      }
    });
  }

  /** The status served by the gRPC API. */
  status(): IngestorStatus {
    return IngestorStatus.fromPartial({
      source: this.#o.feed.source,
      ticksPerSecond: this.#o.rate(),
      paused: this.#paused,
      ticksPublished: this.#published,
      lastSequence: Object.fromEntries(this.#sequences),
    });
  }

  /** Pauses the feed (the batch in flight completes). */
  pause(): void {
    this.#paused = true;
  }

  /** Resumes the feed, pacing afresh (no burst for the paused time). */
  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.#o.feed.restart(performance.now());
    this.#wake?.();
  }

  /** Wakes the loop after a change of pace (a new rate). */
  nudge(): void {
    this.#wake?.();
  }

  #measuredRate(): number {
    const now = performance.now();
    this.#recent = this.#recent.filter((r) => now - r.atMs <= 1000);
    return this.#recent.reduce((n, r) => n + r.count, 0);
  }

  async #idle(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      const signal = this.#stop.signal;
      function done() {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        resolve();
      }
      this.#wake = done;
      signal.addEventListener("abort", done, { once: true });
    });
    this.#wake = undefined;
  }

  async #run(): Promise<void> {
    const { feed, log } = this.#o;
    const signal = this.#stop.signal;
    while (!signal.aborted) {
      if (this.#paused) {
        await this.#idle(1000);
        continue;
      }
      const now = performance.now();
      const wait = feed.untilNext(now);
      if (wait === undefined) {
        if (!this.#finished) {
          log.info("replay finished after {count} ticks", { count: this.#published });
        }
        this.#finished = true;
        await this.#idle(60_000);
        continue;
      }
      const linger = this.#lastPublishAt + this.#o.lingerMs - now;
      if (wait > 0 || linger > 0) {
        await this.#idle(Math.min(Math.max(wait, linger), 1000));
        continue;
      }
      this.#lastPublishAt = now;
      const quotes = await feed.take(now, this.#o.maxBatch);
      if (quotes.length === 0) continue;
      const createdAtUs = nowUs();
      const ticks = quotes.map((quote) => {
        const sequence = (this.#sequences.get(quote.symbol) ?? 0) + 1;
        this.#sequences.set(quote.symbol, sequence);
        return Tick.fromPartial({ ...quote, sequence, createdAtUs, source: feed.source });
      });
      await this.#publish(ticks);
    }
  }

  /** Publishes `ticks` until it succeeds or the loop is stopped (then it returns). */
  async #publish(ticks: Tick[]): Promise<void> {
    const signal = this.#stop.signal;
    const publishOnce = async () => {
      const started = performance.now();
      try {
        await this.#o.publish(ticks);
      } catch (error) {
        publishFailures.inc();
        throw error;
      }
      publishSeconds.observe((performance.now() - started) / 1000);
      this.#published += ticks.length;
      this.#recent.push({ atMs: performance.now(), count: ticks.length });
      ticksPublished.inc({ source: this.#o.feed.source }, ticks.length);
      rateGauge.set(this.#o.rate());
    };
    // The same ticks, with the same sequences, go again: no gap. The idempotent producer and
    // the stream-processor's per-symbol sequence check make a repeat harmless.
    await retry(publishOnce, {
      maxAttempts: Infinity,
      initialDelayMs: 100,
      maxDelayMs: 2000,
      signal,
      onRetry: (error, attempt) => {
        if (attempt === 1 || attempt % 10 === 0) {
          this.#o.log.warn("publishing {count} ticks failed (attempt {attempt}): {error}", {
            count: ticks.length,
            attempt,
            error: errorMessage(error),
          });
        }
      },
    }).catch((error) => {
      if (!signal.aborted) throw error;
    });
  }

  /** Stops the loop; the batch in flight completes or is abandoned with the signal. */
  async stop(): Promise<void> {
    this.#stop.abort();
    this.#wake?.();
    await this.#loop;
  }
}
