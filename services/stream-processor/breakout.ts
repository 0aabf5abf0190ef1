/**
 * The breakout strategy: when a symbol's price rises above the highest price of the previous
 * `window` ticks it goes long, when it falls below the lowest it goes short, sized toward a
 * target position like {@linkcode MovingAverageCrossover}.
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

/** Parameters of {@linkcode Breakout}. */
export interface BreakoutOptions {
  window: number;
  /** Prices needed before the first trade (default `window`). */
  minTicks?: number;
  maxPosition: number;
  maxOrderQuantity: number;
}

const snapshotSchema = z.object({
  v: z.literal(1),
  prices: z.array(z.number().int().positive()),
  position: z.number().int(),
});

type BreakoutState = z.infer<typeof snapshotSchema>;

/** The channel breakout strategy with position-aware sizing (id `brk`). */
export class Breakout implements Strategy {
  readonly id: string = "brk";
  readonly options: BreakoutOptions;

  constructor(
    options: BreakoutOptions = { window: 30, minTicks: 2, maxPosition: 60, maxOrderQuantity: 30 },
  ) {
    if (!(Number.isInteger(options.window) && options.window >= 2)) {
      throw new Error(`Invalid breakout window ${options.window}: expected an integer >= 2`);
    }
    this.options = options;
  }

  restore(symbol: string, snapshot: string | undefined): StrategyInstance {
    const fresh: BreakoutState = { v: 1, prices: [], position: 0 };
    const state = restoreState(this, symbol, snapshot, snapshotSchema, fresh);
    return new BreakoutInstance(this.options, state);
  }
}

class BreakoutInstance implements StrategyInstance {
  #options: BreakoutOptions;
  #state: BreakoutState;

  constructor(options: BreakoutOptions, state: BreakoutState) {
    this.#options = options;
    this.#state = state;
  }

  onTick(tick: Tick): OrderIntent | undefined {
    const { window, maxPosition, maxOrderQuantity } = this.#options;
    const state = this.#state;
    let intent: OrderIntent | undefined;
    // The channel is the last `window` prices, or as many as seen once there are
    // `minTicks`: a fresh symbol trades within a few ticks, so that a pipeline fed at the
    // default 1 tick/s shows orders seconds after it starts.
    if (state.prices.length >= Math.min(window, this.#options.minTicks ?? window)) {
      const high = Math.max(...state.prices);
      const low = Math.min(...state.prices);
      const target = tick.price > high ? maxPosition : tick.price < low ? -maxPosition : undefined;
      if (target !== undefined) {
        intent = orderTowards(state.position, target, maxOrderQuantity, tick);
        if (intent) state.position += positionDelta(intent);
      }
    }
    state.prices.push(tick.price);
    if (state.prices.length > window) state.prices.shift();
    return intent;
  }

  snapshot(): string {
    return JSON.stringify(this.#state);
  }
}
