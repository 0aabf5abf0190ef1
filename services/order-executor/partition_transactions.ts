/**
 * One Kafka transactional producer per owned `orders.commands` partition, so that a chunk's
 * events and its input offsets are committed together, and a zombie executor is fenced by the
 * broker (docs/DESIGN.md, "The guarantee", 5 and 6).
 *
 * The transactional id is `<group>-orders.commands-<partition>`: the same for every executor
 * of the group, so whoever owns a partition now holds its id. Taking ownership
 * ({@linkcode PartitionTransactions.own}) starts a new producer, whose InitProducerId bumps
 * the id's epoch: the previous holder's open transaction is aborted, and everything it sends
 * or commits afterwards is refused (INVALID_PRODUCER_EPOCH / PRODUCER_FENCED), even if it
 * passed every check of its own before it froze. This is Kafka Streams' first exactly-once
 * design (a transactional id per input partition). Its successor (KIP-447: one id per
 * process, fenced through the consumer-group generation that TxnOffsetCommit v3 carries)
 * needs a client that sends the group metadata, which kafkajs 2.2 does not.
 *
 * @module
 */
import type { Kafka, Producer, Transaction } from "kafkajs";
import { createTransactionalProducer } from "@trading/shared/kafka";
import type { Logger } from "@trading/shared/log";
import { errorMessage } from "@trading/shared/retry";

/** Options of {@linkcode PartitionTransactions}. */
export interface PartitionTransactionsOptions {
  kafka: Kafka;
  /** The consumer group: part of each transactional id, and the group of the offsets. */
  groupId: string;
  /** The input topic whose partitions are owned. */
  topic: string;
  /** `transaction.timeout.ms`: the broker aborts a transaction left open longer. */
  timeoutMs: number;
  log: Logger;
}

/**
 * The error types with which a broker refuses a producer that a newer one fenced. Others (an
 * authorization failure, an expired producer id mapping) are failures like any: the chunk is
 * read again, and the producer is replaced if it cannot abort.
 */
const FENCED_TYPES = new Set(["INVALID_PRODUCER_EPOCH", "PRODUCER_FENCED"]);

/**
 * Thrown by {@linkcode PartitionTransactions.run} for a partition whose producer was fenced:
 * another executor holds the partition now, and this one waits for its group to rejoin.
 */
export class ProducerFencedError extends Error {
  readonly type = "PRODUCER_FENCED";
  constructor(transactionalId: string) {
    super(
      `Transactional id ${transactionalId} is held by a newer producer: expected this ` +
        "executor to rejoin its group before it publishes for the partition again",
    );
    this.name = "ProducerFencedError";
  }
}

/** True when `error` (or one it wraps) says that a newer producer holds the transactional id. */
export function isFencedError(error: unknown): boolean {
  for (let e = error, depth = 0; e instanceof Error && depth < 5; depth++) {
    const type = (e as { type?: unknown }).type;
    if (typeof type === "string" && FENCED_TYPES.has(type)) return true;
    e = (e as { originalError?: unknown }).originalError ?? e.cause;
  }
  return false;
}

/** The transactional producers of the partitions this executor owns. */
export class PartitionTransactions {
  #o: PartitionTransactionsOptions;
  #producers = new Map<number, Promise<Producer>>();
  /** Partitions whose producer the broker fenced: not taken again before the next own(). */
  #fenced = new Set<number>();

  constructor(options: PartitionTransactionsOptions) {
    this.#o = options;
  }

  /** The transactional id of `partition`'s producer. */
  transactionalId(partition: number): string {
    return `${this.#o.groupId}-${this.#o.topic}-${partition}`;
  }

  /**
   * Takes `partition`'s transactional id: a new producer, initialized at once, so that the
   * previous holder (another executor, or an earlier producer of this one) is fenced and its
   * open transaction aborted before this executor reads or writes anything for the partition.
   */
  async own(partition: number): Promise<void> {
    this.#drop(partition);
    this.#fenced.delete(partition);
    const producer = (async () => {
      const producer = createTransactionalProducer(
        this.#o.kafka,
        this.transactionalId(partition),
        this.#o.timeoutMs,
      );
      await producer.connect();
      try {
        // kafkajs initializes the producer id at its first transaction; one with nothing in
        // it ends without a request.
        await (await producer.transaction()).abort();
      } catch (error) {
        await producer.disconnect().catch(() => {});
        throw error;
      }
      return producer;
    })();
    this.#producers.set(partition, producer);
    producer.catch(() => {
      if (this.#producers.get(partition) === producer) this.#producers.delete(partition);
    });
    await producer;
  }

  /**
   * Runs `work` in a new transaction of `partition`'s producer and commits it. When `work` or
   * the commit fails, the transaction is aborted (when the broker still takes the producer)
   * and the error is thrown. A fenced producer is dropped, and the partition refuses work
   * until the next {@linkcode own}: taking the id again would fence its new owner. A producer
   * dropped for another failure is replaced at the next run.
   */
  async run(partition: number, work: (transaction: Transaction) => Promise<void>): Promise<void> {
    // Dropped after a failure that was not a fence: take the id again (whatever another
    // holder wrote is committed or aborted by then, and the relay reads the tail again).
    if (this.#fenced.has(partition)) throw new ProducerFencedError(this.transactionalId(partition));
    if (!this.#producers.has(partition)) await this.own(partition);
    const transaction = await (await this.#producers.get(partition)!).transaction();
    try {
      await work(transaction);
      if (transaction.isActive()) await transaction.commit();
    } catch (error) {
      if (isFencedError(error)) {
        this.#drop(partition);
        this.#fenced.add(partition);
      } else if (transaction.isActive()) {
        await transaction.abort().catch((abortError) => {
          this.#o.log.warn("aborting the transaction of {topic}/{partition} failed: {error}", {
            topic: this.#o.topic,
            partition,
            error: errorMessage(abortError),
          });
          this.#drop(partition);
        });
      }
      throw error;
    }
  }

  /** Disconnects the producers of partitions not in `owned`. */
  release(owned: readonly number[]): void {
    for (const partition of [...this.#producers.keys()]) {
      if (!owned.includes(partition)) this.#drop(partition);
    }
    for (const partition of [...this.#fenced]) {
      if (!owned.includes(partition)) this.#fenced.delete(partition);
    }
  }

  /** True when `partition`'s producer was fenced since it was last owned. */
  fenced(partition: number): boolean {
    return this.#fenced.has(partition);
  }

  /** Disconnects every producer. */
  async close(): Promise<void> {
    const producers = [...this.#producers.values()];
    this.#producers.clear();
    await Promise.all(
      producers.map(async (p) => (await p).disconnect()).map((p) => p.catch(() => {})),
    );
  }

  #drop(partition: number): void {
    const producer = this.#producers.get(partition);
    if (producer === undefined) return;
    this.#producers.delete(partition);
    void producer.then((p) => p.disconnect()).catch(() => {});
  }
}
