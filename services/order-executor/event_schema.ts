/**
 * Decoding and validation of an `OrderEvent` read from `orders.events` (by the verifier and
 * by anyone consuming the executor's output).
 *
 * @module
 */
import { z } from "zod";
import { OrderEvent, OrderStatus } from "@trading/proto";
import { describeIssue } from "@trading/market-ingestor/tick-schema";
import { InvalidMessageError } from "@trading/shared/invalid-message-error";
import { ORDER_ID_PATTERN } from "@trading/stream-processor/command-schema";

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

/** Decodes and validates an event; throws {@linkcode InvalidMessageError} naming the problem. */
export function decodeEvent(bytes: Uint8Array | null): OrderEvent {
  if (bytes === null) throw new InvalidMessageError("undecodable", "Empty event: expected bytes");
  let event: OrderEvent;
  try {
    event = OrderEvent.decode(bytes);
  } catch (error) {
    throw new InvalidMessageError(
      "undecodable",
      `Undecodable event: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  const parsed = eventSchema.safeParse(event);
  if (!parsed.success) {
    throw new InvalidMessageError("invalid", `Invalid event ${describeIssue(parsed.error)}`);
  }
  return event;
}
