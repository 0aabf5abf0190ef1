/**
 * The contract of an `OrderEvent` on `orders.events`: its schema, and its decoding and
 * validation (by the verifier and by anyone consuming the executor's output).
 *
 * @module
 */
import { z } from "zod";
import { OrderEvent, OrderStatus } from "@trading/proto";
import { ORDER_ID_PATTERN } from "./command_schema.ts";
import { decodeMessage } from "./decode_message.ts";

const nonNegativeInt = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);

/** The schema of a valid event. */
export const eventSchema = z.object({
  orderId: z.string().regex(ORDER_ID_PATTERN, "expected an order id"),
  status: z.union([
    z.literal(OrderStatus.ORDER_STATUS_ACCEPTED),
    z.literal(OrderStatus.ORDER_STATUS_REJECTED),
  ], { error: "expected ACCEPTED or REJECTED" }),
  executorId: z.string().min(1),
  raftIndex: nonNegativeInt,
  tickCreatedAtUs: nonNegativeInt,
  commandCreatedAtUs: nonNegativeInt,
  createdAtUs: nonNegativeInt,
});

/** Decodes and validates an event; throws `InvalidMessageError` naming the problem. */
export function decodeEvent(bytes: Uint8Array | null): OrderEvent {
  return decodeMessage("event", OrderEvent, eventSchema, bytes);
}
