/**
 * The `topics` role: `main.ts topics [create|list]` against whatever `KAFKA_BROKERS` names
 * (the embedded broker or a real Kafka/Redpanda cluster, through the same client).
 *
 * - `create` (default): creates the pipeline's topics that are missing (3 partitions each, the
 *   cluster's default replication factor).
 * - `list`: prints every topic with its partition count.
 *
 * @module
 */
import { kafkaEnv, loadConfig, oneOf } from "@trading/shared/config";
import { createKafka, ensureTopics } from "@trading/shared/kafka";
import { setupLogging } from "@trading/shared/log";

const USAGE = "Usage: main.ts topics [create|list]";

/** Runs `topics create` or `topics list`; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  const action = args[0] ?? "create";
  if ((action !== "create" && action !== "list") || args.length > 1) {
    const unknown = args.length > 1 ? args.slice(1).join(" ") : action;
    console.error(`Unknown argument "${unknown}": expected create or list\n\n${USAGE}`);
    return 2;
  }
  const config = loadConfig({
    ...kafkaEnv,
    LOG_LEVEL: oneOf(["debug", "info", "warn", "error"] as const, "warn"),
  });
  await setupLogging("topics", config.LOG_LEVEL);
  const kafka = createKafka({ clientId: "trading-topics", brokers: config.KAFKA_BROKERS });
  if (action === "create") {
    const created = await ensureTopics(kafka);
    console.log(
      created.length > 0 ? `created ${created.join(", ")}` : "all topics exist already",
    );
    return 0;
  }
  const admin = kafka.admin();
  await admin.connect();
  try {
    const names = (await admin.listTopics()).sort();
    const { topics } = await admin.fetchTopicMetadata({ topics: names });
    const width = Math.max(5, ...names.map((n) => n.length));
    console.log(`${"TOPIC".padEnd(width)}  PARTITIONS`);
    for (const topic of topics.sort((a, b) => a.name.localeCompare(b.name))) {
      console.log(`${topic.name.padEnd(width)}  ${topic.partitions.length}`);
    }
  } finally {
    await admin.disconnect();
  }
  return 0;
}
