/**
 * The market-ingestor: publishes `Tick`s to `market.ticks` from a seeded synthetic market or
 * a recorded file, continuing each symbol's sequence from the log after a restart. The role
 * is `main.ts market-ingestor` (./main.ts); the parts below are its library.
 *
 * @module
 */
export {
  MarketIngestor,
  type MarketIngestorOptions,
  type PublishTicks,
} from "./market_ingestor.ts";
export { ReplayFeed, SyntheticFeed, type TickFeed } from "./tick_feed.ts";
export { type Quote, SyntheticMarket, type SyntheticMarketOptions } from "./synthetic_market.ts";
export { formatTickFile, readTickFile, type RecordedTick, tickFileFormat } from "./tick_file.ts";
export { type LastTick, recoverLastTicks } from "./recover_last_ticks.ts";
export { generateTicks } from "./gen_ticks.ts";
