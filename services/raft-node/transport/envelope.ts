/**
 * Conversion between the core's transport messages and the generated `RaftEnvelope` of
 * raft.proto. The core's messages have the proto's field names (core/types.ts), so a message
 * is encoded as it is (the extra `type` tag is ignored by the encoder) and a decoded message
 * only gains its tag: no per-field copy on the hot path.
 *
 * @module
 */
import type { RaftEnvelope } from "@trading/proto/raft";
import type { Message, MessageType } from "../core/types.ts";

const MESSAGE_TYPES: ReadonlySet<string> = new Set<MessageType>([
  "appendEntries",
  "appendEntriesResponse",
  "requestVote",
  "requestVoteResponse",
  "installSnapshot",
  "installSnapshotResponse",
  "timeoutNow",
]);

/** Wraps a core message into the envelope of the `Stream` RPC. */
export function toEnvelope(message: Message): RaftEnvelope {
  // The proto interfaces are structurally the core's (same fields, mutable arrays); the
  // encoder only reads them.
  return { message: { $case: message.type, [message.type]: message } } as unknown as RaftEnvelope;
}

/** The proto request/response object of a core message, for the unary RPCs. */
export function toProto<T>(message: Message): T {
  return message as unknown as T;
}

/**
 * Unwraps a received envelope into a core message addressed to `self`. Throws on an empty
 * envelope, an unknown kind, a message for another node or a malformed entry, so that a
 * misrouted or corrupt message never reaches the core.
 */
export function fromEnvelope(envelope: RaftEnvelope, self: string): Message {
  const body = envelope.message;
  if (body === undefined) throw new Error("Invalid raft envelope: expected one message, got none");
  const payload = (body as Record<string, unknown>)[body.$case];
  return fromProto(body.$case, payload, self);
}

/** Tags a decoded proto message of kind `type` as a core message, after the same checks. */
export function fromProto(type: string, payload: unknown, self: string): Message {
  if (!MESSAGE_TYPES.has(type)) {
    throw new Error(`Invalid raft message kind "${type}": expected one of the RaftEnvelope cases`);
  }
  const message = payload as { type: string; to: string; from: string; entries?: unknown };
  if (message.to !== self) {
    throw new Error(`Invalid raft message for "${message.to}": expected messages for "${self}"`);
  }
  if (message.from === "") throw new Error("Invalid raft message: expected a sender id");
  if (type === "appendEntries") {
    for (const entry of message.entries as { type: number }[]) {
      if (entry.type !== 0 && entry.type !== 1) {
        throw new Error(`Invalid raft entry type ${entry.type}: expected 0 (normal) or 1 (config)`);
      }
    }
  }
  message.type = type;
  return message as unknown as Message;
}
