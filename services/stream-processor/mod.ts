/**
 * The stream-processor: per-symbol strategies turn ticks into `OrderCommand`s with
 * deterministic order ids; their state is saved in SQLite with the input offsets it covers.
 * The role is `main.ts stream-processor` (./main.ts); the parts below are its library.
 *
 * @module
 */
export { TickProcessor, type TickProcessorOptions, type TickRecord } from "./tick_processor.ts";
export { type PartitionState, StrategyStateStore } from "./strategy_state_store.ts";
export { StreamProcessor, type StreamProcessorOptions } from "./stream_processor.ts";
export type { OrderIntent, Strategy, StrategyInstance } from "./strategy.ts";
export { MovingAverageCrossover } from "./moving_average_crossover.ts";
export { Breakout } from "./breakout.ts";
export { orderIdFor } from "./order_id.ts";
