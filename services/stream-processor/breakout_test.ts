import assert from "node:assert/strict";
import { Side } from "@trading/proto";
import { Breakout } from "./breakout.ts";
import { strategyTick as tick } from "./testdata/strategy_tick.ts";

Deno.test("Breakout buys above the channel's high and sells below its low", () => {
  const instance = new Breakout({ window: 3, maxPosition: 10, maxOrderQuantity: 10 })
    .restore("AAA", undefined);
  const intents = [100, 101, 99, 102, 98, 97].map((p, i) => instance.onTick(tick(i + 1, p)));
  assert.deepEqual(intents, [
    undefined,
    undefined,
    undefined,
    { side: Side.SIDE_BUY, quantity: 10, limitPrice: 103 },
    { side: Side.SIDE_SELL, quantity: 10, limitPrice: 97 },
    { side: Side.SIDE_SELL, quantity: 10, limitPrice: 96 },
  ]);
});

Deno.test("Breakout trades a fresh symbol after minTicks prices", () => {
  const instance = new Breakout({ window: 30, minTicks: 2, maxPosition: 10, maxOrderQuantity: 5 })
    .restore("AAA", undefined);
  assert.equal(instance.onTick(tick(1, 100)), undefined);
  assert.equal(instance.onTick(tick(2, 100)), undefined);
  assert.deepEqual(instance.onTick(tick(3, 105)), {
    side: Side.SIDE_BUY,
    quantity: 5,
    limitPrice: 106,
  });
});
