/**
 * A test harness: runs `fn` against a fresh in-process broker on a free port with a temporary
 * data dir, and always closes both.
 *
 * @module
 */
import { type Broker, type BrokerOptions, startBroker } from "@trading/broker";
import { tempDir } from "./temp_dir.ts";

/** Starts a broker (port 0, temp dir), runs `fn`, then closes the broker and removes the dir. */
export async function withBroker<T>(
  options: Omit<BrokerOptions, "dataDir">,
  fn: (broker: Broker) => Promise<T>,
): Promise<T> {
  await using dir = await tempDir("broker-test-");
  const broker = await startBroker({ port: 0, ...options, dataDir: dir.path });
  try {
    return await fn(broker);
  } finally {
    await broker.close();
  }
}
