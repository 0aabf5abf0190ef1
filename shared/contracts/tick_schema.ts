/**
 * The contract of a `Tick` on `market.ticks`: its schema, and its decoding and validation for
 * every consumer (the stream-processor, the executor's price feed, the ingestor's sequence
 * recovery).
 *
 * @module
 */
import { z } from "zod";
import { Tick } from "@trading/proto";
import { decodeMessage } from "./decode_message.ts";

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

/**
 * Decodes and validates a tick. Returns it, or throws `InvalidMessageError` naming what was
 * wrong.
 */
export function decodeTick(bytes: Uint8Array | null): Tick {
  return decodeMessage("tick", Tick, tickSchema, bytes);
}
