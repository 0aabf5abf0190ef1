/**
 * Benchmark of the embedded broker (`deno task bench broker`): kafkajs produce and consume
 * throughput for 100-byte and 1 KiB values in batches of 100 and 1,000, kafkajs produce
 * latency at a fixed rate, and a raw-protocol load (pre-encoded produce requests, no client
 * library cost) that shows the broker itself. The broker runs as its own process
 * (`main.ts broker`, default sync flush: fdatasync before every acks=-1 answer), so client
 * and broker each have a core on a 2-core machine. Loopback only, bounded in time.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { type Kafka, logLevel } from "kafkajs";
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

/** kafkajs produce then consume of `count` messages of `size` bytes in batches of `batch`. */
async function kafkajsThroughput(
  broker: BrokerProcess,
  size: number,
  batch: number,
  seconds: number,
  command: string,
): Promise<BenchResult[]> {
  const topic = `tp-${size}-${batch}`;
  const client = kafka(broker.address);
  const admin = client.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 1 }] });
  await admin.disconnect();
  const producer = client.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  const value = Buffer.alloc(size, 120);
  const messages = Array.from({ length: batch }, () => ({ value }));
  const inFlight = 4;
  let produced = 0;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  await Promise.all(Array.from({ length: inFlight }, async () => {
    while (performance.now() < deadline) {
      await producer.send({ topic, messages, acks: -1 });
      produced += batch;
    }
  }));
  const produceSeconds = (performance.now() - started) / 1000;
  await producer.disconnect();
  const rss = await brokerRssMb(broker.httpPort);

  const consumer = client.consumer({
    groupId: `bench-${topic}`,
    maxBytes: 64 * MB,
    maxBytesPerPartition: 16 * MB,
  });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  let consumed = 0;
  const consumeStarted = performance.now();
  const done = Promise.withResolvers<void>();
  await consumer.run({
    autoCommit: false,
    eachBatch: ({ batch: b }) => {
      consumed += b.messages.length;
      if (consumed >= produced) done.resolve();
      return Promise.resolve();
    },
  });
  const timeout = setTimeout(() => done.resolve(), 120_000);
  await done.promise;
  clearTimeout(timeout);
  const consumeSeconds = (performance.now() - consumeStarted) / 1000;
  await consumer.disconnect();
  const params = {
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
      case: `kafkajs-produce-${size}B-batch${batch}`,
      msgs_per_s: Math.round(produced / produceSeconds),
      mb_per_s: round((produced * size) / MB / produceSeconds),
      ...(rss === undefined ? {} : { rss_mb: rss }),
      params,
      command,
    },
    {
      suite: SUITE,
      case: `kafkajs-consume-${size}B-batch${batch}`,
      msgs_per_s: Math.round(consumed / consumeSeconds),
      mb_per_s: round((consumed * size) / MB / consumeSeconds),
      params: { ...params, messages: consumed },
      command,
      note:
        "consumer group from the beginning of what was produced (includes join and first fetch)",
    },
  ];
}

/** kafkajs single-message sends at a fixed rate; latency of each acknowledged send. */
async function kafkajsLatency(
  broker: BrokerProcess,
  rate: number,
  seconds: number,
  command: string,
): Promise<BenchResult> {
  const client = kafka(broker.address);
  const admin = client.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: "latency", numPartitions: 1 }] });
  await admin.disconnect();
  const producer = client.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  const value = Buffer.alloc(100, 120);
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
      producer.send({ topic: "latency", messages: [{ value }], acks: -1 }).then(() => {
        latencies.push(performance.now() - sent);
      }),
    );
  }
  await Promise.all(pending);
  await producer.disconnect();
  return {
    suite: SUITE,
    case: `kafkajs-produce-latency-${rate}per_s`,
    p50_ms: round(percentile(latencies, 50)),
    p99_ms: round(percentile(latencies, 99)),
    p999_ms: round(percentile(latencies, 99.9)),
    max_ms: round(percentile(latencies, 100)),
    params: {
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
  const admin = kafka(broker.address).admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: connections }] });
  await admin.disconnect();
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

/** Runs the broker suite. */
export async function run(options: BenchOptions): Promise<BenchResult[]> {
  const seconds = Number(options.args["seconds"] ?? (options.quick ? 1 : 4));
  const command = `deno task bench broker${options.quick ? " --quick" : ""}${
    options.args["seconds"] ? ` --seconds=${seconds}` : ""
  }`;
  const results: BenchResult[] = [];
  const broker = await startBrokerProcess("sync");
  try {
    for (const size of [100, 1024]) {
      for (const batch of [100, 1000]) {
        options.progress(`broker: kafkajs ${size} B x ${batch}`);
        results.push(...await kafkajsThroughput(broker, size, batch, seconds, command));
      }
    }
    options.progress("broker: kafkajs latency");
    results.push(await kafkajsLatency(broker, 500, Math.max(2, seconds), command));
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
