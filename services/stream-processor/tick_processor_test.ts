import assert from "node:assert/strict";
import { join } from "node:path";
import fc from "fast-check";
import { type OrderCommand, Tick } from "@trading/proto";
import { tempDir } from "@trading/testing";
import { Breakout } from "./breakout.ts";
import { MovingAverageCrossover } from "./moving_average_crossover.ts";
import type { Strategy } from "./strategy.ts";
import { StrategyStateStore } from "./strategy_state_store.ts";
import {
  TickProcessor,
  type TickProcessor as TickProcessorType,
  type TickRecord,
} from "./tick_processor.ts";

const TOPIC = "market.ticks";
const SYMBOLS = ["AAA", "BBB", "CCC", "DDD"];

function strategies(): Strategy[] {
  return [
    new MovingAverageCrossover({
      shortWindow: 2,
      longWindow: 4,
      maxPosition: 30,
      maxOrderQuantity: 20,
    }),
    new Breakout({ window: 3, maxPosition: 10, maxOrderQuantity: 10 }),
  ];
}

function tick(symbol: string, sequence: number, price: number): Uint8Array {
  return Tick.encode(Tick.fromPartial({
    symbol,
    sequence,
    price,
    size: 10,
    bid: price - 1,
    ask: price + 1,
    createdAtUs: 1_700_000_000_000_000 + sequence,
    source: "synthetic",
  })).finish();
}

/** A random input: two partitions of tick records, with repeated ticks and garbage mixed in. */
const inputArbitrary = fc.array(
  fc.record({
    symbol: fc.constantFrom(...SYMBOLS),
    move: fc.integer({ min: -5, max: 5 }),
    kind: fc.constantFrom("tick", "tick", "tick", "tick", "tick", "repeat", "garbage"),
    garbage: fc.uint8Array({ minLength: 0, maxLength: 12 }),
  }),
  { minLength: 20, maxLength: 300, size: "max" },
).map((events) => {
  const partitions = new Map<number, TickRecord[]>([[0, []], [1, []]]);
  const sequence = new Map<string, number>();
  const price = new Map<string, number>();
  const last = new Map<string, Uint8Array>();
  for (const event of events) {
    const partition = SYMBOLS.indexOf(event.symbol) % 2;
    const records = partitions.get(partition)!;
    let value: Uint8Array;
    if (event.kind === "garbage") {
      value = event.garbage;
    } else if (event.kind === "repeat" && last.has(event.symbol)) {
      value = last.get(event.symbol)!;
    } else {
      const seq = (sequence.get(event.symbol) ?? 0) + 1;
      const p = Math.max(100, (price.get(event.symbol) ?? 1000) + event.move);
      sequence.set(event.symbol, seq);
      price.set(event.symbol, p);
      value = tick(event.symbol, seq, p);
      last.set(event.symbol, value);
    }
    records.push({ offset: records.length, value });
  }
  return partitions;
});

/** Where a run crashes: after which step, and at which point of that step. */
const crashPlanArbitrary = fc.record({
  batchSizes: fc.array(fc.integer({ min: 1, max: 17 }), { minLength: 1, maxLength: 8 }),
  crashes: fc.array(
    fc.record({
      step: fc.integer({ min: 0, max: 40 }),
      phase: fc.constantFrom("before-publish", "after-publish", "after-commit"),
    }),
    { minLength: 1, maxLength: 8, size: "max" },
  ),
  // Kafka may redeliver from an older committed offset than the saved one.
  rewinds: fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 1, maxLength: 5 }),
});

type CrashPlan = {
  batchSizes: number[];
  crashes: Array<{ step: number; phase: "before-publish" | "after-publish" | "after-commit" }>;
  rewinds: number[];
};

/** Runs the core over `input` like the service does, crashing as planned; returns what it published. */
function run(input: Map<number, TickRecord[]>, dbPath: string, plan: CrashPlan): OrderCommand[] {
  const published: OrderCommand[] = [];
  let store = new StrategyStateStore(dbPath);
  const open = () =>
    new TickProcessor({ strategies: strategies(), store, topic: TOPIC, nowUs: () => 0 });
  let processor: TickProcessorType = open();
  const crash = () => {
    store.close();
    store = new StrategyStateStore(dbPath);
    processor = open();
  };
  let step = 0;
  for (let guard = 0; guard < 10_000; guard++) {
    let progressed = false;
    for (const [partition, records] of input) {
      const saved = processor.resumeOffset(partition) ?? 0;
      if (saved >= records.length) continue;
      progressed = true;
      const rewind = plan.rewinds[step % plan.rewinds.length]!;
      const from = Math.max(0, saved - rewind);
      const size = plan.batchSizes[step % plan.batchSizes.length]!;
      const batch = processor.process(partition, records.slice(from, from + size + rewind));
      const crashHere = plan.crashes.find((c) => c.step === step);
      step++;
      if (crashHere?.phase === "before-publish") {
        crash();
        continue;
      }
      published.push(...batch.commands);
      if (crashHere?.phase === "after-publish") {
        crash();
        continue;
      }
      processor.commit(partition);
      if (crashHere?.phase === "after-commit") crash();
    }
    if (!progressed) break;
  }
  store.close();
  return published;
}

function firstOccurrences(commands: OrderCommand[]): OrderCommand[] {
  const seen = new Map<string, OrderCommand>();
  for (const command of commands) {
    const first = seen.get(command.orderId);
    if (first) assert.deepEqual(command, first, `order ${command.orderId} re-emitted differently`);
    else seen.set(command.orderId, command);
  }
  return [...seen.values()];
}

function byPartition(commands: OrderCommand[]): OrderCommand[][] {
  return [0, 1].map((p) => commands.filter((c) => SYMBOLS.indexOf(c.symbol) % 2 === p));
}

async function memoryTempDir(): Promise<AsyncDisposable & { path: string }> {
  try {
    const path = await Deno.makeTempDir({ dir: "/dev/shm", prefix: "trading-test-" });
    return {
      path,
      [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }).catch(() => {}),
    };
  } catch {
    return await tempDir();
  }
}

const seed = Number(Deno.env.get("PROPERTY_SEED") ?? Math.floor(Math.random() * 2 ** 31));

Deno.test("TickProcessor output with crashes at random points equals the output without crashes", async () => {
  // tmpfs when there is one: the runs make thousands of fsyncs (synchronous=FULL).
  await using dir = await memoryTempDir();
  let runs = 0;
  let trading = 0;
  try {
    fc.assert(
      fc.property(inputArbitrary, crashPlanArbitrary, (input, plan) => {
        runs++;
        const clean = run(input, join(dir.path, `clean-${runs}.db`), { ...plan, crashes: [] });
        const crashed = run(input, join(dir.path, `crashed-${runs}.db`), plan);
        assert.deepEqual(
          firstOccurrences(clean),
          clean,
          "a run without crashes emits each id once",
        );
        // Batches of different partitions interleave differently; within one partition the
        // order (and everything else) must be the same.
        assert.deepEqual(byPartition(firstOccurrences(crashed)), byPartition(clean));
        if (clean.length > 0) trading++;
      }),
      { seed, numRuns: 100, endOnFailure: Deno.env.get("PROPERTY_SHRINK") !== "1" },
    );
    // Guards the property's power: most inputs must make the strategies trade.
    assert.ok(trading > runs / 2, `only ${trading} of ${runs} runs made orders`);
  } catch (error) {
    console.error(
      `Replay with: PROPERTY_SEED=${seed} PROPERTY_SHRINK=1 deno test -A services/stream-processor/tick_processor_test.ts`,
    );
    throw error;
  }
});

Deno.test("TickProcessor sends garbage and schema-violating records to the rejected list", async () => {
  await using dir = await tempDir();
  const store = new StrategyStateStore(join(dir.path, "state.db"));
  try {
    const processor = new TickProcessor({ strategies: strategies(), store, topic: TOPIC });
    const invalid = Tick.encode(Tick.fromPartial({ symbol: "AAA", sequence: 0, price: 5 }))
      .finish();
    const batch = processor.process(0, [
      { offset: 0, value: new Uint8Array([0xff, 0xff, 0xff]) },
      { offset: 1, value: invalid },
      { offset: 2, value: tick("AAA", 1, 1000) },
      { offset: 3, value: null },
    ]);
    assert.deepEqual(batch.rejected.map((r) => [r.offset, r.error.kind]), [
      [0, "undecodable"],
      [1, "invalid"],
      [3, "undecodable"],
    ]);
    assert.equal(batch.ticks.length, 1);
    assert.equal(batch.nextOffset, 4);
  } finally {
    store.close();
  }
});

Deno.test("TickProcessor skips a repeated tick sequence of a symbol", async () => {
  await using dir = await tempDir();
  const store = new StrategyStateStore(join(dir.path, "state.db"));
  try {
    const processor = new TickProcessor({ strategies: strategies(), store, topic: TOPIC });
    const batch = processor.process(0, [
      { offset: 0, value: tick("AAA", 1, 1000) },
      { offset: 1, value: tick("AAA", 2, 1001) },
      { offset: 2, value: tick("AAA", 2, 1001) },
      { offset: 3, value: tick("AAA", 1, 1000) },
    ]);
    assert.deepEqual(batch.ticks.map((t) => t.sequence), [1, 2]);
    assert.equal(batch.skipped, 2);
  } finally {
    store.close();
  }
});

Deno.test("TickProcessor resumes from the saved offset and state after reopening the store", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "state.db");
  const records = Array.from({ length: 40 }, (_, i) => ({
    offset: i,
    value: tick("AAA", i + 1, 1000 + Math.round(20 * Math.sin(i / 3))),
  }));
  const whole = (() => {
    const store = new StrategyStateStore(join(dir.path, "whole.db"));
    const processor = new TickProcessor({
      strategies: strategies(),
      store,
      topic: TOPIC,
      nowUs: () => 0,
    });
    const commands = processor.process(0, records).commands;
    store.close();
    return commands;
  })();
  assert.ok(whole.length > 0, "the price wave makes the strategies trade");

  let store = new StrategyStateStore(path);
  let processor = new TickProcessor({
    strategies: strategies(),
    store,
    topic: TOPIC,
    nowUs: () => 0,
  });
  const first = processor.process(0, records.slice(0, 25)).commands;
  processor.commit(0);
  processor.process(0, records.slice(25, 30)); // lost: never committed
  store.close();

  store = new StrategyStateStore(path);
  processor = new TickProcessor({ strategies: strategies(), store, topic: TOPIC, nowUs: () => 0 });
  assert.equal(processor.resumeOffset(0), 25);
  const rest = processor.process(0, records.slice(25)).commands;
  store.close();
  assert.deepEqual([...first, ...rest], whole);
});
