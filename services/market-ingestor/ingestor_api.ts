/**
 * The market-ingestor's gRPC control API (market.proto, service `MarketIngestor`): read the
 * status, change the rate of the synthetic feed, pause and resume.
 *
 * @module
 */
import { grpc } from "@trading/shared/grpc";
import type { IngestorStatus, MarketIngestorServer } from "@trading/proto";
import type { MarketIngestor } from "./market_ingestor.ts";
import type { SyntheticFeed } from "./tick_feed.ts";

/** The highest rate `SetRate` accepts, ticks per second. */
export const MAX_RATE = 100_000;

/**
 * Implements the service over a running ingestor (undefined while it starts: calls then
 * answer UNAVAILABLE). `synthetic` is the feed whose rate `SetRate` changes (undefined for a
 * replay, where the rate is the file's).
 */
export function ingestorApi(
  ingestor: () => MarketIngestor | undefined,
  synthetic: () => SyntheticFeed | undefined,
): MarketIngestorServer {
  const withIngestor = (
    callback: grpc.sendUnaryData<IngestorStatus>,
    fn: (running: MarketIngestor) => IngestorStatus | grpc.ServiceError,
  ) => {
    const running = ingestor();
    if (!running) {
      return callback({
        code: grpc.status.UNAVAILABLE,
        details: "The ingestor is starting: expected a call once it is ready",
      } as grpc.ServiceError);
    }
    const result = fn(running);
    if ("code" in result) callback(result);
    else callback(null, result);
  };
  return {
    getStatus: (_call, callback) => withIngestor(callback, (running) => running.status()),
    setRate: (call, callback) =>
      withIngestor(callback, (running) => {
        const rate = call.request.ticksPerSecond;
        const feed = synthetic();
        if (!feed) {
          return {
            code: grpc.status.FAILED_PRECONDITION,
            details: "A replay is paced by its file: expected INGESTOR_REPLAY_SPEED instead",
          } as grpc.ServiceError;
        }
        if (!(Number.isFinite(rate) && rate > 0 && rate <= MAX_RATE)) {
          return {
            code: grpc.status.INVALID_ARGUMENT,
            details: `Invalid ticks_per_second ${rate}: expected a number > 0 and <= ${MAX_RATE}`,
          } as grpc.ServiceError;
        }
        feed.setRate(rate, performance.now());
        running.nudge();
        return running.status();
      }),
    pause: (_call, callback) =>
      withIngestor(callback, (running) => {
        running.pause();
        return running.status();
      }),
    resume: (_call, callback) =>
      withIngestor(callback, (running) => {
        running.resume();
        return running.status();
      }),
  };
}
