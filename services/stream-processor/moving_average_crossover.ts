/**
 * The moving-average crossover strategy: when the short moving average of a symbol's price
 * crosses above the long one, it goes long; when it crosses below, it goes short. Orders are
 * sized toward a target position (long or short `maxPosition`), at most `maxOrderQuantity`
 * at once, so the position it believes it holds never leaves [-maxPosition, maxPosition].
 *
 * @module
 */
import { z } from "zod";
import type { Tick } from "@trading/proto";
import {
  type OrderIntent,
  orderTowards,
  positionDelta,
  restoreState,
  type Strategy,
  type StrategyInstance,
} from "./strategy.ts";

/** Parameters of {@linkcode MovingAverageCrossover}. */
export interface MovingAverageCrossoverOptions {
  shortWindow: number;
  longWindow: number;
  maxPosition: number;
  maxOrderQuantity: number;
}

const snapshotSchema = z.object({
  v: z.literal(1),
  prices: z.array(z.number().int().positive()),
  trend: z.union([z.literal(-1), z.literal(0), z.literal(1)]),
  position: z.number().int(),
});

type CrossoverState = z.infer<typeof snapshotSchema>;

/** The moving-average crossover strategy with position-aware sizing (id `mac`). */
export class MovingAverageCrossover implements Strategy {
  readonly id: string = "mac";
  readonly options: MovingAverageCrossoverOptions;

  constructor(
    options: MovingAverageCrossoverOptions = {
      shortWindow: 5,
      longWindow: 20,
      maxPosition: 100,
      maxOrderQuantity: 100,
    },
  ) {
    const { shortWindow, longWindow } = options;
    if (!(Number.isInteger(shortWindow) && shortWindow >= 1 && longWindow > shortWindow)) {
      throw new Error(
        `Invalid windows ${shortWindow}/${longWindow}: expected integers with 1 <= short < long`,
      );
    }
    this.options = options;
  }

  restore(symbol: string, snapshot: string | undefined): StrategyInstance {
    const fresh: CrossoverState = { v: 1, prices: [], trend: 0, position: 0 };
    const state = restoreState(this, symbol, snapshot, snapshotSchema, fresh);
    return new CrossoverInstance(this.options, state);
  }
}

class CrossoverInstance implements StrategyInstance {
  #options: MovingAverageCrossoverOptions;
  #state: CrossoverState;

  constructor(options: MovingAverageCrossoverOptions, state: CrossoverState) {
    this.#options = options;
    this.#state = state;
  }

  onTick(tick: Tick): OrderIntent | undefined {
    const { shortWindow, longWindow, maxPosition, maxOrderQuantity } = this.#options;
    const state = this.#state;
    state.prices.push(tick.price);
    if (state.prices.length > longWindow) state.prices.shift();
    if (state.prices.length < longWindow) return undefined;

    let longSum = 0;
    let shortSum = 0;
    state.prices.forEach((price, i) => {
      longSum += price;
      if (i >= longWindow - shortWindow) shortSum += price;
    });
    // Compare shortSum/shortWindow with longSum/longWindow without division: integer prices
    // stay exact, so the same ticks give the same decisions on every machine.
    const difference = shortSum * longWindow - longSum * shortWindow;
    const trend = difference > 0 ? 1 : difference < 0 ? -1 : state.trend;
    const crossed = state.trend !== 0 && trend !== state.trend;
    state.trend = trend;
    if (!crossed) return undefined;

    const intent = orderTowards(state.position, trend * maxPosition, maxOrderQuantity, tick);
    if (intent) state.position += positionDelta(intent);
    return intent;
  }

  snapshot(): string {
    return JSON.stringify(this.#state);
  }
}
