/**
 * The `order-executor` role: consumes `orders.commands`, records every order through the
 * Raft cluster and publishes exactly one `OrderEvent` per order id to `orders.events` through
 * its SQLite outbox. Health and metrics on PORT_HTTP, gRPC health on PORT_GRPC.
 *
 * @module
 */
import { join } from "node:path";
import { createKafka } from "@trading/shared/kafka";
import { gauge } from "@trading/shared/metrics";
import { RaftClient } from "@trading/shared/raft-client";
import { errorMessage } from "@trading/shared/retry";
import { startService } from "@trading/shared/service";
import { exitOnFatal, retryStartUp, runStartUp } from "@trading/shared/start-up";
import { kafkaClusterId } from "@trading/shared/kafka-cluster-id";
import { loadOrderExecutorConfig } from "./config.ts";
import { OrderExecutor } from "./order_executor.ts";
import { OrderOutbox } from "./order_outbox.ts";

/** Runs the executor until it is shut down; returns the exit code. */
export async function main(_args: string[]): Promise<number> {
  const config = loadOrderExecutorConfig();
  const service = await startService({
    name: "order-executor",
    logLevel: config.logLevel,
    clusterSecret: config.clusterSecret,
    httpPort: config.httpPort,
    grpcPort: config.grpcPort,
  });
  const { log, shutdown, health } = service;

  await Deno.mkdir(config.dataDir, { recursive: true });
  const outbox = new OrderOutbox(join(config.dataDir, `${config.executorId}.outbox.db`));
  gauge("outbox_depth", "Outbox rows not yet published", [], function () {
    this.set(outbox.depth());
  });
  // In-flight Raft calls are abandoned only when the shutdown deadline is close: a graceful
  // stop finishes the batch in flight.
  const hardStop = new AbortController();
  const raft = new RaftClient({ addresses: config.raftAddresses, signal: hardStop.signal });
  const probe = new RaftClient({
    addresses: config.raftAddresses,
    maxAttempts: 1,
    deadlineMs: 1000,
  });
  let leaderKnown: string | true = "no Raft leader known yet";
  const probeLeader = async () => {
    try {
      await probe.leader();
      leaderKnown = true;
    } catch (error) {
      leaderKnown = `no Raft leader: ${errorMessage(error)}`;
    }
  };
  void probeLeader();
  const probeTimer = setInterval(() => void probeLeader(), 2000);
  health.addCheck("raft", () => leaderKnown);

  const kafka = createKafka({ clientId: config.executorId, brokers: config.kafkaBrokers });
  let executor: OrderExecutor | undefined;
  health.addCheck("kafka", () => executor?.readiness() ?? "connecting to Kafka");
  shutdown.defer("outbox", () => outbox.close());
  shutdown.defer("raft clients", () => {
    clearInterval(probeTimer);
    probe.close();
    raft.close();
  });
  shutdown.defer("executor", async () => {
    const abandon = setTimeout(() => hardStop.abort(new Error("shutdown deadline")), 6000);
    await executor?.stop();
    clearTimeout(abandon);
  });

  return await runStartUp(service, async () => {
    executor = await retryStartUp(service, async () => {
      if (outbox.bindToCluster(await kafkaClusterId(kafka))) {
        log.warn("the outbox was made against another Kafka cluster: starting afresh");
      }
      return await OrderExecutor.start({
        kafka,
        executorId: config.executorId,
        groupId: config.groupId,
        outbox,
        raft,
        limits: config.limits,
        log,
        priceWaitMs: config.priceWaitMs,
        chunkSize: config.chunkSize,
        outboxRetentionMs: config.outboxRetentionMs,
        transactions: config.transactions,
        transactionTimeoutMs: config.transactionTimeoutMs,
        sessionTimeoutMs: config.sessionTimeoutMs,
        hardStop: hardStop.signal,
        onFatal: exitOnFatal(service),
      });
    });
    log.info("order-executor {executorId} running", { executorId: config.executorId });
  });
}
