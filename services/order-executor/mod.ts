/**
 * The order-executor: risk checks, Raft de-duplication and exactly one `OrderEvent` per order
 * id through a SQLite outbox and its relay. The role is `main.ts order-executor` (./main.ts);
 * the parts below are its library.
 *
 * @module
 */
export { FencedError, OrderExecutor, type OrderExecutorOptions } from "./order_executor.ts";
export { OrderOutbox, type OutboxRow } from "./order_outbox.ts";
export { OutboxRelay } from "./outbox_relay.ts";
export { OrderRecorder, type RaftApplier } from "./order_recorder.ts";
export { checkRisk, REJECT_REASONS, type RiskLimits } from "./risk_checks.ts";
export { LastPrices } from "./last_prices.ts";
