import assert from "node:assert/strict";
import { OrderEvent, OrderStatus } from "@trading/proto";
import { decodeEvent } from "./event_schema.ts";

const valid = {
  orderId: "mac-AAPL-42",
  status: OrderStatus.ORDER_STATUS_REJECTED,
  reason: "max_quantity",
  executorId: "order-executor",
  raftIndex: 12,
  tickCreatedAtUs: 1_700_000_000_000_000,
  commandCreatedAtUs: 1_700_000_000_000_500,
  createdAtUs: 1_700_000_000_001_000,
};

function bytes(event: Partial<OrderEvent>): Uint8Array {
  return OrderEvent.encode(OrderEvent.fromPartial(event)).finish();
}

Deno.test("decodeEvent() accepts an accepted or rejected event of an order id", () => {
  assert.deepEqual(decodeEvent(bytes(valid)), OrderEvent.fromPartial(valid));
  const accepted = { ...valid, status: OrderStatus.ORDER_STATUS_ACCEPTED, reason: "" };
  assert.equal(decodeEvent(bytes(accepted)).status, OrderStatus.ORDER_STATUS_ACCEPTED);
});

Deno.test("decodeEvent() rejects an event without a status or an executor", () => {
  assert.throws(
    () => decodeEvent(bytes({ ...valid, status: OrderStatus.ORDER_STATUS_UNSPECIFIED })),
    /Invalid event status: expected ACCEPTED or REJECTED$/,
  );
  assert.throws(
    () => decodeEvent(bytes({ ...valid, executorId: "" })),
    /Invalid event executorId/,
  );
  assert.throws(() => decodeEvent(null), /Empty event: expected bytes$/);
});
