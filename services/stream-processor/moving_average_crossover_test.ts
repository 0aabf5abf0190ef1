import assert from "node:assert/strict";
import { Side } from "@trading/proto";
import { MovingAverageCrossover } from "./moving_average_crossover.ts";
import { strategyTick as tick } from "./testdata/strategy_tick.ts";

const options = { shortWindow: 2, longWindow: 4, maxPosition: 30, maxOrderQuantity: 20 };

Deno.test("MovingAverageCrossover buys at the ask when the short average crosses above", () => {
  const instance = new MovingAverageCrossover(options).restore("AAA", undefined);
  const prices = [100, 99, 98, 97, 96, 100, 104];
  const intents = prices.map((p, i) => instance.onTick(tick(i + 1, p)));
  assert.deepEqual(intents.slice(0, 5), [undefined, undefined, undefined, undefined, undefined]);
  const buy = intents.find((i) => i !== undefined);
  assert.deepEqual(buy, { side: Side.SIDE_BUY, quantity: 20, limitPrice: 101 });
});

Deno.test("MovingAverageCrossover never sizes its position beyond maxPosition", () => {
  const instance = new MovingAverageCrossover(options).restore("AAA", undefined);
  let position = 0;
  for (let i = 0; i < 2000; i++) {
    const price = 1000 + Math.round(50 * Math.sin(i / 4) + 20 * Math.sin(i / 1.3));
    const intent = instance.onTick(tick(i + 1, price));
    if (!intent) continue;
    assert.ok(intent.quantity > 0 && intent.quantity <= options.maxOrderQuantity);
    position += intent.side === Side.SIDE_BUY ? intent.quantity : -intent.quantity;
    assert.ok(Math.abs(position) <= options.maxPosition, `position ${position}`);
  }
});

Deno.test("MovingAverageCrossover continues identically from a snapshot", () => {
  const strategy = new MovingAverageCrossover(options);
  const prices = Array.from({ length: 200 }, (_, i) => 1000 + Math.round(30 * Math.sin(i / 5)));
  const straight = strategy.restore("AAA", undefined);
  const expected = prices.map((p, i) => straight.onTick(tick(i + 1, p)));

  let instance = strategy.restore("AAA", undefined);
  const actual = prices.map((p, i) => {
    if (i % 7 === 0) instance = strategy.restore("AAA", instance.snapshot());
    return instance.onTick(tick(i + 1, p));
  });
  assert.deepEqual(actual, expected);
  assert.ok(expected.some((intent) => intent !== undefined));
});

Deno.test("MovingAverageCrossover rejects a snapshot of another shape", () => {
  assert.throws(
    () => new MovingAverageCrossover(options).restore("AAA", '{"v":2}'),
    /Invalid mac snapshot for AAA: expected mac state v1/,
  );
});
