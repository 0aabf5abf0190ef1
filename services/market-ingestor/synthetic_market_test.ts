import assert from "node:assert/strict";
import { SyntheticMarket } from "./synthetic_market.ts";

Deno.test("SyntheticMarket gives the same quotes for the same seed", () => {
  const a = new SyntheticMarket({ symbols: ["AAA", "BBB"], seed: 7 });
  const b = new SyntheticMarket({ symbols: ["AAA", "BBB"], seed: 7 });
  const c = new SyntheticMarket({ symbols: ["AAA", "BBB"], seed: 8 });
  const take = (m: SyntheticMarket) => Array.from({ length: 50 }, () => m.next());
  const quotes = take(a);
  assert.deepEqual(take(b), quotes);
  assert.notDeepEqual(take(c), quotes);
});

Deno.test("SyntheticMarket visits symbols round-robin with integer prices and bid <= price <= ask", () => {
  const market = new SyntheticMarket({ symbols: ["AAA", "BBB", "CCC"], seed: 1 });
  for (let i = 0; i < 3000; i++) {
    const q = market.next();
    assert.equal(q.symbol, ["AAA", "BBB", "CCC"][i % 3]);
    for (const value of [q.price, q.size, q.bid, q.ask]) {
      assert.ok(Number.isSafeInteger(value) && value > 0, `${value} is a positive integer`);
    }
    assert.ok(q.bid < q.price && q.price < q.ask);
  }
});

Deno.test("SyntheticMarket resumes a symbol from its last price", () => {
  const market = new SyntheticMarket({
    symbols: ["AAA"],
    seed: 1,
    resumeFrom: new Map([["AAA", { sequence: 10, price: 20_000 }]]),
  });
  const q = market.next();
  assert.ok(Math.abs(q.price - 20_000) <= 20, `price ${q.price} continues from 20000`);
});
