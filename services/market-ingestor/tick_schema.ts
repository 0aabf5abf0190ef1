/**
 * Decoding and validation of a `Tick` read from `market.ticks`: protobuf first, then zod,
 * because protobuf decodes many garbage inputs into a message of defaults (an empty symbol,
 * sequence 0) instead of failing.
 *
 * @module
 */
import { z } from "zod";
import { Tick } from "@trading/proto";
import { InvalidMessageError } from "@trading/shared/invalid-message-error";

/** Symbols: 1-32 letters, digits, `.`, `_` or `-`. */
export const SYMBOL_PATTERN = /^[A-Za-z0-9._-]{1,32}$/;

const positiveInt = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);

/** The schema of a valid tick. */
export const tickSchema = z.object({
  symbol: z.string().regex(SYMBOL_PATTERN, "expected 1-32 letters, digits, . _ or -"),
  sequence: positiveInt,
  price: positiveInt,
  size: positiveInt,
  bid: positiveInt,
  ask: positiveInt,
  createdAtUs: positiveInt,
  source: z.enum(["synthetic", "replay"]),
}).refine((t) => t.bid <= t.ask, { message: "expected bid <= ask", path: ["bid"] });

/** Describes the first zod issue as `field: message`. */
export function describeIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return "invalid";
  return `${issue.path.join(".") || "message"}: ${issue.message}`;
}

/**
 * Decodes and validates a tick. Returns it, or throws {@linkcode InvalidMessageError} naming
 * what was wrong.
 */
export function decodeTick(bytes: Uint8Array | null): Tick {
  if (bytes === null) throw new InvalidMessageError("undecodable", "Empty tick: expected bytes");
  let tick: Tick;
  try {
    tick = Tick.decode(bytes);
  } catch (error) {
    throw new InvalidMessageError(
      "undecodable",
      `Undecodable tick: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  const parsed = tickSchema.safeParse(tick);
  if (!parsed.success) {
    throw new InvalidMessageError("invalid", `Invalid tick ${describeIssue(parsed.error)}`);
  }
  return tick;
}
