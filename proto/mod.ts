/**
 * Typed `trading.v1` messages and grpc-js services, generated from the .proto files beside
 * this module by `deno task proto`.
 *
 * @module
 */
export * from "./gen/trading/v1/market.ts";
export * from "./gen/trading/v1/orders.ts";
export * from "./gen/trading/v1/raft.ts";
