/**
 * The `stream-processor` role: consumes `market.ticks`, runs the strategies per symbol and
 * produces `OrderCommand`s to `orders.commands`, with its state saved in SQLite beside the
 * offsets it covers. Health and metrics on PORT_HTTP, gRPC health on PORT_GRPC.
 *
 * @module
 */
import { join } from "node:path";
import { createKafka, TOPICS } from "@trading/shared/kafka";
import { startService } from "@trading/shared/service";
import { exitOnFatal, retryStartUp, runStartUp } from "@trading/shared/start-up";
import { kafkaClusterId } from "@trading/shared/kafka-cluster-id";
import { loadStreamProcessorConfig } from "./config.ts";
import { StrategyStateStore } from "./strategy_state_store.ts";
import { StreamProcessor } from "./stream_processor.ts";
import { TickProcessor } from "./tick_processor.ts";

/** Runs the stream-processor until it is shut down; returns the exit code. */
export async function main(_args: string[]): Promise<number> {
  const config = loadStreamProcessorConfig();
  const service = await startService({
    name: "stream-processor",
    logLevel: config.logLevel,
    clusterSecret: config.clusterSecret,
    httpPort: config.httpPort,
    grpcPort: config.grpcPort,
  });
  const { log, shutdown, health } = service;
  await Deno.mkdir(config.dataDir, { recursive: true });
  const store = new StrategyStateStore(join(config.dataDir, "state.db"));
  const processor = new TickProcessor({
    strategies: config.strategies,
    store,
    topic: TOPICS.ticks,
  });
  const kafka = createKafka({ clientId: "stream-processor", brokers: config.kafkaBrokers });
  let running: StreamProcessor | undefined;
  health.addCheck("kafka", () => running?.readiness() ?? "connecting to Kafka");
  shutdown.defer("state store", () => store.close());
  shutdown.defer("stream processor", () => running?.stop());
  return await runStartUp(service, async () => {
    running = await retryStartUp(service, async () => {
      if (store.bindToCluster(await kafkaClusterId(kafka))) {
        log.warn("the saved state was made against another Kafka cluster: starting afresh");
      }
      return await StreamProcessor.start({
        kafka,
        processor,
        groupId: config.groupId,
        log,
        sessionTimeoutMs: config.sessionTimeoutMs,
        chunkSize: config.chunkSize,
        saveIntervalMs: config.saveIntervalMs,
        onFatal: exitOnFatal(service),
      });
    });
    log.info("stream-processor running with strategies {strategies}", {
      strategies: config.strategies.map((s) => s.id).join(","),
    });
  });
}
