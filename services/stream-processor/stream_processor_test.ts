/**
 * The stream-processor as a process against a real broker: crashed at random points (seeded
 * failpoints, the process exits at once like a SIGKILL) and restarted, its output in
 * `orders.commands` (first occurrence of each order id) equals what the processing core
 * makes from the same ticks without a crash; bad ticks go to the dead-letter topic. Start-up
 * refuses a cluster that lacks one of its topics.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { join } from "node:path";
import { Partitioners } from "kafkajs";
import { OrderCommand, Tick } from "@trading/proto";
import { startBroker } from "@trading/broker";
import { createKafka, TOPICS } from "@trading/shared/kafka";
import { getLogger, resetLogging, setupLogging } from "@trading/shared/log";
import { freePort, tempDir, waitFor } from "@trading/testing";
import { FAILPOINT_EXIT_CODE } from "@trading/shared/failpoint";
import { SeededRandom } from "@trading/shared/seeded-random";
import { SyntheticMarket } from "@trading/market-ingestor/synthetic-market";
import { DLQ_HEADERS } from "@trading/shared/dead-letter-queue";
import {
  MissingTopicError,
  PartitionReader,
  type PartitionRecord,
} from "@trading/shared/partition-reader";
import { withBroker } from "@trading/testing/with-broker";
import { RoleProcess } from "@trading/testing";
import { loadStreamProcessorConfig } from "./config.ts";
import { StrategyStateStore } from "./strategy_state_store.ts";
import { TickProcessor } from "./tick_processor.ts";
import { StreamProcessor } from "./stream_processor.ts";

const TOPIC_LIST = Object.values(TOPICS).map((name) => ({ name, partitions: 3 }));
const seed = Number(Deno.env.get("PROPERTY_SEED") ?? Math.floor(Math.random() * 2 ** 31));

function bytes(value: Uint8Array): Buffer {
  return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}

async function readAll(reader: PartitionReader, topic: string): Promise<PartitionRecord[]> {
  const records: PartitionRecord[] = [];
  for (const { partition, low, high } of await reader.offsets(topic)) {
    await reader.readRange(topic, partition, low, high, (r) => records.push(r));
  }
  return records;
}

/** In tick order: `orders.commands` is keyed by order id, so its partitions mix symbols. */
function byTick(a: OrderCommand, b: OrderCommand): number {
  return a.symbol.localeCompare(b.symbol) || a.tickSequence - b.tickSequence ||
    a.strategyId.localeCompare(b.strategyId);
}

/** Without its creation time, which differs between runs. */
function comparable(command: OrderCommand): OrderCommand {
  return { ...command, createdAtUs: 0 };
}

Deno.test({
  name: "stream-processor output after random crashes equals the output without crashes",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await setupLogging("processor-test", "error");
    await using dir = await tempDir();
    const broker = await startBroker({
      port: 0,
      dataDir: join(dir.path, "broker"),
      createTopics: TOPIC_LIST,
    });
    const kafka = createKafka({ clientId: "processor-test", brokers: [broker.address] });
    const reader = await PartitionReader.connect(kafka);
    try {
      // Ticks of a seeded market, some repeated (a retried publish) and some bad.
      const random = new SeededRandom(seed);
      const market = new SyntheticMarket({ symbols: ["AAA", "BBB", "CCC", "DDD", "EEE"], seed });
      const sequences = new Map<string, number>();
      const messages: Array<{ key: string; value: Buffer }> = [];
      for (let i = 0; i < 3000; i++) {
        const quote = market.next();
        const sequence = (sequences.get(quote.symbol) ?? 0) + 1;
        sequences.set(quote.symbol, sequence);
        const tick = Tick.encode(Tick.fromPartial({
          ...quote,
          sequence,
          createdAtUs: 1_700_000_000_000_000 + i,
          source: "synthetic",
        })).finish();
        messages.push({ key: quote.symbol, value: bytes(tick) });
        if (random.next() < 0.02) messages.push({ key: quote.symbol, value: bytes(tick) });
        if (random.next() < 0.005) {
          messages.push({ key: quote.symbol, value: Buffer.from([0xde, 0xad]) });
        }
      }
      messages.push({
        key: "AAA",
        value: bytes(Tick.encode(Tick.fromPartial({ symbol: "AAA", sequence: 0 })).finish()),
      });
      const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
      await producer.connect();
      for (let i = 0; i < messages.length; i += 500) {
        await producer.send({
          topic: TOPICS.ticks,
          acks: -1,
          messages: messages.slice(i, i + 500),
        });
      }
      await producer.disconnect();

      // The reference: the processing core over the same records, in one go.
      const ticks = await readAll(reader, TOPICS.ticks);
      const config = loadStreamProcessorConfig({});
      const referenceStore = new StrategyStateStore(join(dir.path, "reference.db"));
      const reference = new TickProcessor({
        strategies: config.strategies,
        store: referenceStore,
        topic: TOPICS.ticks,
      });
      const expected = new Map<number, OrderCommand[]>();
      for (const partition of [0, 1, 2]) {
        const records = ticks.filter((r) => r.partition === partition);
        expected.set(
          partition,
          reference.process(partition, records).commands.map(comparable).sort(byTick),
        );
      }
      referenceStore.close();
      const expectedCount = [...expected.values()].reduce((n, c) => n + c.length, 0);
      assert.ok(expectedCount > 100, `the strategies trade (${expectedCount} orders)`);

      // The process, crashed at random points, then run to the end.
      // Crashing runs save after every chunk (more crash points), the last one every 100 ms.
      const env = (failpoints: string) => ({
        STREAM_PROCESSOR_SAVE_INTERVAL_MS: failpoints === "" ? "100" : "0",
        KAFKA_BROKERS: broker.address,
        STREAM_PROCESSOR_DATA_DIR: join(dir.path, "processor"),
        STREAM_PROCESSOR_SESSION_TIMEOUT_MS: "2000",
        STREAM_PROCESSOR_CHUNK_SIZE: "97",
        PORT_GRPC: String(freePort()),
        TRADING_FAILPOINTS: failpoints,
      });
      const highs = new Map((await reader.offsets(TOPICS.ticks)).map((o) => [o.partition, o.high]));
      const statePath = join(dir.path, "processor", "state.db");
      const allProcessed = async () => {
        try {
          await Deno.stat(statePath);
        } catch {
          return false;
        }
        const store = new StrategyStateStore(statePath);
        try {
          return [0, 1, 2].every((p) => store.load(TOPICS.ticks, p).nextOffset === highs.get(p));
        } finally {
          store.close();
        }
      };
      const crashes: string[] = [];
      for (let run = 0; run < Number(Deno.env.get("CRASH_RUNS") ?? 3); run++) {
        const point = random.next() < 0.5 ? "after-produce" : "after-state-commit";
        const failpoint = `${point}:${1 + Math.floor(random.next() * 5)}`;
        await using crashing = RoleProcess.spawn("stream-processor", env(failpoint));
        // The failpoint fires, unless the run gets to the end first (then it is SIGKILLed).
        let done = false;
        const watch = (async () => {
          while (!done) {
            if (await allProcessed()) return crashing.kill("SIGKILL");
            await new Promise((resolve) => setTimeout(resolve, 200));
          }
        })();
        const code = await crashing.exited();
        done = true;
        await watch;
        crashes.push(`${failpoint}${code === FAILPOINT_EXIT_CODE ? "" : " (not reached)"}`);
        assert.ok(
          code === FAILPOINT_EXIT_CODE || await allProcessed(),
          `${failpoint}\n${crashing.tail()}`,
        );
      }
      await using last = RoleProcess.spawn("stream-processor", env(""));
      await last.ready();
      await waitFor("every tick processed", allProcessed, { timeoutMs: 60_000, intervalMs: 200 });
      assert.ok(crashes.some((c) => !c.includes("not reached")), `a failpoint fired: ${crashes}`);
      last.kill("SIGTERM");
      assert.equal(await last.exited(), 0, `SIGTERM stops it cleanly\n${last.tail()}`);

      const commands = (await readAll(reader, TOPICS.commands)).map((r) =>
        OrderCommand.decode(r.value!)
      );
      const firsts = new Map<string, OrderCommand>();
      for (const command of commands) {
        const first = firsts.get(command.orderId);
        if (first) {
          assert.deepEqual(
            comparable(command),
            comparable(first),
            `${command.orderId} re-emitted differently`,
          );
        } else firsts.set(command.orderId, command);
      }
      const partitionOf = new Map(
        ticks.map((r) => [new TextDecoder().decode(r.key!), r.partition]),
      );
      for (const partition of [0, 1, 2]) {
        const actual = [...firsts.values()]
          .filter((c) => partitionOf.get(c.symbol) === partition)
          .map(comparable)
          .sort(byTick);
        assert.deepEqual(
          actual,
          expected.get(partition),
          `partition ${partition} after crashes ${crashes.join(", ")}`,
        );
      }

      const dead = await readAll(reader, TOPICS.dlq);
      const badTicks = messages.filter((m) => m.value.length <= 2).length + 1;
      // At least once: a crash between the dead-letter send and the state commit repeats it.
      const origins = new Set(
        dead.map((d) => `${d.headers[DLQ_HEADERS.partition]}/${d.headers[DLQ_HEADERS.offset]}`),
      );
      assert.equal(origins.size, badTicks);
      for (const letter of dead) {
        assert.equal(letter.headers[DLQ_HEADERS.topic], TOPICS.ticks);
        assert.match(letter.headers[DLQ_HEADERS.reason]!, /^(undecodable|invalid)$/);
        assert.ok(Number(letter.headers[DLQ_HEADERS.offset]) >= 0);
        assert.equal(letter.headers[DLQ_HEADERS.service], "stream-processor");
      }
    } catch (error) {
      console.error(
        `Replay with: PROPERTY_SEED=${seed} deno test -A services/stream-processor/stream_processor_test.ts`,
      );
      throw error;
    } finally {
      await reader.close();
      await broker.close();
      await resetLogging();
    }
  },
});

Deno.test("StreamProcessor.start() refuses a cluster without orders.commands and does not create it", async () => {
  await setupLogging("processor-test", "error");
  await using dir = await tempDir();
  const store = new StrategyStateStore(join(dir.path, "state.db"));
  try {
    // Auto-creation on (Kafka's default): the processor must still not rely on it.
    const topics = [TOPICS.ticks, TOPICS.dlq].map((name) => ({ name, partitions: 3 }));
    await withBroker({ autoCreateTopics: true, createTopics: topics }, async (broker) => {
      const kafka = createKafka({ clientId: "processor-test", brokers: [broker.address] });
      await assert.rejects(
        StreamProcessor.start({
          kafka,
          processor: new TickProcessor({
            strategies: loadStreamProcessorConfig({}).strategies,
            store,
            topic: TOPICS.ticks,
          }),
          groupId: "processor-missing-topic",
          log: getLogger("processor-test"),
        }),
        (error) => error instanceof MissingTopicError && error.topic === TOPICS.commands,
      );
      assert.equal(broker.topics.has(TOPICS.commands), false);
    });
  } finally {
    store.close();
    await resetLogging();
  }
});
