/**
 * A kafkajs consumer-group member on one topic with the pipeline's settings and manual
 * commits: the stream-processor's and the order-executor's input. It tracks whether the
 * member has joined its group (readiness), reports a crash kafkajs will not recover from,
 * and keeps the `consumer_lag` gauge per partition.
 *
 * @module
 */
import type { Consumer, EachBatchPayload, Kafka } from "kafkajs";
import type { Logger } from "../runtime/log.ts";
import { gauge } from "../runtime/metrics.ts";
import { errorMessage } from "../runtime/retry.ts";

/** Options of {@linkcode GroupConsumer}. */
export interface GroupConsumerOptions {
  kafka: Kafka;
  groupId: string;
  /** The one topic the member consumes, from the beginning when the group has no offset. */
  topic: string;
  /** Consumer-group session timeout, ms; heartbeats go at a fifth of it, at most every second. */
  sessionTimeoutMs: number;
  log: Logger;
  /**
   * Called at every join of the group with the partitions of `topic` this member owns now,
   * before the join is logged.
   */
  onJoin?: (partitions: number[]) => void;
  /** Called when the consumer crashed and kafkajs will not restart it. */
  onFatal: (error: unknown) => void;
}

const consumerLag = gauge("consumer_lag", "Records behind the high watermark, per partition", [
  "topic",
  "partition",
]);

/** A consumer-group member; {@linkcode connect}, then {@linkcode run}. */
export class GroupConsumer {
  /** The kafkajs consumer (seek, pause, commits through the batch payload). */
  readonly consumer: Consumer;
  #o: GroupConsumerOptions;
  #joined = false;
  #crashed: string | undefined;

  constructor(options: GroupConsumerOptions) {
    this.#o = options;
    this.consumer = options.kafka.consumer({
      groupId: options.groupId,
      sessionTimeout: options.sessionTimeoutMs,
      rebalanceTimeout: 30_000,
      heartbeatInterval: Math.min(1000, Math.floor(options.sessionTimeoutMs / 5)),
      maxWaitTimeInMs: 250,
      allowAutoTopicCreation: false,
    });
    const { consumer } = this;
    consumer.on(consumer.events.GROUP_JOIN, (event) => {
      this.#joined = true;
      this.#crashed = undefined;
      const partitions = [...(event.payload.memberAssignment[options.topic] ?? [])].sort();
      options.onJoin?.(partitions);
      options.log.info("joined {groupId} owning {topic} partitions {partitions}", {
        groupId: options.groupId,
        topic: options.topic,
        partitions: partitions.join(",") || "none",
      });
    });
    consumer.on(consumer.events.CRASH, (event) => {
      this.#crashed = errorMessage(event.payload.error);
      this.#joined = false;
      if (!event.payload.restart) options.onFatal(event.payload.error);
    });
  }

  /** Readiness: the member joined its group and its consumer runs. */
  readiness(): true | string {
    if (this.#crashed) return `consumer crashed: ${this.#crashed}`;
    return this.#joined ? true : "consumer has not joined its group yet";
  }

  /** Connects and subscribes to the topic. */
  async connect(): Promise<void> {
    await this.consumer.connect();
    await this.consumer.subscribe({ topic: this.#o.topic, fromBeginning: true });
  }

  /**
   * Starts consuming: `eachBatch` gets every batch, three partitions at once, and resolves
   * and commits offsets itself (no auto-commit, no auto-resolve).
   */
  async run(eachBatch: (payload: EachBatchPayload) => Promise<void>): Promise<void> {
    await this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 3,
      eachBatch: (payload) => {
        const { batch } = payload;
        consumerLag.set(
          { topic: batch.topic, partition: String(batch.partition) },
          Number(batch.offsetLag()),
        );
        return eachBatch(payload);
      },
    });
  }

  /** Leaves the group and disconnects; a failure is logged, not thrown. */
  async disconnect(): Promise<void> {
    await this.consumer.disconnect().catch((error) =>
      this.#o.log.warn("consumer disconnect failed: {error}", { error: errorMessage(error) })
    );
  }
}
