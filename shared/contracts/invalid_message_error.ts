/**
 * The error of a message that cannot be used: the reason a dead letter carries to
 * `orders.dlq`.
 *
 * @module
 */

/** Thrown for a message that is not a valid tick (or command, or event): the DLQ reason. */
export class InvalidMessageError extends Error {
  /** `undecodable` (not the protobuf message) or `invalid` (decoded, fails the schema). */
  readonly kind: "undecodable" | "invalid";
  constructor(kind: "undecodable" | "invalid", message: string) {
    super(message);
    this.name = "InvalidMessageError";
    this.kind = kind;
  }
}
