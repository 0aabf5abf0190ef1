import assert from "node:assert/strict";
import { InvalidMessageError } from "./invalid_message_error.ts";

Deno.test("InvalidMessageError carries its kind, the dead letter's reason, beside its message", () => {
  const error = new InvalidMessageError("invalid", "Invalid tick price 0: expected > 0");
  assert.ok(error instanceof Error);
  assert.equal(error.name, "InvalidMessageError");
  assert.equal(error.kind, "invalid");
  assert.equal(error.message, "Invalid tick price 0: expected > 0");
  assert.equal(new InvalidMessageError("undecodable", "x").kind, "undecodable");
});
