/**
 * The executor's stateless risk checks, in order: max quantity, max notional, and the price
 * band around the last tick of the symbol. The max-position check needs the position over
 * every executor, so it is done by the Raft state machine (`ApplyRequest.max_position`).
 *
 * @module
 */
import { type OrderCommand, OrderStatus, type Outcome } from "@trading/proto";

/** The limits, from the executor's configuration. */
export interface RiskLimits {
  /** Largest quantity of one order. */
  maxQuantity: number;
  /** Largest quantity x limit price of one order, in minor units. */
  maxNotional: number;
  /** Largest distance of the limit price from the last traded price, in basis points. */
  priceBandBps: number;
  /** Largest absolute position per symbol (checked by the Raft state machine). */
  maxPosition: number;
}

/** The reasons a risk check gives (the state machine adds `max_position`). */
export const REJECT_REASONS = {
  maxQuantity: "max_quantity",
  maxNotional: "max_notional",
  priceBand: "price_band",
  noReferencePrice: "no_reference_price",
} as const;

/** An accepted outcome. */
export const ACCEPTED: Outcome = { status: OrderStatus.ORDER_STATUS_ACCEPTED, reason: "" };

function rejected(reason: string): Outcome {
  return { status: OrderStatus.ORDER_STATUS_REJECTED, reason };
}

/**
 * Returns the outcome of the stateless checks: accepted, or rejected with the first rule
 * that failed. `referencePrice` is the symbol's last traded price; without one the price band
 * cannot be checked and the order is rejected.
 */
export function checkRisk(
  command: OrderCommand,
  referencePrice: number | undefined,
  limits: RiskLimits,
): Outcome {
  if (command.quantity > limits.maxQuantity) return rejected(REJECT_REASONS.maxQuantity);
  // Both factors are below 2^53 but their product may not be: compare in bigint.
  if (BigInt(command.quantity) * BigInt(command.limitPrice) > BigInt(limits.maxNotional)) {
    return rejected(REJECT_REASONS.maxNotional);
  }
  if (referencePrice === undefined) return rejected(REJECT_REASONS.noReferencePrice);
  const distance = BigInt(Math.abs(command.limitPrice - referencePrice)) * 10_000n;
  if (distance > BigInt(limits.priceBandBps) * BigInt(referencePrice)) {
    return rejected(REJECT_REASONS.priceBand);
  }
  return ACCEPTED;
}
