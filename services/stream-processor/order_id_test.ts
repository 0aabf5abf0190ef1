import assert from "node:assert/strict";
import { orderIdFor } from "./order_id.ts";

Deno.test("orderIdFor() derives the same id from the same strategy, symbol and sequence", () => {
  assert.equal(orderIdFor("mac", "AAPL", 42), "mac-AAPL-42");
  assert.equal(orderIdFor("mac", "AAPL", 42), orderIdFor("mac", "AAPL", 42));
  assert.notEqual(orderIdFor("mac", "AAPL", 42), orderIdFor("brk", "AAPL", 42));
});

Deno.test("orderIdFor() rejects a strategy id with a dash and a sequence below 1", () => {
  assert.throws(() => orderIdFor("m-a", "AAPL", 1), /Invalid strategy id "m-a"/);
  assert.throws(() => orderIdFor("mac", "AAPL", 0), /Invalid tick sequence 0/);
});
