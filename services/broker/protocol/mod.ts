/**
 * The Kafka wire protocol as the broker speaks it, for code that talks to the broker below a
 * client library (the raw test client in `@trading/testing`): every served API's schemas and
 * key, the typed codec over them, the wire primitives and the error codes.
 *
 * @module
 */
export * from "./messages.ts";
export {
  type Decoded,
  decodeMessage,
  type Encodable,
  encodeMessage,
  type MessageSchema,
} from "./schema.ts";
export { DecodeError, Reader, Writer } from "./wire.ts";
export { ErrorCode } from "./error_codes.ts";
