/**
 * The contract of an `OrderCommand` on `orders.commands`: its schema, its decoding and
 * validation (by the executor, and by the verifier, which must not expect an event for a
 * command the executor rightly sent to the dead-letter topic), and the bytes that identify it.
 *
 * @module
 */
import { z } from "zod";
import { OrderCommand, Side } from "@trading/proto";
import { decodeMessage } from "./decode_message.ts";
import { SYMBOL_PATTERN } from "./tick_schema.ts";

const positiveInt = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);

/** Order ids: 1-128 letters, digits, `.`, `_` or `-`. */
export const ORDER_ID_PATTERN = /^[A-Za-z0-9._-]{1,128}$/;

/** The schema of a valid command. */
export const commandSchema = z.object({
  orderId: z.string().regex(ORDER_ID_PATTERN, "expected 1-128 letters, digits, . _ or -"),
  symbol: z.string().regex(SYMBOL_PATTERN, "expected 1-32 letters, digits, . _ or -"),
  side: z.union([z.literal(Side.SIDE_BUY), z.literal(Side.SIDE_SELL)], {
    error: "expected SIDE_BUY or SIDE_SELL",
  }),
  quantity: positiveInt,
  limitPrice: positiveInt,
  strategyId: z.string().regex(/^[A-Za-z0-9_]{1,32}$/, "expected a strategy id"),
  tickSequence: positiveInt,
  tickCreatedAtUs: positiveInt,
  createdAtUs: positiveInt,
});

/**
 * Decodes and validates a command. Returns it, or throws `InvalidMessageError` naming what
 * was wrong.
 */
export function decodeCommand(bytes: Uint8Array | null): OrderCommand {
  return decodeMessage("command", OrderCommand, commandSchema, bytes);
}

/**
 * The bytes of a command that identify it: everything but its creation time, which differs
 * when the stream-processor re-emits the same order after a crash. The Raft state machine
 * hashes these to tell a re-emitted order (same bytes) from a reused id (other bytes).
 */
export function canonicalCommandBytes(command: OrderCommand): Uint8Array {
  return OrderCommand.encode({ ...command, createdAtUs: 0 }).finish();
}
