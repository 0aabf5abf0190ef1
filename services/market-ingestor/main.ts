/**
 * The `market-ingestor` role: publishes ticks to `market.ticks` from the seeded synthetic
 * market or a recorded file, continuing each symbol's sequence from the log. The control API
 * (GetStatus, SetRate, Pause, Resume) and gRPC health on PORT_GRPC, health and metrics on
 * PORT_HTTP.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { MarketIngestorService, Tick } from "@trading/proto";
import { createIdempotentProducer, createKafka, TOPICS } from "@trading/shared/kafka";
import { startService } from "@trading/shared/service";
import { retryStartUp, runStartUp } from "@trading/shared/start-up";
import { PartitionReader } from "@trading/shared/partition-reader";
import { loadMarketIngestorConfig } from "./config.ts";
import { ingestorApi } from "./ingestor_api.ts";
import { MarketIngestor } from "./market_ingestor.ts";
import { recoverLastTicks } from "./recover_last_ticks.ts";
import { SyntheticMarket } from "./synthetic_market.ts";
import { ReplayFeed, SyntheticFeed, type TickFeed } from "./tick_feed.ts";

/** Runs the ingestor until it is shut down; returns the exit code. */
export async function main(_args: string[]): Promise<number> {
  const config = loadMarketIngestorConfig();
  let ingestor: MarketIngestor | undefined;
  let synthetic: SyntheticFeed | undefined;
  const service = await startService({
    name: "market-ingestor",
    logLevel: config.logLevel,
    clusterSecret: config.clusterSecret,
    httpPort: config.httpPort,
    grpcPort: config.grpcPort,
    registerGrpc: (server) =>
      server.addService(MarketIngestorService, ingestorApi(() => ingestor, () => synthetic)),
  });
  const { log, shutdown, health } = service;
  health.addCheck("kafka", () => {
    if (ingestor?.failure) return `feed failed: ${ingestor.failure}`;
    return ingestor ? true : "connecting to Kafka and recovering sequences";
  });

  const kafka = createKafka({ clientId: "market-ingestor", brokers: config.kafkaBrokers });
  // Idempotent with one request in flight: a retried send cannot write a batch twice or
  // reorder batches, so every partition holds each symbol's sequences in increasing order.
  const producer = createIdempotentProducer(kafka);
  shutdown.defer("producer", () => producer.disconnect().catch(() => {}));
  shutdown.defer("ingestor", () => ingestor?.stop());

  return await runStartUp(service, async () => {
    const symbols = config.source === "replay"
      ? await ReplayFeed.symbols(config.replayFile!)
      : config.symbols;
    const last = await retryStartUp(service, async () => {
      await producer.connect();
      const reader = await PartitionReader.connect(kafka);
      try {
        // A topic not seen is not an empty one: sequences would restart at 0 over it.
        await reader.requireTopics([TOPICS.ticks]);
        return await recoverLastTicks(reader, TOPICS.ticks, symbols);
      } finally {
        await reader.close();
      }
    });
    log.info("continuing sequences {sequences}", {
      sequences: Object.fromEntries([...last].map(([s, t]) => [s, t.sequence])),
    });
    let feed: TickFeed;
    if (config.source === "replay") {
      feed = await ReplayFeed.open(config.replayFile!, config.replaySpeed, performance.now());
    } else {
      synthetic = new SyntheticFeed(
        new SyntheticMarket({ symbols, seed: config.seed, resumeFrom: last }),
        config.rate,
        performance.now(),
      );
      feed = synthetic;
    }
    const started = synthetic;
    ingestor = new MarketIngestor({
      feed,
      maxBatch: config.maxBatch,
      lingerMs: config.lingerMs,
      lastSequences: new Map([...last].map(([symbol, tick]) => [symbol, tick.sequence])),
      log,
      ...(started ? { rate: () => started.rate } : {}),
      publish: async (ticks) => {
        await producer.send({
          topic: TOPICS.ticks,
          acks: -1,
          messages: ticks.map((tick) => {
            const bytes = Tick.encode(tick).finish();
            return {
              key: tick.symbol,
              value: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
            };
          }),
        });
      },
    });
    ingestor.start();
    log.info("market-ingestor publishing {source} ticks", { source: feed.source });
  });
}
