/**
 * Decoding and validation of an `OrderCommand` read from `orders.commands` (by the executor,
 * and by the verifier, which must not expect an event for a command the executor rightly
 * sent to the dead-letter topic).
 *
 * @module
 */
import { z } from "zod";
import { OrderCommand, Side } from "@trading/proto";
import { describeIssue, SYMBOL_PATTERN } from "@trading/market-ingestor/tick-schema";
import { InvalidMessageError } from "@trading/shared/invalid-message-error";

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
 * Decodes and validates a command. Returns it, or throws {@linkcode InvalidMessageError}
 * naming what was wrong.
 */
export function decodeCommand(bytes: Uint8Array | null): OrderCommand {
  if (bytes === null) {
    throw new InvalidMessageError("undecodable", "Empty command: expected bytes");
  }
  let command: OrderCommand;
  try {
    command = OrderCommand.decode(bytes);
  } catch (error) {
    throw new InvalidMessageError(
      "undecodable",
      `Undecodable command: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  const parsed = commandSchema.safeParse(command);
  if (!parsed.success) {
    throw new InvalidMessageError("invalid", `Invalid command ${describeIssue(parsed.error)}`);
  }
  return command;
}

/**
 * The bytes of a command that identify it: everything but its creation time, which differs
 * when the stream-processor re-emits the same order after a crash. The Raft state machine
 * hashes these to tell a re-emitted order (same bytes) from a reused id (other bytes).
 */
export function canonicalCommandBytes(command: OrderCommand): Uint8Array {
  return OrderCommand.encode({ ...command, createdAtUs: 0 }).finish();
}
