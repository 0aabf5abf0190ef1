/**
 * The strategy interface of the stream-processor: a strategy makes, per symbol, an instance
 * that sees that symbol's ticks in sequence order and may decide an order on each. The
 * instance's state must survive a crash, so it is saved as a snapshot (a JSON string) beside
 * the input offsets it covers, and restored from it.
 *
 * @module
 */
import type { z } from "zod";
import { Side, type Tick } from "@trading/proto";

/** An order a strategy decided on, before it gets an id and timestamps. */
export interface OrderIntent {
  side: Side.SIDE_BUY | Side.SIDE_SELL;
  quantity: number;
  /** Limit price in minor units. */
  limitPrice: number;
}

/** The per-symbol, stateful part of a strategy. */
export interface StrategyInstance {
  /** Sees the next tick of its symbol; returns the order to place, if any. Deterministic. */
  onTick(tick: Tick): OrderIntent | undefined;
  /** The state as a JSON string, from which {@linkcode Strategy.restore} rebuilds it. */
  snapshot(): string;
}

/** A trading strategy: a stable id (part of every order id it makes) and an instance factory. */
export interface Strategy {
  /** Letters, digits and `_` only: it is the first part of an order id. */
  readonly id: string;
  /**
   * Makes the instance of `symbol`, fresh when `snapshot` is undefined. Throws when the
   * snapshot is not one this strategy wrote.
   */
  restore(symbol: string, snapshot: string | undefined): StrategyInstance;
}

/**
 * Returns the state an instance of `strategy` for `symbol` starts from: `fresh` without a
 * snapshot, else the snapshot validated by `schema`. Throws when the snapshot is not one this
 * strategy wrote.
 */
export function restoreState<T>(
  strategy: Strategy,
  symbol: string,
  snapshot: string | undefined,
  schema: z.ZodType<T>,
  fresh: T,
): T {
  if (snapshot === undefined) return fresh;
  const parsed = schema.safeParse(JSON.parse(snapshot));
  if (!parsed.success) {
    throw new Error(
      `Invalid ${strategy.id} snapshot for ${symbol}: expected ${strategy.id} state v1`,
    );
  }
  return parsed.data;
}

/**
 * Position-aware sizing shared by the strategies: the order that moves `position` toward
 * `target`, at most `maxQuantity` at once, at the price that crosses the spread (buy at the
 * ask, sell at the bid). Returns undefined when already there.
 */
export function orderTowards(
  position: number,
  target: number,
  maxQuantity: number,
  tick: Tick,
): OrderIntent | undefined {
  const wanted = target - position;
  const quantity = Math.min(Math.abs(wanted), maxQuantity);
  if (quantity === 0) return undefined;
  return wanted > 0
    ? { side: Side.SIDE_BUY, quantity, limitPrice: tick.ask }
    : { side: Side.SIDE_SELL, quantity, limitPrice: tick.bid };
}

/** Returns the signed position change of an order. */
export function positionDelta(intent: OrderIntent): number {
  return intent.side === Side.SIDE_BUY ? intent.quantity : -intent.quantity;
}
