/**
 * Benchmark of the embedded broker (`deno task bench broker [--client=kafkajs|platformatic|both]`):
 * a JavaScript client's produce and consume throughput for 100-byte and 1 KiB values in
 * batches of 100 and 1,000 and its produce latency at a fixed rate (kafkajs, the services'
 * client, by default; @platformatic/kafka with `--client=platformatic`; the same cases for
 * both), and a raw-protocol load (pre-encoded produce requests, no client library cost) that
 * shows the broker itself. The broker runs as its own process
 * (`main.ts broker`, default sync flush: fdatasync before every acks=-1 answer), so client
 * and broker each have a core on a 2-core machine. Loopback only, bounded in time.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { fileURLToPath } from "node:url";
import { type Kafka, logLevel } from "kafkajs";
import { Consumer as PltConsumer, Producer as PltProducer } from "@platformatic/kafka";
import { createKafka } from "@trading/shared/kafka";
import { RawKafkaClient } from "@trading/testing/raw-kafka-client";
import * as M from "@trading/broker/protocol";
import { buildRecordBatch } from "@trading/broker/record-batch";
import { freePorts, waitFor } from "@trading/testing";
import { type BenchOptions, type BenchResult, percentile, round } from "./types.ts";

const MAIN = fileURLToPath(new URL("../main.ts", import.meta.url));
const SUITE = "broker";
const MB = 1024 * 1024;

interface BrokerProcess {
  address: string;
  httpPort: number;
  stop(): Promise<void>;
}

async function startBrokerProcess(flush: "sync" | "interval"): Promise<BrokerProcess> {
  const dataDir = await Deno.makeTempDir({ prefix: "bench-broker-" });
  const [kafkaPort, httpPort] = freePorts(2) as [number, number];
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "broker"],
    env: {
      BROKER_PORT: String(kafkaPort),
      PORT_HTTP: String(httpPort),
      BROKER_DATA_DIR: dataDir,
      BROKER_FLUSH: flush,
      BROKER_FLUSH_INTERVAL_MS: "200",
      LOG_LEVEL: "warn",
    },
    stdin: "piped",
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  await waitFor("broker ready", async () => {
    const response = await fetch(`http://127.0.0.1:${httpPort}/readyz`).catch(() => undefined);
    await response?.body?.cancel();
    return response?.status === 200;
  }, { timeoutMs: 30_000 });
  return {
    address: `127.0.0.1:${kafkaPort}`,
    httpPort,
    async stop() {
      child.kill("SIGTERM");
      await child.stdin.close().catch(() => {});
      await child.status;
      await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    },
  };
}

async function brokerRssMb(httpPort: number): Promise<number | undefined> {
  const text = await fetch(`http://127.0.0.1:${httpPort}/metrics`).then((r) => r.text()).catch(() =>
    ""
  );
  const match = /^process_resident_memory_bytes(?:\{[^}]*\})? (\d+(?:\.\d+)?(?:e\+\d+)?)$/m.exec(
    text,
  );
  return match ? round(Number(match[1]) / MB, 1) : undefined;
}

/** The services' own client (shared/kafka/kafka.ts), silent so that its logs do not cost time. */
function kafka(address: string): Kafka {
  return createKafka({
    clientId: "bench",
    brokers: [address],
    overrides: { logLevel: logLevel.NOTHING },
  });
}

/** The JavaScript clients the throughput and latency cases can run with. */
export const CLIENTS = ["kafkajs", "platformatic"] as const;
/** One of {@linkcode CLIENTS}. */
export type ClientName = (typeof CLIENTS)[number];

/**
 * What a throughput or latency case needs of a client: a producer that sends a batch of
 * values to partition 0 with acks=-1, and a group consumer from the beginning of a topic that
 * reports how many messages it has received. Both clients are used as a service would use
 * them: kafkajs through the project's factory, @platformatic/kafka with its defaults
 * (not idempotent, no compression, like kafkajs here).
 */
interface BenchClient {
  send(topic: string, values: Buffer[]): Promise<void>;
  closeProducer(): Promise<void>;
  consume(groupId: string, topic: string, onMessages: (count: number) => void): Promise<{
    close(): Promise<void>;
  }>;
}

function kafkajsClient(address: string): BenchClient {
  const client = kafka(address);
  const producer = client.producer({ allowAutoTopicCreation: false });
  let connected: Promise<void> | undefined;
  return {
    async send(topic, values) {
      await (connected ??= producer.connect());
      await producer.send({ topic, messages: values.map((value) => ({ value })), acks: -1 });
    },
    async closeProducer() {
      if (connected !== undefined) await producer.disconnect();
    },
    async consume(groupId, topic, onMessages) {
      const consumer = client.consumer({
        groupId,
        maxBytes: 64 * MB,
        maxBytesPerPartition: 16 * MB,
      });
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
      await consumer.run({
        autoCommit: false,
        eachBatch: ({ batch }) => {
          onMessages(batch.messages.length);
          return Promise.resolve();
        },
      });
      return { close: () => consumer.disconnect() };
    },
  };
}

function platformaticClient(address: string): BenchClient {
  const producer = new PltProducer({ clientId: "bench", bootstrapBrokers: [address] });
  return {
    async send(topic, values) {
      await producer.send({
        messages: values.map((value) => ({ topic, partition: 0, value })),
        acks: -1,
      });
    },
    closeProducer: () => producer.close(),
    async consume(groupId, topic, onMessages) {
      const consumer = new PltConsumer({
        clientId: "bench",
        groupId,
        bootstrapBrokers: [address],
        maxBytes: 64 * MB,
        maxWaitTime: 100,
      });
      const stream = await consumer.consume({
        topics: [topic],
        mode: "earliest",
        autocommit: false,
        maxBytesPerPartition: 16 * MB,
      });
      stream.on("data", () => onMessages(1));
      return {
        async close() {
          await stream.close();
          await consumer.close();
        },
      };
    },
  };
}

function benchClient(name: ClientName, address: string): BenchClient {
  return name === "kafkajs" ? kafkajsClient(address) : platformaticClient(address);
}

async function createTopic(broker: BrokerProcess, topic: string, partitions: number) {
  const admin = kafka(broker.address).admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: partitions }] });
  await admin.disconnect();
}

/** A client's produce then consume of `size`-byte messages in batches of `batch`. */
async function clientThroughput(
  clientName: ClientName,
  broker: BrokerProcess,
  size: number,
  batch: number,
  seconds: number,
  command: string,
): Promise<BenchResult[]> {
  const topic = `tp-${clientName}-${size}-${batch}`;
  await createTopic(broker, topic, 1);
  const client = benchClient(clientName, broker.address);
  const value = Buffer.alloc(size, 120);
  const values = Array.from({ length: batch }, () => value);
  const inFlight = 4;
  let produced = 0;
  await client.send(topic, [value]); // connect and fetch metadata outside the timing
  const started = performance.now();
  const deadline = started + seconds * 1000;
  await Promise.all(Array.from({ length: inFlight }, async () => {
    while (performance.now() < deadline) {
      await client.send(topic, values);
      produced += batch;
    }
  }));
  const produceSeconds = (performance.now() - started) / 1000;
  await client.closeProducer();
  const rss = await brokerRssMb(broker.httpPort);

  const total = produced + 1;
  let consumed = 0;
  const consumeStarted = performance.now();
  const done = Promise.withResolvers<void>();
  const consumer = await client.consume(`bench-${topic}`, topic, (count) => {
    consumed += count;
    if (consumed >= total) done.resolve();
  });
  const timeout = setTimeout(() => done.resolve(), 120_000);
  await done.promise;
  clearTimeout(timeout);
  const consumeSeconds = (performance.now() - consumeStarted) / 1000;
  await consumer.close();
  const params = {
    client: clientName,
    value_bytes: size,
    batch,
    acks: -1,
    in_flight: inFlight,
    duration_s: seconds,
    flush: "sync",
  };
  return [
    {
      suite: SUITE,
      case: `${clientName}-produce-${size}B-batch${batch}`,
      msgs_per_s: Math.round(produced / produceSeconds),
      mb_per_s: round((produced * size) / MB / produceSeconds),
      ...(rss === undefined ? {} : { rss_mb: rss }),
      params,
      command,
    },
    {
      suite: SUITE,
      case: `${clientName}-consume-${size}B-batch${batch}`,
      msgs_per_s: Math.round(consumed / consumeSeconds),
      mb_per_s: round((consumed * size) / MB / consumeSeconds),
      params: { ...params, messages: consumed },
      command,
      note:
        "consumer group from the beginning of what was produced (includes join and first fetch)",
    },
  ];
}

/** A client's single-message sends at a fixed rate; latency of each acknowledged send. */
async function clientLatency(
  clientName: ClientName,
  broker: BrokerProcess,
  rate: number,
  seconds: number,
  command: string,
): Promise<BenchResult> {
  const topic = `latency-${clientName}`;
  await createTopic(broker, topic, 1);
  const client = benchClient(clientName, broker.address);
  const value = Buffer.alloc(100, 120);
  await client.send(topic, [value]); // connect and fetch metadata outside the timing
  const latencies: number[] = [];
  const pending: Promise<void>[] = [];
  const started = performance.now();
  const total = rate * seconds;
  for (let i = 0; i < total; i++) {
    const due = started + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const sent = performance.now();
    pending.push(
      client.send(topic, [value]).then(() => {
        latencies.push(performance.now() - sent);
      }),
    );
  }
  await Promise.all(pending);
  await client.closeProducer();
  return {
    suite: SUITE,
    case: `${clientName}-produce-latency-${rate}per_s`,
    p50_ms: round(percentile(latencies, 50)),
    p99_ms: round(percentile(latencies, 99)),
    p999_ms: round(percentile(latencies, 99.9)),
    max_ms: round(percentile(latencies, 100)),
    params: {
      client: clientName,
      value_bytes: 100,
      batch: 1,
      rate_per_s: rate,
      acks: -1,
      duration_s: seconds,
      flush: "sync",
    },
    command,
  };
}

/** Pre-encoded produce requests pipelined over several connections: the broker's own cost. */
async function rawProduce(
  broker: BrokerProcess,
  flush: string,
  size: number,
  batch: number,
  seconds: number,
  command: string,
): Promise<BenchResult> {
  const connections = 4;
  const pipeline = 4;
  const topic = `raw-${flush}-${size}`;
  await createTopic(broker, topic, connections);
  const value = new Uint8Array(size).fill(120);
  let produced = 0;
  const latencies: number[] = [];
  const deadline = performance.now() + seconds * 1000;
  const started = performance.now();
  await Promise.all(Array.from({ length: connections }, async (_, c) => {
    const client = await RawKafkaClient.connect(broker.address, `raw-${c}`);
    const records = buildRecordBatch(Array.from({ length: batch }, () => ({ value })));
    const request = () =>
      client.encodeRequest(M.produce, 7, {
        transactionalId: null,
        acks: -1,
        timeoutMs: 30_000,
        topics: [{ name: topic, partitions: [{ index: c, records }] }],
      });
    const sentAt: number[] = [];
    try {
      let outstanding = 0;
      const sendOne = async () => {
        sentAt.push(performance.now());
        outstanding++;
        await client.send(request());
      };
      for (let i = 0; i < pipeline; i++) await sendOne();
      while (outstanding > 0) {
        const frame = await client.readFrame();
        if (frame === null) throw new Error("broker closed the connection");
        outstanding--;
        latencies.push(performance.now() - sentAt.shift()!);
        produced += batch;
        if (performance.now() < deadline) await sendOne();
      }
    } finally {
      client.close();
    }
  }));
  const elapsed = (performance.now() - started) / 1000;
  return {
    suite: SUITE,
    case: `raw-produce-${size}B-batch${batch}-${flush}`,
    msgs_per_s: Math.round(produced / elapsed),
    mb_per_s: round((produced * size) / MB / elapsed),
    p50_ms: round(percentile(latencies, 50)),
    p99_ms: round(percentile(latencies, 99)),
    params: {
      value_bytes: size,
      batch,
      acks: -1,
      connections,
      pipeline,
      duration_s: seconds,
      flush,
    },
    command,
    note: "pre-encoded RecordBatch v2, Produce v7, no client library",
  };
}

/** The clients of `--client=kafkajs|platformatic|both` (default kafkajs). */
export function clientsOf(arg: string | undefined): ClientName[] {
  if (arg === undefined) return ["kafkajs"];
  if (arg === "both") return [...CLIENTS];
  if ((CLIENTS as readonly string[]).includes(arg)) return [arg as ClientName];
  throw new RangeError(`Invalid --client "${arg}": expected kafkajs, platformatic or both`);
}

/** Runs the broker suite. */
export async function run(options: BenchOptions): Promise<BenchResult[]> {
  const seconds = Number(options.args["seconds"] ?? (options.quick ? 1 : 4));
  const clients = clientsOf(options.args["client"]);
  const command = `deno task bench broker${options.quick ? " --quick" : ""}${
    options.args["seconds"] ? ` --seconds=${seconds}` : ""
  }${options.args["client"] ? ` --client=${options.args["client"]}` : ""}`;
  const results: BenchResult[] = [];
  const broker = await startBrokerProcess("sync");
  try {
    for (const client of clients) {
      for (const size of [100, 1024]) {
        for (const batch of [100, 1000]) {
          options.progress(`broker: ${client} ${size} B x ${batch}`);
          results.push(...await clientThroughput(client, broker, size, batch, seconds, command));
        }
      }
      options.progress(`broker: ${client} latency`);
      results.push(await clientLatency(client, broker, 500, Math.max(2, seconds), command));
    }
    options.progress("broker: raw produce (sync)");
    results.push(await rawProduce(broker, "sync", 1024, 1000, seconds, command));
    results.push(await rawProduce(broker, "sync", 100, 1000, seconds, command));
  } finally {
    await broker.stop();
  }
  const interval = await startBrokerProcess("interval");
  try {
    options.progress("broker: raw produce (interval)");
    results.push(await rawProduce(interval, "interval", 1024, 1000, seconds, command));
  } finally {
    await interval.stop();
  }
  return results;
}

if (import.meta.main) {
  const quick = Deno.args.includes("--quick");
  const results = await run({ quick, args: {}, progress: (line) => console.error(line) });
  for (const r of results) console.log(JSON.stringify(r));
}
