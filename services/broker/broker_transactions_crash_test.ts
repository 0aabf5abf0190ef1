/**
 * Crash safety of transactions: the broker process is killed (failpoints at each step of
 * ending a transaction, SIGKILL between steps) and restarted on the same data dir, and every
 * transaction is wholly visible to read_committed readers or not at all. The fast-check
 * property drives random interleavings of produce / commit / abort / crash / commit-then-crash
 * of two transactional ids over three partitions against a model; a failing run prints the
 * seed and the command that replays it (`TXN_FUZZ_SEED`, `TXN_FUZZ_RUNS`; long mode runs more).
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { freePorts, longMode, RoleProcess, tempDir } from "@trading/testing";
import { FAILPOINT_EXIT_CODE } from "@trading/shared/failpoint";
import { ErrorCode } from "./protocol/error_codes.ts";
import {
  committedOffset,
  KafkaErrorCode,
  RawTransactionalProducer,
  readPartition,
} from "@trading/testing/raw-transactional-producer";

const TOPIC = "txn-crash";
const PARTITIONS = 3;

/** A broker child on a fixed data dir and port that can be killed and started again. */
class BrokerChild {
  private process: RoleProcess | undefined;

  constructor(private readonly env: Record<string, string>) {}

  get address(): string {
    return `127.0.0.1:${this.env.BROKER_PORT}`;
  }

  async start(failpoints = ""): Promise<RoleProcess> {
    const child = RoleProcess.spawn("broker", { ...this.env, TRADING_FAILPOINTS: failpoints });
    this.process = child;
    await child.ready();
    return child;
  }

  async kill(): Promise<void> {
    if (this.process === undefined) return;
    try {
      this.process.kill("SIGKILL");
    } catch {
      // Already exited (a failpoint).
    }
    await this.process.exited();
    this.process = undefined;
  }

  async stop(): Promise<number> {
    const child = this.process!;
    this.process = undefined;
    child.kill("SIGTERM");
    const code = await child.exited();
    assert.doesNotMatch(child.output.join("\n"), /"level":"error"/);
    return code;
  }
}

function brokerChild(dir: string): BrokerChild {
  const [kafkaPort, httpPort] = freePorts(2) as [number, number];
  return new BrokerChild({
    BROKER_PORT: String(kafkaPort),
    BROKER_DATA_DIR: dir,
    BROKER_CREATE_TOPICS: `${TOPIC}:${PARTITIONS}`,
    PORT_HTTP: String(httpPort),
    LOG_LEVEL: "warn",
  });
}

async function readCommitted(address: string): Promise<string[]> {
  const all: string[] = [];
  for (let p = 0; p < PARTITIONS; p++) all.push(...await readPartition(address, TOPIC, p));
  return all.sort();
}

for (
  const failpoint of [
    "broker-txn-after-prepare",
    "broker-txn-after-markers",
    "broker-txn-before-complete",
  ]
) {
  Deno.test(`a broker that dies at ${failpoint} completes the commit on restart: the transaction is wholly visible`, async () => {
    await using dir = await tempDir("broker-txn-crash-");
    const broker = await brokerChild(dir.path);
    const child = await broker.start(`${failpoint}:1`);
    const producer = await RawTransactionalProducer.init(broker.address, "crash-commit");
    for (let p = 0; p < PARTITIONS; p++) await producer.send(TOPIC, p, [`v${p}`]);
    await producer.sendOffsets("crash-group", TOPIC, 0, 42);
    await producer.sendEnd(true);
    assert.equal(await child.exited(), FAILPOINT_EXIT_CODE, "the failpoint stopped the broker");
    producer.close();
    await broker.start();
    try {
      assert.deepEqual(await readCommitted(broker.address), ["v0", "v1", "v2"]);
      assert.equal(await committedOffset(broker.address, "crash-group", TOPIC, 0), 42);
      // The id goes on: a new producer gets the next epoch and its transaction commits too.
      const next = await RawTransactionalProducer.init(broker.address, "crash-commit");
      assert.equal(next.producerEpoch, producer.producerEpoch + 1);
      await next.send(TOPIC, 0, ["w0"]);
      await next.end(true);
      next.close();
      assert.deepEqual(await readCommitted(broker.address), ["v0", "v1", "v2", "w0"]);
    } finally {
      assert.equal(await broker.stop(), 0);
    }
  });
}

Deno.test("a broker SIGKILLed with a transaction open shows none of it; the next producer of the id aborts it and the partition moves on", async () => {
  await using dir = await tempDir("broker-txn-crash-");
  const broker = await brokerChild(dir.path);
  await broker.start();
  const producer = await RawTransactionalProducer.init(broker.address, "crash-open");
  for (let p = 0; p < PARTITIONS; p++) await producer.send(TOPIC, p, [`open${p}`]);
  await producer.sendOffsets("crash-group", TOPIC, 0, 42);
  await broker.kill();
  producer.close();
  await broker.start();
  try {
    assert.deepEqual(await readCommitted(broker.address), []);
    assert.equal((await readPartition(broker.address, TOPIC, 0, 0)).length, 1, "it is stored");
    const next = await RawTransactionalProducer.init(broker.address, "crash-open");
    await next.send(TOPIC, 1, ["after"]);
    await next.end(true);
    next.close();
    assert.deepEqual(await readCommitted(broker.address), ["after"]);
    assert.equal(await committedOffset(broker.address, "crash-group", TOPIC, 0), -1);
  } finally {
    assert.equal(await broker.stop(), 0);
  }
});

// The model: what read_committed readers must see after every step.
type Command =
  | { kind: "send"; producer: number; partition: number }
  | { kind: "commit"; producer: number }
  | { kind: "abort"; producer: number }
  | { kind: "crash" }
  | { kind: "commitThenCrash"; producer: number };

const commandArb: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant("send" as const),
      producer: fc.integer({ min: 0, max: 1 }),
      partition: fc.integer({ min: 0, max: PARTITIONS - 1 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("commit" as const),
      producer: fc.integer({ min: 0, max: 1 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("abort" as const),
      producer: fc.integer({ min: 0, max: 1 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("crash" as const) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("commitThenCrash" as const),
      producer: fc.integer({ min: 0, max: 1 }),
    }),
  },
);

async function runInterleaving(commands: Command[]): Promise<void> {
  await using dir = await tempDir("broker-txn-fuzz-");
  const broker = await brokerChild(dir.path);
  await broker.start();
  const committed = new Set<string>();
  /** Transactions whose commit was in flight at a crash: all of it or none may show. */
  const uncertain: string[][] = [];
  const open: string[][] = [[], []];
  let producers: RawTransactionalProducer[] = [];
  const connect = async () => {
    producers = [
      await RawTransactionalProducer.init(broker.address, "fuzz-0"),
      await RawTransactionalProducer.init(broker.address, "fuzz-1"),
    ];
    // A new epoch aborted whatever the previous run left open.
    open[0] = [];
    open[1] = [];
  };
  const check = async (step: number) => {
    const seen = new Set(await readCommitted(broker.address));
    for (const group of uncertain) {
      const visible = group.filter((v) => seen.has(v));
      assert.ok(
        visible.length === 0 || visible.length === group.length,
        `step ${step}: a transaction cut at a crash is all or nothing, saw ${visible.length} of ${group.length}`,
      );
      for (const v of visible) committed.add(v);
      for (const v of visible) seen.delete(v);
    }
    uncertain.length = 0;
    for (const v of committed) seen.delete(v);
    assert.deepEqual(
      [...seen],
      [],
      `step ${step}: read_committed shows only committed records`,
    );
    // A committed record behind another transaction's first offset waits for it (the LSO),
    // so every committed record must show only when no transaction is open.
    if (open.every((values) => values.length === 0)) {
      const again = new Set(await readCommitted(broker.address));
      for (const v of committed) assert.ok(again.has(v), `step ${step}: committed ${v} is visible`);
    }
  };
  try {
    await connect();
    let n = 0;
    for (const [step, command] of commands.entries()) {
      switch (command.kind) {
        case "send": {
          const value = `p${command.producer}-${n++}`;
          await producers[command.producer]!.send(TOPIC, command.partition, [value]);
          open[command.producer]!.push(value);
          break;
        }
        case "commit":
        case "abort": {
          const values = open[command.producer]!;
          if (values.length === 0) break; // Nothing added: EndTxn would be INVALID_TXN_STATE.
          await producers[command.producer]!.end(command.kind === "commit");
          if (command.kind === "commit") { for (const v of values) committed.add(v); }
          open[command.producer] = [];
          break;
        }
        case "crash":
        case "commitThenCrash": {
          if (command.kind === "commitThenCrash" && open[command.producer]!.length > 0) {
            await producers[command.producer]!.sendEnd(true);
            uncertain.push(open[command.producer]!);
          }
          await broker.kill();
          for (const p of producers) p.close();
          await broker.start();
          await connect();
          break;
        }
      }
      await check(step);
    }
  } finally {
    for (const p of producers) p.close();
    await broker.stop();
  }
}

Deno.test("fast-check: interleavings of produce, commit, abort and crashes keep every transaction all or nothing", async () => {
  const seed = Number(Deno.env.get("TXN_FUZZ_SEED") ?? Date.now() % 2 ** 31);
  const numRuns = Number(Deno.env.get("TXN_FUZZ_RUNS") ?? (longMode() ? 40 : 4));
  try {
    await fc.assert(
      fc.asyncProperty(fc.array(commandArb, { minLength: 4, maxLength: 14 }), runInterleaving),
      { seed, numRuns, endOnFailure: true },
    );
  } catch (error) {
    console.error(
      `Replay: TXN_FUZZ_SEED=${seed} TXN_FUZZ_RUNS=${numRuns} deno test -A --frozen ` +
        "services/broker/broker_transactions_crash_test.ts",
    );
    throw error;
  }
});

Deno.test("a zombie producer's Produce is refused once its epoch is fenced", async () => {
  await using dir = await tempDir("broker-txn-zombie-");
  const broker = await brokerChild(dir.path);
  await broker.start();
  try {
    const zombie = await RawTransactionalProducer.init(broker.address, "zombie");
    await zombie.send(TOPIC, 0, ["z1"]);
    const successor = await RawTransactionalProducer.init(broker.address, "zombie");
    // Where the zombie had written, and where it had not: both refused.
    await assert.rejects(
      zombie.send(TOPIC, 0, ["z2"]),
      (e: KafkaErrorCode) => e.code === ErrorCode.INVALID_PRODUCER_EPOCH,
    );
    await assert.rejects(
      zombie.send(TOPIC, 2, ["z3"]),
      (e: KafkaErrorCode) => e.code === ErrorCode.INVALID_PRODUCER_EPOCH,
    );
    await assert.rejects(
      zombie.end(true),
      (e: KafkaErrorCode) => e.code === ErrorCode.INVALID_PRODUCER_EPOCH,
    );
    await successor.send(TOPIC, 0, ["s1"]);
    await successor.end(true);
    zombie.close();
    successor.close();
    assert.deepEqual(await readCommitted(broker.address), ["s1"]);
  } finally {
    assert.equal(await broker.stop(), 0);
  }
});
