/**
 * The one way a pipeline message read from Kafka is decoded and validated: protobuf first,
 * then zod, because protobuf decodes many garbage inputs into a message of defaults (an
 * empty symbol, sequence 0) instead of failing. A message that fails either step throws
 * {@linkcode InvalidMessageError}, whose kind is the reason its dead letter carries.
 *
 * @module
 */
import type { z } from "zod";
import { errorMessage } from "../runtime/retry.ts";
import { InvalidMessageError } from "./invalid_message_error.ts";

/** A generated protobuf message type (ts-proto), as far as decoding goes. */
export interface MessageCodec<T> {
  decode(bytes: Uint8Array): T;
}

/** Describes the first zod issue as `field: message`. */
function describeIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return "invalid";
  return `${issue.path.join(".") || "message"}: ${issue.message}`;
}

/**
 * Decodes `bytes` with `codec` and validates the message with `schema`. Returns the message,
 * or throws {@linkcode InvalidMessageError}: `undecodable` for no bytes or bytes that are not
 * the message (`Undecodable tick: ...`), `invalid` for a message that fails the schema
 * (`Invalid tick sequence: ...`); `name` is the message's name in those sentences.
 */
export function decodeMessage<T>(
  name: string,
  codec: MessageCodec<T>,
  schema: z.ZodType,
  bytes: Uint8Array | null,
): T {
  if (bytes === null) throw new InvalidMessageError("undecodable", `Empty ${name}: expected bytes`);
  let message: T;
  try {
    message = codec.decode(bytes);
  } catch (error) {
    throw new InvalidMessageError("undecodable", `Undecodable ${name}: ${errorMessage(error)}`);
  }
  const parsed = schema.safeParse(message);
  if (!parsed.success) {
    throw new InvalidMessageError("invalid", `Invalid ${name} ${describeIssue(parsed.error)}`);
  }
  return message;
}
