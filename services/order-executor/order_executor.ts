/**
 * The order-executor's Kafka flow: a consumer group on `orders.commands`; for each chunk of a
 * partition's batch: decode and validate (bad messages to the dead-letter topic), risk checks
 * and Raft Apply per order (orders of one symbol in sequence, symbols in parallel), the
 * events into the SQLite outbox (`INSERT OR IGNORE`), the outbox relay publishes them, and
 * only then the input offset is committed (docs/DESIGN.md, "The guarantee", 4 and 6).
 *
 * Publishing before committing means: an offset that is committed always has its events in
 * `orders.events`. So rows left pending in an outbox (a crash, or a partition lost in a
 * rebalance) either belong to commands that will be delivered again, or were published by
 * whoever committed past them; the relay's read-back settles both without a second publish.
 *
 * Several executors may share the partitions (one group). Commands and events have the same
 * key (the order id) and the same partition count, so an executor that owns command
 * partition P publishes only to event partition P. With transactions (the default,
 * `EXECUTOR_TRANSACTIONS`), a chunk's events, its dead letters and its input offset are
 * committed in one Kafka transaction of P's transactional producer
 * (partition_transactions.ts): an executor that takes P over fences the previous holder at
 * the broker, so a zombie that froze anywhere (even between its own checks and its send)
 * has its writes refused and its transaction aborted. Without transactions, the fence is an
 * offset commit in the current group generation before the publish, and a window remains
 * between the fence's answer and the send; the relay notices foreign writes and logs them.
 *
 * @module
 */
import type { EachBatchPayload, Kafka, KafkaMessage, Producer, Transaction } from "kafkajs";
import { ApplyResult, type OrderCommand, OrderEvent, OrderStatus } from "@trading/proto";
import { GroupConsumer } from "@trading/shared/group-consumer";
import { createIdempotentProducer, TOPICS, undecodableBatchError } from "@trading/shared/kafka";
import { counter, histogram } from "@trading/shared/metrics";
import type { Logger } from "@trading/shared/log";
import { errorMessage, sleep } from "@trading/shared/retry";
import { PartitionReader } from "@trading/shared/partition-reader";
import { partitionForKey } from "@trading/shared/partition-for-key";
import { decodeCommand } from "@trading/shared/command-schema";
import { InvalidMessageError } from "@trading/shared/invalid-message-error";
import { failpoint } from "@trading/shared/failpoint";
import { nowUs } from "@trading/shared/now-us";
import { type DeadLetter, DeadLetterQueue } from "@trading/shared/dead-letter-queue";
import { ORDER_EXECUTOR_DEFAULTS } from "./defaults.ts";
import { LastPrices } from "./last_prices.ts";
import type { OrderOutbox, OutboxRow } from "./order_outbox.ts";
import { OrderRecorder, type RaftApplier } from "./order_recorder.ts";
import { OutboxRelay } from "./outbox_relay.ts";
import { isFencedError, PartitionTransactions } from "./partition_transactions.ts";
import type { RiskLimits } from "./risk_checks.ts";

/** Options of {@linkcode OrderExecutor.start}. */
export interface OrderExecutorOptions {
  kafka: Kafka;
  /** Unique among running executors; appears in every event. */
  executorId: string;
  groupId: string;
  outbox: OrderOutbox;
  raft: RaftApplier;
  limits: RiskLimits;
  log: Logger;
  /** How long a command waits for the price feed to reach its tick, ms. Default 250. */
  priceWaitMs?: number;
  /** Consumer-group session timeout, ms. Default 10000. */
  sessionTimeoutMs?: number;
  /** Largest number of commands handled (and committed) together. Default 500. */
  chunkSize?: number;
  /** Aborted when in-flight work must be abandoned (the shutdown deadline is near). */
  hardStop: AbortSignal;
  /** Called when the consumer crashed and kafkajs will not restart it (exit and be restarted). */
  onFatal?: (error: unknown) => void;
  /**
   * How long a published row stays in the outbox, ms. Default 24 h. Pruned at start and then
   * every quarter of it (at most hourly).
   */
  outboxRetentionMs?: number;
  /**
   * Publish each chunk's events and commit its offset in one Kafka transaction (a
   * transactional id per command partition). Default true.
   */
  transactions?: boolean;
  /** `transaction.timeout.ms` of the transactional producers. Default 10000. */
  transactionTimeoutMs?: number;
}

/** Thrown by the fence when this member no longer owns the partition it is publishing for. */
export class FencedError extends Error {
  constructor(partition: number, cause?: unknown) {
    super(
      `Partition ${partition} is no longer owned by this member: expected a current assignment` +
        (cause === undefined ? "" : ` (${errorMessage(cause)})`),
      { cause },
    );
    this.name = "FencedError";
  }
}

const ordersTotal = counter("orders_total", "Order events created, by status and reason", [
  "status",
  "reason",
]);
const orderLatency = histogram(
  "order_latency_seconds",
  "End-to-end latency from tick creation to order event creation",
);
const commandDelay = histogram(
  "command_delivery_seconds",
  "Time from command creation to its arrival at the executor",
);
const priceWait = histogram("price_wait_seconds", "Time a command waited for its tick's price");
const chunkStages = histogram(
  "executor_chunk_stage_seconds",
  "Time of each step of a chunk: apply (risk, Raft), outbox_insert, publish (relay), commit",
  ["stage"],
);
function stage(name: string, startedMs: number): void {
  chunkStages.observe({ stage: name }, (performance.now() - startedMs) / 1000);
}
const fencedOff = counter(
  "fenced_publishes_total",
  "Chunks whose events were not published because the member lost its partition",
);
const eventsPublished = counter("events_published_total", "Order events published");
const eventsFoundPublished = counter(
  "events_found_published_total",
  "Pending events found already in orders.events and not published again",
);
const outboxPruned = counter("outbox_pruned_total", "Published outbox rows deleted by age");
const commandsDuplicate = counter(
  "commands_duplicate_total",
  "Commands whose order id Raft had already recorded (re-emitted or redelivered)",
);

/** Chunks of one partition being applied or completed at once, at most. */
const MAX_CHUNKS_IN_FLIGHT = 4;

/** The chunks of one partition in flight: their completions run one after another. */
interface PartitionPipeline {
  tail: Promise<void>;
  queued: Promise<void>[];
  /** Incremented when a chunk failed: the chunks behind it stand down. */
  epoch: number;
}

interface ValidCommand {
  command: OrderCommand;
  message: KafkaMessage;
}

/** The running consumer → Raft → outbox → relay loop. */
export class OrderExecutor {
  #o: Required<OrderExecutorOptions>;
  #group: GroupConsumer;
  #producer: Producer;
  #relayReader: PartitionReader;
  #prices: LastPrices;
  #pricesReader: PartitionReader;
  #relay: OutboxRelay;
  #dlq: DeadLetterQueue;
  #recorder: OrderRecorder;
  #eventsPartitions: number;
  #toSettle = new Set<number>();
  #assigned: number[] = [];
  /** Counts group joins: chunks of an older generation neither publish nor commit. */
  #generation = 0;
  #pipelines = new Map<number, PartitionPipeline>();
  #pruneTimer: ReturnType<typeof setInterval> | undefined;
  /** The transactional producers, with transactions on. */
  #transactions: PartitionTransactions | undefined;

  private constructor(
    options: Required<OrderExecutorOptions>,
    parts: {
      producer: Producer;
      relayReader: PartitionReader;
      pricesReader: PartitionReader;
      prices: LastPrices;
      eventsPartitions: number;
    },
  ) {
    this.#o = options;
    this.#producer = parts.producer;
    this.#relayReader = parts.relayReader;
    this.#pricesReader = parts.pricesReader;
    this.#prices = parts.prices;
    this.#eventsPartitions = parts.eventsPartitions;
    this.#relay = new OutboxRelay({
      outbox: options.outbox,
      producer: parts.producer,
      reader: parts.relayReader,
      topic: TOPICS.events,
      log: options.log,
      onFoundPublished: (count) => eventsFoundPublished.inc(count),
    });
    this.#dlq = new DeadLetterQueue(parts.producer, "order-executor");
    if (options.transactions) {
      this.#transactions = new PartitionTransactions({
        kafka: options.kafka,
        groupId: options.groupId,
        topic: TOPICS.commands,
        timeoutMs: options.transactionTimeoutMs,
        log: options.log,
      });
    }
    this.#recorder = new OrderRecorder({
      raft: options.raft,
      limits: options.limits,
      executorId: options.executorId,
      log: options.log,
      signal: options.hardStop,
    });
    this.#group = new GroupConsumer({
      kafka: options.kafka,
      groupId: options.groupId,
      topic: TOPICS.commands,
      sessionTimeoutMs: options.sessionTimeoutMs,
      log: options.log,
      onJoin: (partitions) => {
        this.#generation++;
        this.#assigned = partitions;
        // Pending rows below the committed offset of a newly owned partition were published
        // by whoever committed past them; settle them at that partition's first batch.
        this.#toSettle = new Set(this.#assigned);
        this.#relay.newAssignment();
        this.#transactions?.release(partitions);
      },
      onFatal: options.onFatal,
    });
  }

  /** Connects the clients, catches up with prices, and starts consuming commands. */
  static async start(options: OrderExecutorOptions): Promise<OrderExecutor> {
    const o: Required<OrderExecutorOptions> = {
      priceWaitMs: ORDER_EXECUTOR_DEFAULTS.priceWaitMs,
      sessionTimeoutMs: ORDER_EXECUTOR_DEFAULTS.sessionTimeoutMs,
      chunkSize: ORDER_EXECUTOR_DEFAULTS.chunkSize,
      onFatal: () => {},
      outboxRetentionMs: ORDER_EXECUTOR_DEFAULTS.outboxRetentionMs,
      transactions: ORDER_EXECUTOR_DEFAULTS.transactions,
      transactionTimeoutMs: ORDER_EXECUTOR_DEFAULTS.transactionTimeoutMs,
      ...options,
    };
    const opened: Array<() => Promise<void>> = [];
    try {
      return await OrderExecutor.#start(o, opened);
    } catch (error) {
      // Close what was opened, so that a retried start-up does not leak connections.
      for (const close of opened.reverse()) await close().catch(() => {});
      throw error;
    }
  }

  static async #start(
    o: Required<OrderExecutorOptions>,
    opened: Array<() => Promise<void>>,
  ): Promise<OrderExecutor> {
    const producer = createIdempotentProducer(o.kafka);
    await producer.connect();
    opened.push(() => producer.disconnect());
    const relayReader = await PartitionReader.connect(o.kafka);
    opened.push(() => relayReader.close());
    // A second connection: the price feed long-polls, which would delay the relay's reads.
    const pricesReader = await PartitionReader.connect(o.kafka);
    opened.push(() => pricesReader.close());
    const counts = await relayReader.requireTopics([TOPICS.events, TOPICS.commands, TOPICS.dlq]);
    const eventsPartitions = counts.get(TOPICS.events)!;
    const commandPartitions = counts.get(TOPICS.commands)!;
    if (eventsPartitions !== commandPartitions) {
      o.log.warn(
        "{events} has {e} partitions and {commands} {c}: executors sharing the group may write " +
          "to the same event partitions",
        {
          events: TOPICS.events,
          e: eventsPartitions,
          commands: TOPICS.commands,
          c: commandPartitions,
        },
      );
    }
    const prices = new LastPrices({ reader: pricesReader, topic: TOPICS.ticks, log: o.log });
    await prices.start();
    opened.push(() => prices.stop());
    const executor = new OrderExecutor(o, {
      producer,
      relayReader,
      pricesReader,
      prices,
      eventsPartitions,
    });
    opened.push(() => executor.#group.consumer.disconnect());
    opened.push(() => executor.#transactions?.close() ?? Promise.resolve());
    await executor.#pruneOutbox();
    executor.#pruneTimer = setInterval(
      () => void executor.#pruneOutbox(),
      Math.min(o.outboxRetentionMs / 4, 3600_000),
    );
    opened.push(() => Promise.resolve(clearInterval(executor.#pruneTimer)));
    await executor.#run();
    return executor;
  }

  /** Readiness: joined the group, the price feed caught up. */
  readiness(): true | string {
    const group = this.#group.readiness();
    if (group !== true) return group;
    if (!this.#prices.caughtUp) return "price feed is catching up";
    return true;
  }

  /** The command partitions this member owns now. */
  get assigned(): readonly number[] {
    return this.#assigned;
  }

  async #pruneOutbox(): Promise<void> {
    try {
      const deleted = await this.#relay.prune(Date.now() - this.#o.outboxRetentionMs);
      outboxPruned.inc(deleted);
      if (deleted > 0) {
        this.#o.log.info("pruned {deleted} published outbox rows older than {hours} h", {
          deleted,
          hours: this.#o.outboxRetentionMs / 3600_000,
        });
      }
    } catch (error) {
      this.#o.log.warn("pruning the outbox failed: {error}", { error: errorMessage(error) });
    }
  }

  async #run(): Promise<void> {
    await this.#group.connect();
    await this.#group.run((payload) => this.#eachBatch(payload));
  }

  async #eachBatch(payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    const partition = batch.partition;
    const first = batch.firstOffset();
    if (first === null) return;
    const toSettle = this.#toSettle;
    if (toSettle.has(partition)) {
      // A new ownership: take the partition's transactional id first (fencing whoever held
      // it), then read what was published below the committed offset.
      await this.#transactions?.own(partition);
      await this.#settle(partition, Number(first));
      toSettle.delete(partition);
    }
    if (this.#transactions?.fenced(partition)) {
      // Fenced by the broker: another executor owns the partition. Wait for the group to
      // rejoin (the next heartbeat says so) instead of reading the chunk again and again.
      await sleep(500);
      return;
    }
    for (let i = 0; i < batch.messages.length; i += this.#o.chunkSize) {
      if (!payload.isRunning() || payload.isStale()) break;
      await this.#startChunk(payload, batch.messages.slice(i, i + this.#o.chunkSize));
    }
    // Return only when every chunk of the batch is complete: kafkajs rejoins the group only
    // between batches, so no chunk of this member can still publish once the group has
    // given its partition to another member (the fence covers a member that stopped for
    // longer than its session). Chunks of one batch still overlap: the next one's Applies
    // run while the previous one completes.
    await this.#pipeline(partition).tail;
  }

  async #settle(partition: number, committedOffset: number): Promise<void> {
    const { outbox, log } = this.#o;
    const rows = outbox.pendingBefore(partition, committedOffset);
    if (rows.length === 0) return;
    const since = new Map<number, number>();
    for (const row of rows) {
      const ms = Math.floor(row.tickCreatedAtUs / 1000) - 5000;
      since.set(row.eventsPartition, Math.min(since.get(row.eventsPartition) ?? ms, ms));
    }
    for (const [eventsPartition, sinceMs] of since) {
      await this.#relay.catchUp(eventsPartition, sinceMs);
    }
    const left = outbox.pendingBefore(partition, committedOffset);
    if (left.length > 0) {
      log.warn(
        "{count} outbox rows of {topic}/{partition} below the committed offset {offset} were not " +
          "found in {events}; they were committed past by an executor that published them",
        {
          count: left.length,
          topic: TOPICS.commands,
          partition,
          offset: committedOffset,
          events: TOPICS.events,
        },
      );
      outbox.recordSeen(left.map((r) => ({ ...r, offset: -1 })));
    }
  }

  /**
   * Starts a chunk: decodes it and sends every order to Raft at once, then queues its
   * completion on the partition's pipeline and returns, so that the batch's next chunk can
   * start while this one completes. A chunk's completion (outbox insert, dead letters,
   * publish behind the fence, offset commit) runs strictly after the previous chunk's of the
   * same partition, so offsets are committed in order and only after the outbox write and
   * the publish.
   */
  async #startChunk(payload: EachBatchPayload, messages: KafkaMessage[]): Promise<void> {
    const { batch } = payload;
    const partition = batch.partition;
    const dead: DeadLetter[] = [];
    const valid: ValidCommand[] = [];
    const arrived = nowUs();
    for (const message of messages) {
      try {
        const unreadable = undecodableBatchError(message);
        if (unreadable !== undefined) throw unreadable;
        const command = decodeCommand(message.value);
        commandDelay.observe(Math.max(0, arrived - command.createdAtUs) / 1e6);
        valid.push({ command, message });
      } catch (error) {
        if (!(error instanceof InvalidMessageError)) throw error;
        dead.push({
          topic: batch.topic,
          partition,
          offset: Number(message.offset),
          key: message.key,
          value: message.value,
          reason: error.kind,
          detail: error.message,
        });
      }
    }
    const heartbeat = async () => {
      await payload.heartbeat().catch(() => {});
    };
    // Every order of the chunk in one ApplyBatch: one request and one Raft round per chunk.
    // The orders are entries in input order, so the state machine's position check sees
    // them in that order (it is the check across executors; exactly-once does not depend on
    // the order).
    const applyStarted = performance.now();
    const applied = (async (): Promise<OutboxRow[]> => {
      const toRecord = await Promise.all(valid.map(async ({ command }) => {
        const waitStarted = performance.now();
        const referencePrice = await this.#prices.priceAfter(
          command.symbol,
          command.tickSequence,
          this.#o.priceWaitMs,
        );
        priceWait.observe((performance.now() - waitStarted) / 1000);
        return { command, referencePrice };
      }));
      const recorded = await this.#recorder.recordBatch(toRecord, heartbeat);
      return recorded.map(({ event, result }, i): OutboxRow => {
        const { command, message } = valid[i]!;
        if (result === ApplyResult.APPLY_RESULT_DUPLICATE) commandsDuplicate.inc();
        if (result === ApplyResult.APPLY_RESULT_CONFLICT) {
          dead.push({
            topic: batch.topic,
            partition,
            offset: Number(message.offset),
            key: message.key,
            value: message.value,
            reason: "conflict",
            detail: `Order id ${command.orderId} was recorded with another command: ` +
              "expected a re-emitted order to have the same content",
          });
        }
        return {
          orderId: command.orderId,
          eventsPartition: partitionForKey(command.orderId, this.#eventsPartitions),
          sourcePartition: partition,
          sourceOffset: Number(message.offset),
          tickCreatedAtUs: command.tickCreatedAtUs,
          event: OrderEvent.encode(event).finish(),
        };
      });
    })().finally(() => stage("apply", applyStarted));
    // A failed Apply (only on shutdown: the recorder retries otherwise) fails the chunk's
    // completion below; keep it from being reported as unhandled meanwhile.
    applied.catch(() => {});

    const lastOffset = messages.at(-1)!.offset;
    // Where kafkajs fetches next; it commits nothing itself (autoCommit off).
    payload.resolveOffset(lastOffset);
    const pipeline = this.#pipeline(partition);
    const chunk = {
      generation: this.#generation,
      epoch: pipeline.epoch,
      firstOffset: messages[0]!.offset,
      lastOffset,
    };
    const done = pipeline.tail.then(() => this.#completeChunk(payload, chunk, applied, dead));
    pipeline.tail = done.catch(() => {});
    pipeline.queued.push(done);
    void done.finally(() => pipeline.queued.splice(pipeline.queued.indexOf(done), 1)).catch(
      () => {},
    );
    // Back-pressure: a few chunks in flight per partition, then wait for the oldest.
    while (pipeline.queued.length > MAX_CHUNKS_IN_FLIGHT) await pipeline.queued[0]!.catch(() => {});
  }

  #pipeline(partition: number): PartitionPipeline {
    let pipeline = this.#pipelines.get(partition);
    if (!pipeline) {
      pipeline = { tail: Promise.resolve(), queued: [], epoch: 0 };
      this.#pipelines.set(partition, pipeline);
    }
    return pipeline;
  }

  /** A chunk's completion, in partition order: outbox, dead letters, publish, commit. */
  async #completeChunk(
    payload: EachBatchPayload,
    chunk: { generation: number; epoch: number; firstOffset: string; lastOffset: string },
    applied: Promise<OutboxRow[]>,
    dead: DeadLetter[],
  ): Promise<void> {
    const { batch } = payload;
    const partition = batch.partition;
    const pipeline = this.#pipeline(partition);
    // After a rebalance (a new generation) or a failed chunk before this one (a new epoch),
    // this chunk's commands come again from the last committed offset: leave them.
    const current = () => chunk.generation === this.#generation && chunk.epoch === pipeline.epoch;
    try {
      const rows = await applied;
      let started = performance.now();
      const inserted = new Set(this.#o.outbox.insert(rows));
      stage("outbox_insert", started);
      failpoint("after-outbox-insert");
      for (const row of rows) {
        if (!inserted.has(row.orderId)) continue;
        const event = OrderEvent.decode(row.event);
        ordersTotal.inc({
          status: event.status === OrderStatus.ORDER_STATUS_ACCEPTED ? "accepted" : "rejected",
          reason: event.reason || "none",
        });
        orderLatency.observe(Math.max(0, event.createdAtUs - event.tickCreatedAtUs) / 1e6);
      }
      if (!current()) return;
      if (this.#transactions) {
        await this.#completeInTransaction(partition, chunk, rows, dead, current);
        return;
      }
      await this.#dlq.send(dead);

      const commit = (offset: string) =>
        payload.commitOffsetsIfNecessary({
          topics: [{ topic: batch.topic, partitions: [{ partition, offset }] }],
        });
      started = performance.now();
      const { sent } = await this.#relay.publish(
        rows.map((r) => r.orderId),
        async () => {
          // Synchronously from this check to the request: kafkajs puts its current
          // generation into the commit, which is then the generation of this chunk.
          if (!current()) throw new FencedError(partition);
          // Committing what is already done is a no-op for the group, but the coordinator
          // checks our generation: a member that was rebalanced away fails here.
          await commit(chunk.firstOffset).catch((error) => {
            throw new FencedError(partition, error);
          });
        },
      );
      stage("publish", started);
      eventsPublished.inc(sent);
      if (!current()) return;
      started = performance.now();
      await commit(String(Number(chunk.lastOffset) + 1));
      stage("commit", started);
      failpoint("after-commit");
    } catch (error) {
      if (error instanceof FencedError || isFencedError(error)) {
        fencedOff.inc();
        this.#o.log.warn("fenced off {topic}/{partition} at {offset}, nothing published: {error}", {
          topic: batch.topic,
          partition,
          offset: chunk.firstOffset,
          error: errorMessage(error),
        });
      }
      if (!current() || this.#o.hardStop.aborted) return;
      // Nothing after this chunk may be committed before it: start the partition over from
      // this chunk (a new epoch makes the chunks queued behind it stand down).
      pipeline.epoch++;
      this.#o.log.warn(
        "completing {topic}/{partition} at {offset} failed, reading again: {error}",
        {
          topic: batch.topic,
          partition,
          offset: chunk.firstOffset,
          error: errorMessage(error),
        },
      );
      this.#group.consumer.seek({ topic: batch.topic, partition, offset: chunk.firstOffset });
    }
  }

  /**
   * A chunk's dead letters, events and input offset in one transaction of the partition's
   * producer; the outbox rows are marked sent once it is committed.
   */
  async #completeInTransaction(
    partition: number,
    chunk: { lastOffset: string },
    rows: OutboxRow[],
    dead: DeadLetter[],
    current: () => boolean,
  ): Promise<void> {
    const started = performance.now();
    let sentTo = new Set<number>();
    try {
      await this.#transactions!.run(partition, async (transaction: Transaction) => {
        await new DeadLetterQueue(transaction, "order-executor").send(dead);
        const { sent } = await this.#relay.publish(
          rows.map((r) => r.orderId),
          () => {
            if (!current()) throw new FencedError(partition);
            sentTo = new Set(rows.map((r) => r.eventsPartition));
            return Promise.resolve();
          },
          {
            send: (record) => transaction.send(record),
            commit: async () => {
              await transaction.sendOffsets({
                consumerGroupId: this.#o.groupId,
                topics: [{
                  topic: TOPICS.commands,
                  partitions: [{ partition, offset: String(Number(chunk.lastOffset) + 1) }],
                }],
              });
              failpoint("before-txn-commit");
              await transaction.commit();
            },
          },
        );
        eventsPublished.inc(sent);
      });
    } catch (error) {
      // Whether the transaction's records are visible is settled by reading the tail again.
      this.#relay.transactionAborted(sentTo);
      throw error;
    }
    stage("publish", started);
    failpoint("after-commit");
  }

  /** Stops consuming (after the batch in flight and the chunks it queued), then closes the clients. */
  async stop(): Promise<void> {
    clearInterval(this.#pruneTimer);
    // Pause first: no new batches, but still a member, so the chunks in flight can publish
    // behind their fence and commit; then leave the group.
    try {
      this.#group.consumer.pause([{ topic: TOPICS.commands }]);
    } catch { /* not running */ }
    for (let settled = false; !settled;) {
      const tails = [...this.#pipelines.values()].map((p) => p.tail);
      await Promise.all(tails);
      settled = [...this.#pipelines.values()].every((p, i) => p.tail === tails[i]);
    }
    await this.#group.disconnect();
    await this.#transactions?.close();
    await this.#prices.stop();
    await this.#producer.disconnect().catch(() => {});
    await this.#relayReader.close().catch(() => {});
    await this.#pricesReader.close().catch(() => {});
  }
}
