import assert from "node:assert/strict";
import { OrderCommand, OrderStatus, Side } from "@trading/proto";
import { ACCEPTED, checkRisk, type RiskLimits } from "./risk_checks.ts";

const limits: RiskLimits = {
  maxQuantity: 100,
  maxNotional: 1_000_000,
  priceBandBps: 100,
  maxPosition: 500,
};

function command(quantity: number, limitPrice: number): OrderCommand {
  return OrderCommand.fromPartial({
    orderId: "o",
    symbol: "AAA",
    side: Side.SIDE_BUY,
    quantity,
    limitPrice,
  });
}

function reason(quantity: number, limitPrice: number, reference: number | undefined): string {
  const outcome = checkRisk(command(quantity, limitPrice), reference, limits);
  return outcome.status === OrderStatus.ORDER_STATUS_ACCEPTED ? "accepted" : outcome.reason;
}

Deno.test("checkRisk() accepts an order within every limit", () => {
  assert.deepEqual(checkRisk(command(100, 10_000), 10_000, limits), ACCEPTED);
});

Deno.test("checkRisk() rejects above max quantity, then max notional, in that order", () => {
  assert.equal(reason(101, 100, 100), "max_quantity");
  assert.equal(reason(101, 1_000_000, 100), "max_quantity");
  assert.equal(reason(100, 10_001, 10_001), "max_notional");
});

Deno.test("checkRisk() rejects a limit price outside the band around the last price", () => {
  assert.equal(reason(1, 10_100, 10_000), "accepted");
  assert.equal(reason(1, 9_900, 10_000), "accepted");
  assert.equal(reason(1, 10_101, 10_000), "price_band");
  assert.equal(reason(1, 9_899, 10_000), "price_band");
});

Deno.test("checkRisk() rejects when there is no last price for the symbol", () => {
  assert.equal(reason(1, 100, undefined), "no_reference_price");
});
