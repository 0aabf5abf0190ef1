/**
 * The `broker` role: the embedded Kafka-protocol broker as a process. Kafka on BROKER_PORT,
 * `/healthz`, `/readyz` and `/metrics` on PORT_HTTP; SIGTERM/SIGINT flush and close every
 * segment, then exit 0.
 *
 * @module
 */
import { registry } from "@trading/shared/metrics";
import { errorMessage } from "@trading/shared/retry";
import { startService } from "@trading/shared/service";
import { type Broker, startBroker } from "./broker.ts";
import { loadBrokerConfig } from "./config.ts";

/** Runs the broker until it is shut down; returns the exit code. */
export async function main(_args: string[]): Promise<number> {
  const config = loadBrokerConfig();
  const service = await startService({
    name: "broker",
    logLevel: config.logLevel,
    httpPort: config.httpPort,
  });
  let broker: Broker | undefined;
  service.health.addCheck("broker", () => broker !== undefined ? true : "recovering the log");
  try {
    broker = await startBroker({ ...config.broker, metricsRegistry: registry });
  } catch (error) {
    service.log.error("broker failed to start: {error}", { error: errorMessage(error) });
    await service.shutdown.trigger("start-up failed");
    return 1;
  }
  const started = broker;
  service.shutdown.defer("broker", () => started.close());
  return await service.shutdown.done;
}
