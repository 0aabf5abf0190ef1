import assert from "node:assert/strict";
import { Tick } from "@trading/proto";
import { decodeTick } from "./tick_schema.ts";

const valid = {
  symbol: "BRK.B",
  sequence: 7,
  price: 10_050,
  size: 3,
  bid: 10_049,
  ask: 10_051,
  createdAtUs: 1_700_000_000_000_000,
  source: "synthetic",
};

function bytes(tick: Partial<Tick>): Uint8Array {
  return Tick.encode(Tick.fromPartial(tick)).finish();
}

Deno.test("decodeTick() accepts a tick with a symbol, positive integers and bid <= ask", () => {
  assert.deepEqual(decodeTick(bytes(valid)), Tick.fromPartial(valid));
});

Deno.test("decodeTick() rejects protobuf defaults, a bad symbol, bid above ask and an unknown source", () => {
  const cases: Array<[Partial<Tick>, RegExp]> = [
    [{}, /Invalid tick symbol: expected 1-32 letters/],
    [{ ...valid, symbol: "A B" }, /Invalid tick symbol/],
    [{ ...valid, sequence: 0 }, /Invalid tick sequence/],
    [{ ...valid, bid: 10_052 }, /Invalid tick bid: expected bid <= ask$/],
    [{ ...valid, source: "guess" }, /Invalid tick source/],
  ];
  for (const [tick, message] of cases) {
    assert.throws(() => decodeTick(bytes(tick)), message, JSON.stringify(tick));
  }
});
