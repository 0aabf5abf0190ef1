/**
 * The seeded synthetic market: a random walk per symbol with integer prices, sizes and a
 * bid/ask spread around the last price.
 *
 * @module
 */
import { hashSeed, SeededRandom } from "@trading/shared/seeded-random";

/** One market observation before it gets a sequence number and a creation time. */
export interface Quote {
  symbol: string;
  /** Last trade price in minor units. */
  price: number;
  size: number;
  bid: number;
  ask: number;
}

/** Options of {@linkcode SyntheticMarket}. */
export interface SyntheticMarketOptions {
  symbols: readonly string[];
  seed: number;
  /**
   * Where each symbol continues from after a restart: its last published sequence and price.
   * The walk is seeded from (seed, symbol, last sequence), so a restart at the same point
   * continues with the same ticks.
   */
  resumeFrom?: ReadonlyMap<string, { sequence: number; price: number }>;
}

/** Lowest price the walk may reach, in minor units. */
const MIN_PRICE = 100;

interface SymbolWalk {
  symbol: string;
  price: number;
  random: SeededRandom;
}

/**
 * A deterministic random walk over several symbols. {@linkcode SyntheticMarket.next} returns
 * the next quote, visiting the symbols round-robin so each gets an equal share of the rate.
 */
export class SyntheticMarket {
  #walks: SymbolWalk[];
  #cursor = 0;

  constructor({ symbols, seed, resumeFrom = new Map() }: SyntheticMarketOptions) {
    if (symbols.length === 0) throw new Error("Invalid symbols []: expected at least one symbol");
    this.#walks = symbols.map((symbol) => {
      const resume = resumeFrom.get(symbol);
      const random = new SeededRandom(hashSeed(seed, `${symbol}:${resume?.sequence ?? 0}`));
      // A fresh symbol starts somewhere between 50.00 and 500.00 (in cents).
      const price = resume?.price ?? random.int(5_000, 50_000);
      return { symbol, price, random };
    });
  }

  /** Returns the next quote of the next symbol in round-robin order. */
  next(): Quote {
    const walk = this.#walks[this.#cursor]!;
    this.#cursor = (this.#cursor + 1) % this.#walks.length;
    const { random } = walk;
    // Steps of up to 0.1% of the price keep the walk smooth enough for the strategies to
    // see trends, and the floor keeps every price a positive integer.
    const maxStep = Math.max(1, Math.floor(walk.price / 1000));
    walk.price = Math.max(MIN_PRICE, walk.price + random.int(-maxStep, maxStep));
    const halfSpread = Math.max(1, Math.floor(walk.price / 4000));
    return {
      symbol: walk.symbol,
      price: walk.price,
      size: random.int(1, 50) * 10,
      bid: walk.price - halfSpread,
      ask: walk.price + halfSpread,
    };
  }
}
