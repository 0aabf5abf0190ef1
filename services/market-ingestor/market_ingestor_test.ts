/**
 * The market-ingestor as a process against a real broker: sequences continue after a
 * SIGKILL without a gap or a reuse, the control API changes the rate and pauses the feed,
 * replay publishes a recorded file, a missing topic holds start-up until it exists, and a bad
 * setting stops start-up with exit code 2.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { IngestorStatus, MarketIngestorClient, Tick } from "@trading/proto";
import type { Broker } from "@trading/broker";
import { withBroker } from "@trading/testing/with-broker";
import {
  grpc,
  GRPC_OPTIONS,
  insecure,
  isGrpcStatus,
  unary,
  withClusterSecret,
} from "@trading/shared/grpc";
import { createKafka, ensureTopics, TOPICS } from "@trading/shared/kafka";
import { resetLogging, setupLogging } from "@trading/shared/log";
import { freePort, waitFor } from "@trading/testing";
import { PartitionReader } from "@trading/shared/partition-reader";
import { RoleProcess } from "@trading/testing";

const SAMPLE = fileURLToPath(new URL("./testdata/sample_ticks.csv", import.meta.url));

async function withTicksBroker(fn: (broker: Broker) => Promise<void>): Promise<void> {
  await setupLogging("ingestor-test", "error");
  try {
    await withBroker({ createTopics: [{ name: TOPICS.ticks, partitions: 3 }] }, fn);
  } finally {
    await resetLogging();
  }
}

async function readTicks(broker: Broker): Promise<Tick[]> {
  const kafka = createKafka({ clientId: "ingestor-test", brokers: [broker.address] });
  const reader = await PartitionReader.connect(kafka);
  const ticks: Tick[] = [];
  try {
    for (const { partition, low, high } of await reader.offsets(TOPICS.ticks)) {
      await reader.readRange(
        TOPICS.ticks,
        partition,
        low,
        high,
        (r) => ticks.push(Tick.decode(r.value!)),
      );
    }
  } finally {
    await reader.close();
  }
  return ticks;
}

function ingestor(broker: Broker, grpcPort: number, env: Record<string, string> = {}): RoleProcess {
  return RoleProcess.spawn("market-ingestor", {
    KAFKA_BROKERS: broker.address,
    PORT_GRPC: String(grpcPort),
    INGESTOR_SYMBOLS: "AAA,BBB,CCC",
    ...env,
  });
}

Deno.test({
  name: "market-ingestor continues every symbol's sequence after a SIGKILL, without gaps or reuse",
  sanitizeOps: false, // grpc-js keeps timers after close
  sanitizeResources: false,
  async fn() {
    await withTicksBroker(async (broker) => {
      const grpcPort = freePort();
      const client = new MarketIngestorClient(`127.0.0.1:${grpcPort}`, insecure());
      const status = () => unary(client, client.getStatus, {});
      try {
        await using first = ingestor(broker, grpcPort, { INGESTOR_RATE: "500" });
        await first.ready();
        await waitFor("300 ticks", async () => (await status()).ticksPublished >= 300, {
          timeoutMs: 20_000,
        });
        first.kill("SIGKILL");
        await first.exited();

        await using second = ingestor(broker, grpcPort, { INGESTOR_RATE: "500" });
        await second.ready();
        const resumed = await status();
        assert.equal(resumed.source, "synthetic");
        await waitFor("200 more ticks", async () => (await status()).ticksPublished >= 200, {
          timeoutMs: 20_000,
        });

        const changed: IngestorStatus = await unary(client, client.setRate, {
          ticksPerSecond: 2000,
        });
        assert.equal(changed.ticksPerSecond, 2000);
        await assert.rejects(
          () => unary(client, client.setRate, { ticksPerSecond: -1 }),
          (error) => isGrpcStatus(error, grpc.status.INVALID_ARGUMENT),
        );
        const paused = await unary(client, client.pause, {});
        assert.equal(paused.paused, true);
        await new Promise((resolve) => setTimeout(resolve, 300));
        const still = (await status()).ticksPublished;
        await new Promise((resolve) => setTimeout(resolve, 500));
        assert.equal((await status()).ticksPublished, still, "a paused feed publishes nothing");
        await unary(client, client.resume, {});
        await waitFor("ticks after resume", async () => (await status()).ticksPublished > still);
        const last = await status();
        second.kill("SIGTERM");
        assert.equal(await second.exited(), 0);

        const ticks = await readTicks(broker);
        const bySymbol = new Map<string, Map<number, Tick>>();
        for (const tick of ticks) {
          const seen = bySymbol.get(tick.symbol) ?? new Map<number, Tick>();
          assert.ok(!seen.has(tick.sequence), `${tick.symbol} #${tick.sequence} published twice`);
          seen.set(tick.sequence, tick);
          bySymbol.set(tick.symbol, seen);
        }
        assert.deepEqual([...bySymbol.keys()].sort(), ["AAA", "BBB", "CCC"]);
        for (const [symbol, seen] of bySymbol) {
          const max = Math.max(...seen.keys());
          assert.equal(seen.size, max, `${symbol}: 1..${max} without gaps`);
          assert.ok(max >= (last.lastSequence[symbol] ?? 0));
        }
        assert.ok(ticks.length >= 500);
      } finally {
        client.close();
      }
    });
  },
});

Deno.test({
  name:
    "market-ingestor waits at start-up for a missing market.ticks topic, then starts once it exists",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await setupLogging("ingestor-test", "error");
    try {
      // Auto-creation on (Kafka's default): the ingestor must still not rely on it.
      await withBroker({ autoCreateTopics: true }, async (broker) => {
        const grpcPort = freePort();
        const client = new MarketIngestorClient(`127.0.0.1:${grpcPort}`, insecure());
        try {
          await using waiting = ingestor(broker, grpcPort, { INGESTOR_RATE: "200" });
          await waitFor(
            "the missing topic named in the start-up log",
            () => waiting.output.some((line) => line.includes("Missing topic market.ticks")),
            { timeoutMs: 30_000 },
          );
          assert.equal(broker.topics.has(TOPICS.ticks), false, "nothing created the topic");
          const kafka = createKafka({ clientId: "ingestor-test", brokers: [broker.address] });
          await ensureTopics(kafka, { topics: [TOPICS.ticks] });
          await waiting.ready();
          await waitFor(
            "ticks published",
            async () => (await unary(client, client.getStatus, {})).ticksPublished > 0,
            { timeoutMs: 20_000 },
          );
          assert.equal(broker.topics.partitions(TOPICS.ticks)?.length, 3);
        } finally {
          client.close();
        }
      });
    } finally {
      await resetLogging();
    }
  },
});

Deno.test({
  name: "market-ingestor replays a recorded file at a speed factor and refuses SetRate",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withTicksBroker(async (broker) => {
      const grpcPort = freePort();
      const client = new MarketIngestorClient(`127.0.0.1:${grpcPort}`, insecure());
      try {
        // The sample spans about 6 s: at 20x it takes about 0.3 s.
        await using replay = ingestor(broker, grpcPort, {
          INGESTOR_SOURCE: "replay",
          INGESTOR_REPLAY_FILE: SAMPLE,
          INGESTOR_REPLAY_SPEED: "20",
        });
        await replay.ready();
        await waitFor(
          "the whole file",
          async () => (await unary(client, client.getStatus, {})).ticksPublished === 300,
        );
        await assert.rejects(
          () => unary(client, client.setRate, { ticksPerSecond: 10 }),
          (error) => isGrpcStatus(error, grpc.status.FAILED_PRECONDITION),
        );
        const ticks = await readTicks(broker);
        assert.equal(ticks.length, 300);
        assert.ok(ticks.every((t) => t.source === "replay"));
        assert.deepEqual([...new Set(ticks.map((t) => t.symbol))].sort(), ["AAPL", "GOOG", "MSFT"]);
        assert.equal(
          Math.max(...ticks.filter((t) => t.symbol === "AAPL").map((t) => t.sequence)),
          100,
        );
      } finally {
        client.close();
      }
    });
  },
});

Deno.test({
  name: "market-ingestor with CLUSTER_SECRET refuses Pause, Resume, SetRate without the secret",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withTicksBroker(async (broker) => {
      const secret = "ingestor-test-secret-0123456789";
      const grpcPort = freePort();
      const address = `127.0.0.1:${grpcPort}`;
      // Sends no secret, whatever this test process's environment holds.
      const bare = new MarketIngestorClient(address, insecure(), {
        ...GRPC_OPTIONS,
        interceptors: [],
      });
      const trusted = new MarketIngestorClient(address, insecure(), withClusterSecret(secret));
      try {
        await using running = ingestor(broker, grpcPort, { CLUSTER_SECRET: secret });
        await running.ready();
        const unauthenticated = (error: unknown) =>
          isGrpcStatus(error, grpc.status.UNAUTHENTICATED);
        await assert.rejects(() => unary(bare, bare.pause, {}), unauthenticated);
        await assert.rejects(() => unary(bare, bare.resume, {}), unauthenticated);
        await assert.rejects(
          () => unary(bare, bare.setRate, { ticksPerSecond: 1000 }),
          unauthenticated,
        );
        await assert.rejects(() => unary(bare, bare.getStatus, {}), unauthenticated);
        assert.equal(await running.metric("grpc_calls_refused_total"), 4);
        const status = await unary(trusted, trusted.getStatus, {});
        assert.equal(status.paused, false, "the refused Pause did nothing");
        assert.equal(status.ticksPerSecond, 1);
        assert.equal((await unary(trusted, trusted.pause, {})).paused, true);
      } finally {
        bare.close();
        trusted.close();
      }
    });
  },
});

Deno.test("market-ingestor exits 2 naming a bad INGESTOR_RATE", async () => {
  await using process = RoleProcess.spawn("market-ingestor", { INGESTOR_RATE: "fast" });
  assert.equal(await process.exited(), 2);
  assert.match(
    process.output.join("\n"),
    /Invalid INGESTOR_RATE "fast": expected a number 0.001-100000/,
  );
});

Deno.test("market-ingestor exits 2 when replay has no file", async () => {
  await using process = RoleProcess.spawn("market-ingestor", { INGESTOR_SOURCE: "replay" });
  assert.equal(await process.exited(), 2);
  assert.match(process.output.join("\n"), /Missing INGESTOR_REPLAY_FILE: expected a tick file/);
});
