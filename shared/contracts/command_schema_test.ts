import assert from "node:assert/strict";
import { OrderCommand, Side } from "@trading/proto";
import { canonicalCommandBytes, decodeCommand } from "./command_schema.ts";

const valid = {
  orderId: "mac-AAPL-42",
  symbol: "AAPL",
  side: Side.SIDE_BUY,
  quantity: 10,
  limitPrice: 10_051,
  strategyId: "mac",
  tickSequence: 42,
  tickCreatedAtUs: 1_700_000_000_000_000,
  createdAtUs: 1_700_000_000_000_500,
};

function bytes(command: Partial<OrderCommand>): Uint8Array {
  return OrderCommand.encode(OrderCommand.fromPartial(command)).finish();
}

Deno.test("decodeCommand() accepts a command with an order id, a side and positive integers", () => {
  assert.deepEqual(decodeCommand(bytes(valid)), OrderCommand.fromPartial(valid));
});

Deno.test("decodeCommand() rejects a missing order id, no side and a negative quantity", () => {
  assert.throws(() => decodeCommand(bytes({ ...valid, orderId: "" })), /Invalid command orderId/);
  assert.throws(
    () => decodeCommand(bytes({ ...valid, side: Side.SIDE_UNSPECIFIED })),
    /Invalid command side: expected SIDE_BUY or SIDE_SELL$/,
  );
  assert.throws(
    () => decodeCommand(bytes({ ...valid, quantity: -5 })),
    /Invalid command quantity/,
  );
});

Deno.test("canonicalCommandBytes() ignores the creation time and nothing else", () => {
  const command = OrderCommand.fromPartial(valid);
  const again = { ...command, createdAtUs: command.createdAtUs + 1_000_000 };
  assert.deepEqual(canonicalCommandBytes(again), canonicalCommandBytes(command));
  assert.notDeepEqual(
    canonicalCommandBytes({ ...command, quantity: 11 }),
    canonicalCommandBytes(command),
  );
});
