import assert from "node:assert/strict";
import { z } from "zod";
import { Tick } from "@trading/proto";
import { decodeMessage } from "./decode_message.ts";
import { InvalidMessageError } from "./invalid_message_error.ts";

const schema = z.object({ symbol: z.string().min(1, "expected a symbol") });

function failure(bytes: Uint8Array | null): InvalidMessageError {
  try {
    decodeMessage("tick", Tick, schema, bytes);
  } catch (error) {
    if (error instanceof InvalidMessageError) return error;
    throw error;
  }
  throw new Error("Expected decodeMessage() to throw");
}

Deno.test("decodeMessage() calls no bytes undecodable", () => {
  const error = failure(null);
  assert.equal(error.kind, "undecodable");
  assert.equal(error.message, "Empty tick: expected bytes");
});

Deno.test("decodeMessage() calls bytes that are not the message undecodable, with protobuf's reason", () => {
  const error = failure(new Uint8Array([0xff, 0xff, 0xff]));
  assert.equal(error.kind, "undecodable");
  assert.match(error.message, /^Undecodable tick: \S/);
});

Deno.test("decodeMessage() calls a message that fails the schema invalid, naming the field", () => {
  const error = failure(Tick.encode(Tick.fromPartial({ sequence: 3 })).finish());
  assert.equal(error.kind, "invalid");
  assert.equal(error.message, "Invalid tick symbol: expected a symbol");
});

Deno.test("decodeMessage() returns a valid message as protobuf decoded it", () => {
  const tick = decodeMessage(
    "tick",
    Tick,
    schema,
    Tick.encode(Tick.fromPartial({ symbol: "AAPL", sequence: 3 })).finish(),
  );
  assert.equal(tick.symbol, "AAPL");
  assert.equal(tick.sequence, 3);
});
