/**
 * The stream-processor's Kafka flow: a consumer group on `market.ticks`; for each chunk of a
 * partition's batch, the {@linkcode TickProcessor} makes the order commands, they are
 * produced to `orders.commands` (keyed by order id, acks=-1, idempotent producer) and bad
 * ticks to the dead-letter topic, and only after both are acknowledged is the strategy state
 * saved with the offsets it covers (one SQLite transaction), at most every
 * `saveIntervalMs`. The Kafka offset commit that follows a save is informational (lag, and
 * where a new member starts): the SQLite offsets are the truth, and records below them are
 * skipped when Kafka redelivers them.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import type { EachBatchPayload, Kafka, Producer } from "kafkajs";
import { OrderCommand } from "@trading/proto";
import { GroupConsumer } from "@trading/shared/group-consumer";
import { PartitionReader } from "@trading/shared/partition-reader";
import { createIdempotentProducer, TOPICS, undecodableBatchError } from "@trading/shared/kafka";
import { counter, histogram } from "@trading/shared/metrics";
import type { Logger } from "@trading/shared/log";
import { errorMessage } from "@trading/shared/retry";
import { DeadLetterQueue } from "@trading/shared/dead-letter-queue";
import { nowUs } from "@trading/shared/now-us";
import { failpoint } from "@trading/shared/failpoint";
import { STREAM_PROCESSOR_DEFAULTS } from "./defaults.ts";
import type { TickProcessor, TickRecord } from "./tick_processor.ts";

/** Options of {@linkcode StreamProcessor.start}. */
export interface StreamProcessorOptions {
  kafka: Kafka;
  processor: TickProcessor;
  groupId: string;
  log: Logger;
  /** Largest number of ticks processed (and saved) together. Default 2000. */
  chunkSize?: number;
  /** Save the state at most this often, ms (0: after every chunk). Default 100. */
  saveIntervalMs?: number;
  sessionTimeoutMs?: number;
  /** Called when the consumer crashed and kafkajs will not restart it. */
  onFatal?: (error: unknown) => void;
}

const ticksIn = counter("ticks_in_total", "Valid ticks processed");
const ticksSkipped = counter(
  "ticks_skipped_total",
  "Tick records skipped: already covered by the saved state, or repeated sequences",
);
const commandsOut = counter("commands_out_total", "Order commands produced, by strategy", [
  "strategy",
]);
const tickToCommand = histogram(
  "tick_to_command_seconds",
  "Latency from tick creation to command acknowledgement",
);

/** The running consumer → strategies → producer loop. */
export class StreamProcessor {
  #o: Required<StreamProcessorOptions>;
  #group: GroupConsumer;
  #producer: Producer;
  #dlq: DeadLetterQueue;
  /** Partitions whose memory holds acknowledged but unsaved progress, and since when. */
  #unsavedSince = new Map<number, number>();
  /** Partitions with a chunk between processing and acknowledgement: not savable now. */
  #inFlight = new Set<number>();
  #saveTimer: ReturnType<typeof setInterval> | undefined;

  private constructor(o: Required<StreamProcessorOptions>, producer: Producer) {
    this.#o = o;
    this.#producer = producer;
    this.#dlq = new DeadLetterQueue(producer, "stream-processor");
    this.#group = new GroupConsumer({
      kafka: o.kafka,
      groupId: o.groupId,
      topic: TOPICS.ticks,
      sessionTimeoutMs: o.sessionTimeoutMs,
      log: o.log,
      onJoin: () => {
        // Another member may have moved our old partitions on: reload every partition's
        // state from the (possibly shared) store at its next batch.
        for (const partition of o.processor.partitions) o.processor.discard(partition);
        this.#unsavedSince.clear();
      },
      onFatal: o.onFatal,
    });
  }

  /** Connects the clients and starts consuming ticks. */
  static async start(options: StreamProcessorOptions): Promise<StreamProcessor> {
    const o: Required<StreamProcessorOptions> = {
      chunkSize: STREAM_PROCESSOR_DEFAULTS.chunkSize,
      saveIntervalMs: STREAM_PROCESSOR_DEFAULTS.saveIntervalMs,
      sessionTimeoutMs: STREAM_PROCESSOR_DEFAULTS.sessionTimeoutMs,
      onFatal: () => {},
      ...options,
    };
    // Its topics must exist: a consumer of a missing one and a send to one only retry.
    const reader = await PartitionReader.connect(o.kafka);
    try {
      await reader.requireTopics([TOPICS.ticks, TOPICS.commands, TOPICS.dlq]);
    } finally {
      await reader.close();
    }
    const producer = createIdempotentProducer(o.kafka);
    const processor = new StreamProcessor(o, producer);
    try {
      await producer.connect();
      await processor.#run();
    } catch (error) {
      clearInterval(processor.#saveTimer);
      await processor.#group.consumer.disconnect().catch(() => {});
      await producer.disconnect().catch(() => {});
      throw error;
    }
    return processor;
  }

  /**
   * Saves the state of `partition` (its commands are acknowledged) when the last save is at
   * least `saveIntervalMs` old. Saving less often than every chunk keeps the synchronous
   * fsync of SQLite off most chunks; a crash then re-emits at most that interval of orders
   * (the same ids, which the executor recognises). Returns true when it saved.
   */
  #saveIfDue(partition: number, nowMs: number): boolean {
    const since = this.#unsavedSince.get(partition);
    if (this.#o.saveIntervalMs > 0) {
      if (since === undefined) {
        this.#unsavedSince.set(partition, nowMs); // the oldest unsaved progress
        return false;
      }
      if (nowMs - since < this.#o.saveIntervalMs) return false;
    }
    this.#save(partition);
    return true;
  }

  #save(partition: number): void {
    this.#o.processor.commit(partition);
    this.#unsavedSince.delete(partition);
    failpoint("after-state-commit");
  }

  /** Saves every partition whose progress waited longer than the interval (idle feed). */
  #saveIdle(): void {
    const now = performance.now();
    for (const [partition, since] of this.#unsavedSince) {
      if (this.#inFlight.has(partition) || now - since < this.#o.saveIntervalMs) continue;
      this.#save(partition);
    }
  }

  /** Readiness: the consumer joined its group and runs. */
  readiness(): true | string {
    return this.#group.readiness();
  }

  async #run(): Promise<void> {
    await this.#group.connect();
    if (this.#o.saveIntervalMs > 0) {
      this.#saveTimer = setInterval(() => this.#saveIdle(), this.#o.saveIntervalMs);
    }
    await this.#group.run((payload) => this.#eachBatch(payload));
  }

  async #eachBatch(payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    const partition = batch.partition;
    const records = batch.messages.map((m) => ({
      offset: Number(m.offset),
      value: m.value,
      undecodable: undecodableBatchError(m),
    }));
    for (let i = 0; i < records.length; i += this.#o.chunkSize) {
      if (!payload.isRunning() || payload.isStale()) return;
      const chunk = records.slice(i, i + this.#o.chunkSize);
      if (!await this.#continuesSavedState(partition, chunk[0]!.offset)) return;
      await this.#handleChunk(payload, chunk);
    }
  }

  /**
   * True when a chunk starting at `first` continues the state of `partition` (records before
   * the saved offset are skipped by the processor). Otherwise the partition is sought back to
   * the saved offset and false returned: Kafka's committed offset may be ahead of the saved
   * state (the state file was replaced), or the state was reloaded mid-batch after a
   * rebalance; processing on would skip ticks the state never saw.
   */
  async #continuesSavedState(partition: number, first: number): Promise<boolean> {
    const resumeAt = this.#o.processor.resumeOffset(partition) ??
      await this.#lowWatermark(partition);
    if (first <= resumeAt) return true;
    const low = await this.#lowWatermark(partition);
    if (resumeAt < low) {
      // The ticks between the saved offset and the log start are deleted (retention): there
      // is nothing to go back to.
      this.#o.log.warn("{topic}/{partition}: ticks {from}-{to} were deleted before processing", {
        topic: TOPICS.ticks,
        partition,
        from: resumeAt,
        to: low - 1,
      });
      return true;
    }
    this.#o.log.info("{topic}/{partition} resumes at saved offset {saved}, not {first}", {
      topic: TOPICS.ticks,
      partition,
      saved: resumeAt,
      first,
    });
    this.#group.consumer.seek({ topic: TOPICS.ticks, partition, offset: String(resumeAt) });
    return false;
  }

  async #lowWatermark(partition: number): Promise<number> {
    const admin = this.#o.kafka.admin();
    await admin.connect();
    try {
      const offsets = await admin.fetchTopicOffsets(TOPICS.ticks);
      return Number(offsets.find((o) => o.partition === partition)?.low ?? 0);
    } finally {
      await admin.disconnect();
    }
  }

  async #handleChunk(
    payload: EachBatchPayload,
    records: Array<TickRecord>,
  ): Promise<void> {
    const { batch } = payload;
    const partition = batch.partition;
    const processor = this.#o.processor;
    const result = processor.process(partition, records);
    this.#inFlight.add(partition);
    try {
      if (result.commands.length > 0) {
        await this.#producer.send({
          topic: TOPICS.commands,
          acks: -1,
          messages: result.commands.map((command) => {
            const bytes = OrderCommand.encode(command).finish();
            return {
              key: command.orderId,
              value: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
            };
          }),
        });
      }
      const byOffset = new Map(records.map((r) => [r.offset, r]));
      await this.#dlq.send(result.rejected.map(({ offset, error }) => ({
        topic: batch.topic,
        partition,
        offset,
        key: batch.messages.find((m) => Number(m.offset) === offset)?.key ?? null,
        value: byOffset.get(offset)?.value ?? null,
        reason: error.kind,
        detail: error.message,
      })));
    } catch (error) {
      // The memory is ahead of what was acknowledged: roll it back to the saved state.
      processor.discard(partition);
      this.#unsavedSince.delete(partition);
      throw error;
    } finally {
      this.#inFlight.delete(partition);
    }
    failpoint("after-produce");
    const saved = this.#saveIfDue(partition, performance.now());

    const acknowledged = nowUs();
    ticksIn.inc(result.ticks.length);
    ticksSkipped.inc(result.skipped);
    for (const command of result.commands) {
      commandsOut.inc({ strategy: command.strategyId });
      tickToCommand.observe(Math.max(0, acknowledged - command.tickCreatedAtUs) / 1e6);
    }
    if (result.nextOffset !== undefined) {
      if (saved) {
        await payload.commitOffsetsIfNecessary({
          topics: [{
            topic: batch.topic,
            partitions: [{ partition, offset: String(result.nextOffset) }],
          }],
        }).catch((error) =>
          this.#o.log.debug("offset commit failed (the saved state is the truth): {error}", {
            error: errorMessage(error),
          })
        );
      }
      payload.resolveOffset(String(result.nextOffset - 1));
    }
    await payload.heartbeat().catch(() => {});
  }

  /** Stops consuming (after the batch in flight), saves the state, closes the clients. */
  async stop(): Promise<void> {
    clearInterval(this.#saveTimer);
    await this.#group.disconnect();
    for (const partition of [...this.#unsavedSince.keys()]) {
      if (!this.#inFlight.has(partition)) this.#save(partition);
    }
    await this.#producer.disconnect().catch(() => {});
  }
}
