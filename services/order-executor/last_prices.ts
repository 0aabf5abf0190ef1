/**
 * The last traded price of every symbol, for the executor's price-band check: a reader of
 * `market.ticks` (all partitions, no consumer group: every executor needs every price) that
 * starts a little before the end of each partition and then follows it.
 *
 * @module
 */
import type { Tick } from "@trading/proto";
import { counter } from "@trading/shared/metrics";
import type { Logger } from "@trading/shared/log";
import { errorMessage, sleep } from "@trading/shared/retry";
import type { PartitionReader } from "@trading/shared/partition-reader";
import { decodeTick } from "@trading/shared/tick-schema";

/** Options of {@linkcode LastPrices}. */
export interface LastPricesOptions {
  reader: PartitionReader;
  topic: string;
  log: Logger;
  /** How many records before the end of each partition to start from. Default 5000. */
  tail?: number;
  /** Long-poll time of each fetch, ms. Default 250. */
  maxWaitMs?: number;
}

const skippedTicks = counter(
  "price_feed_skipped_ticks_total",
  "Ticks the executor's price feed could not use (the stream-processor dead-letters them)",
);

/** Follows `market.ticks` and remembers the last price and sequence per symbol. */
export class LastPrices {
  #o: Required<LastPricesOptions>;
  #last = new Map<string, { price: number; sequence: number }>();
  #waiters = new Set<() => void>();
  #caughtUp = false;
  #running: Promise<void> | undefined;
  #stop = new AbortController();

  constructor(options: LastPricesOptions) {
    this.#o = { tail: 5000, maxWaitMs: 250, ...options };
  }

  /** True once the feed has read up to the end of every partition as it was at start. */
  get caughtUp(): boolean {
    return this.#caughtUp;
  }

  /** The last price of `symbol`, if any tick of it was seen. */
  price(symbol: string): number | undefined {
    return this.#last.get(symbol)?.price;
  }

  /**
   * Returns the last price of `symbol` once a tick with at least `sequence` was seen, or
   * whatever is known after `timeoutMs` (a command is normally read after its tick, so this
   * rarely waits).
   */
  async priceAfter(
    symbol: string,
    sequence: number,
    timeoutMs: number,
  ): Promise<number | undefined> {
    const deadline = Date.now() + timeoutMs;
    while ((this.#last.get(symbol)?.sequence ?? 0) < sequence && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.#waiters.delete(done);
          resolve();
        };
        const timer = setTimeout(done, Math.max(1, deadline - Date.now()));
        this.#waiters.add(done);
      });
    }
    return this.price(symbol);
  }

  /** Applies one tick (also used by tests). */
  observe(tick: Tick): void {
    const last = this.#last.get(tick.symbol);
    if (last && last.sequence >= tick.sequence) return;
    this.#last.set(tick.symbol, { price: tick.price, sequence: tick.sequence });
  }

  /** Starts following the topic; resolves once caught up with its end. */
  async start(): Promise<void> {
    const { reader, topic, tail } = this.#o;
    const offsets = await reader.offsets(topic);
    const positions = new Map(offsets.map((o) => [o.partition, Math.max(o.low, o.high - tail)]));
    const ends = new Map(offsets.map((o) => [o.partition, o.high]));
    const reachedEnd = () =>
      [...ends].every(([partition, end]) => (positions.get(partition) ?? 0) >= end);
    if (reachedEnd()) this.#caughtUp = true;
    let resolveCaughtUp!: () => void;
    const caughtUp = new Promise<void>((resolve) => (resolveCaughtUp = resolve));
    if (this.#caughtUp) resolveCaughtUp();
    this.#running = this.#follow(positions, () => {
      if (!this.#caughtUp && reachedEnd()) {
        this.#caughtUp = true;
        resolveCaughtUp();
      }
    });
    await Promise.race([caughtUp, this.#running]);
  }

  async #follow(positions: Map<number, number>, afterFetch: () => void): Promise<void> {
    const signal = this.#stop.signal;
    let failures = 0;
    while (!signal.aborted) {
      try {
        const { records } = await this.#o.reader.fetchMany(this.#o.topic, positions, {
          maxWaitMs: this.#o.maxWaitMs,
        });
        failures = 0;
        for (const record of records) {
          positions.set(record.partition, record.offset + 1);
          try {
            this.observe(decodeTick(record.value));
          } catch {
            skippedTicks.inc();
          }
        }
        afterFetch();
        if (records.length > 0) { for (const wake of [...this.#waiters]) wake(); }
      } catch (error) {
        if (signal.aborted) break;
        failures++;
        if (failures === 1 || failures % 20 === 0) {
          this.#o.log.warn("price feed fetch failed ({failures}): {error}", {
            failures,
            error: errorMessage(error),
          });
        }
        await sleep(Math.min(2000, 100 * failures), signal).catch(() => {});
      }
    }
  }

  /** Stops following (waits for the fetch in flight). */
  async stop(): Promise<void> {
    this.#stop.abort();
    for (const wake of [...this.#waiters]) wake();
    await this.#running;
  }
}
