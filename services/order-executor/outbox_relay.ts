/**
 * The outbox relay: publishes pending outbox rows to `orders.events` and never publishes an
 * order id twice (docs/DESIGN.md, "The guarantee", 5).
 *
 * Before it publishes an order's event it makes sure the outbox knows every event already in
 * that `orders.events` partition since the order's tick was created (minus a clock margin):
 * no event of an order can be older than its tick, so this window holds any earlier
 * publication of the order, whether by a previous run of this executor that crashed between
 * "sent" and "marked sent", or by another executor that owned the partition before. Events
 * found there settle the row (`seen`) instead of being sent again. The relay keeps, per
 * partition, the offset range it has read ("coverage"); at the first publish after each
 * (re)assignment it compares the partition's high watermark with the end of its coverage and
 * reads anything it did not write itself, so events written by others while it did not own
 * the partition are noticed; and every produce answer that does not start where its coverage
 * ends reveals a foreign write too. Reads are by time (ListOffsets) and incremental, so in
 * steady state a publish costs no read at all.
 *
 * The relay publishes only what the executor hands it for the partitions it owns, right after
 * `fence` succeeded: an executor that lost its partitions in a rebalance fails the fence and
 * publishes nothing. With a {@linkcode PublishTransaction} the events are sent inside a Kafka
 * transaction that also commits the input offsets: a zombie that passed its fence is then
 * refused by the broker (its transactional id has a newer epoch), and rows are marked sent
 * only once the transaction is committed. Each committed transaction leaves a commit marker
 * after its records, which the coverage accounts for; an aborted one leaves records that a
 * read_committed reader never returns, so the relay reads the partition's tail again.
 *
 * Old rows are pruned through the relay ({@linkcode OutboxRelay.prune}): with no publish or
 * catch-up running, it deletes rows published long ago and forgets its coverage, so the next
 * publish reads the partition again from its rows' tick time. A command redelivered after its
 * row was deleted is then caught by that read (its event is older than the coverage, so the
 * read reaches back to it) instead of being trusted to the outbox.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import type { Producer } from "kafkajs";
import type { Logger } from "@trading/shared/log";
import type { PartitionReader } from "@trading/shared/partition-reader";
import { failpoint } from "@trading/shared/failpoint";
import type { OrderOutbox, StoredOutboxRow } from "./order_outbox.ts";

/** Options of {@linkcode OutboxRelay}. */
export interface OutboxRelayOptions {
  outbox: OrderOutbox;
  /** An idempotent producer (retries cannot duplicate a batch). */
  producer: Producer;
  reader: PartitionReader;
  /** The events topic. */
  topic: string;
  log: Logger;
  /** Allowed clock difference between the ingestor's host and the broker's, ms. Default 5000. */
  clockMarginMs?: number;
  /**
   * Called with the number of pending rows a publish found already published (and settled as
   * `seen`) as soon as they are settled, so that they are counted even when the send or the
   * transaction after it fails (the rows stay settled; a retry finds nothing pending).
   */
  onFoundPublished?: (count: number) => void;
}

/**
 * A Kafka transaction to publish in: `send` writes inside it, and `commit` commits it (with
 * the input offsets) once the events are sent, or when there is nothing to send.
 */
export interface PublishTransaction {
  send: Producer["send"];
  commit(): Promise<void>;
}

interface Coverage {
  fromOffset: number;
  fromTimestampMs: number;
  /** The high watermark up to which everything is known. */
  toOffset: number;
}

/** What one {@linkcode OutboxRelay.publish} did. */
export interface PublishResult {
  /** Rows published now. */
  sent: number;
  /** Pending rows found already published (settled as `seen`, not sent). */
  alreadyPublished: number;
}

/** Publishes the outbox to `orders.events`, at most once per order id. */
export class OutboxRelay {
  #o: Required<OutboxRelayOptions>;
  #coverage = new Map<number, Coverage>();
  /** Partitions whose coverage reached the high watermark in the current assignment. */
  #owned = new Set<number>();
  /** Publishes and catch-ups running now; a prune waits for none to run. */
  #busy = 0;
  #idle: (() => void) | undefined;
  /** The prune running now; publishes and catch-ups wait for it. */
  #pruning: Promise<number> | undefined;

  constructor(options: OutboxRelayOptions) {
    this.#o = { clockMarginMs: 5000, onFoundPublished: () => {}, ...options };
  }

  /** The offset range of `partition` the relay has read or written, for tests and logs. */
  coverage(partition: number): Readonly<Coverage> | undefined {
    return this.#coverage.get(partition);
  }

  async #scan(partition: number, from: number, to: number): Promise<number> {
    if (to <= from) return 0;
    const found: Array<
      { orderId: string; eventsPartition: number; offset: number; event: Uint8Array }
    > = [];
    const decoder = new TextDecoder();
    let settled = 0;
    await this.#o.reader.readRange(this.#o.topic, partition, from, to, (record) => {
      if (record.key === null) return;
      found.push({
        orderId: decoder.decode(record.key),
        eventsPartition: partition,
        offset: record.offset,
        event: record.value ?? new Uint8Array(),
      });
      if (found.length >= 5000) settled += this.#o.outbox.recordSeen(found.splice(0));
    });
    settled += this.#o.outbox.recordSeen(found);
    return settled;
  }

  /**
   * Makes the outbox know every event of `partition` written since `sinceMs` (by time) up to
   * the current high watermark. Returns how many pending rows turned out to be published.
   */
  catchUp(partition: number, sinceMs: number): Promise<number> {
    return this.#exclusiveOfPrune(() => this.#catchUp(partition, sinceMs));
  }

  async #catchUp(partition: number, sinceMs: number): Promise<number> {
    const { reader, topic } = this.#o;
    const coverage = this.#coverage.get(partition);
    if (coverage && this.#owned.has(partition) && sinceMs >= coverage.fromTimestampMs) {
      // Since the last check in this assignment only we write here (others are fenced
      // off); what we wrote is in the coverage already. Saves a round trip per publish.
      return 0;
    }
    const high = await reader.highWatermark(topic, partition);
    let settled = 0;
    if (!coverage) {
      const from = Math.min(high, await reader.offsetForTimestamp(topic, partition, sinceMs));
      settled += await this.#scan(partition, from, high);
      this.#coverage.set(partition, { fromOffset: from, fromTimestampMs: sinceMs, toOffset: high });
      this.#owned.add(partition);
      return settled;
    }
    if (sinceMs < coverage.fromTimestampMs) {
      const from = await reader.offsetForTimestamp(topic, partition, sinceMs);
      if (from < coverage.fromOffset) {
        settled += await this.#scan(partition, from, coverage.fromOffset);
        coverage.fromOffset = from;
      }
      coverage.fromTimestampMs = sinceMs;
    }
    if (high > coverage.toOffset) {
      settled += await this.#scan(partition, coverage.toOffset, high);
      coverage.toOffset = high;
    }
    this.#owned.add(partition);
    return settled;
  }

  /**
   * Forgets that the coverage reaches the end of each partition: after a rebalance, others
   * may have written while this executor did not own a partition, so the next publish
   * checks the high watermark again first.
   */
  newAssignment(): void {
    this.#owned.clear();
  }

  /**
   * Publishes the pending rows among `orderIds` (acks=-1) and marks them sent. Each row's
   * partition is first caught up from the row's tick time; `fence` runs just before the send
   * and must throw when this executor no longer owns the input partition. With `transaction`
   * the rows are sent in it and marked sent after its commit; it is committed even when
   * nothing is left to send (the input offsets are in it).
   */
  publish(
    orderIds: Iterable<string>,
    fence: () => Promise<void>,
    transaction?: PublishTransaction,
  ): Promise<PublishResult> {
    return this.#exclusiveOfPrune(() => this.#publish([...orderIds], fence, transaction));
  }

  /**
   * Says that a transaction that wrote to `partitions` was aborted (or its outcome is not
   * known): its records and abort marker follow the coverage, so the next publish reads the
   * partition's tail again instead of taking them for another producer's writes.
   */
  transactionAborted(partitions: Iterable<number>): void {
    for (const partition of partitions) this.#owned.delete(partition);
  }

  /**
   * Deletes the outbox rows published before `beforeMs` and forgets the coverage of every
   * partition (it vouched for the deleted rows). Waits until no publish or catch-up runs, and
   * holds new ones back meanwhile. Returns how many rows were deleted.
   */
  prune(beforeMs: number): Promise<number> {
    if (this.#pruning) return this.#pruning;
    const pruning = (async () => {
      while (this.#busy > 0) await new Promise<void>((resolve) => this.#idle = resolve);
      const deleted = this.#o.outbox.prune(beforeMs);
      this.#coverage.clear();
      this.#owned.clear();
      return deleted;
    })().finally(() => this.#pruning = undefined);
    this.#pruning = pruning;
    return pruning;
  }

  async #exclusiveOfPrune<T>(work: () => Promise<T>): Promise<T> {
    while (this.#pruning) await this.#pruning.catch(() => {});
    this.#busy++;
    try {
      return await work();
    } finally {
      if (--this.#busy === 0) this.#idle?.();
    }
  }

  async #publish(
    ids: string[],
    fence: () => Promise<void>,
    transaction: PublishTransaction | undefined,
  ): Promise<PublishResult> {
    const { outbox } = this.#o;
    let rows = outbox.pending(ids);
    if (rows.length === 0) {
      await transaction?.commit();
      return { sent: 0, alreadyPublished: 0 };
    }
    const since = new Map<number, number>();
    for (const row of rows) {
      const tickMs = Math.floor(row.tickCreatedAtUs / 1000) - this.#o.clockMarginMs;
      since.set(row.eventsPartition, Math.min(since.get(row.eventsPartition) ?? tickMs, tickMs));
    }
    let alreadyPublished = 0;
    for (const [partition, sinceMs] of since) {
      alreadyPublished += await this.#catchUp(partition, sinceMs);
    }
    if (alreadyPublished > 0) {
      this.#o.onFoundPublished(alreadyPublished);
      rows = outbox.pending(ids);
    }
    if (rows.length === 0) {
      await transaction?.commit();
      return { sent: 0, alreadyPublished };
    }

    failpoint("before-fence");
    await fence();
    // The window a transaction closes: past the fence, not yet sent.
    failpoint("after-fence");
    const send = transaction?.send ?? this.#o.producer.send.bind(this.#o.producer);
    const results = await send({
      topic: this.#o.topic,
      acks: -1,
      messages: rows.map((row) => ({
        key: row.orderId,
        value: Buffer.from(row.event.buffer, row.event.byteOffset, row.event.byteLength),
        partition: row.eventsPartition,
      })),
    });
    failpoint("after-send");
    if (transaction) {
      await transaction.commit();
      failpoint("after-txn-commit");
    }
    const sent = await this.#recordOffsets(rows, results, transaction !== undefined);
    outbox.markSent(sent);
    failpoint("after-mark-sent");
    return { sent: rows.length, alreadyPublished };
  }

  async #recordOffsets(
    rows: StoredOutboxRow[],
    results: Array<{ partition: number; baseOffset?: string }>,
    transactional: boolean,
  ): Promise<Array<{ orderId: string; offset: number }>> {
    const byPartition = new Map<number, StoredOutboxRow[]>();
    for (const row of rows) {
      byPartition.set(row.eventsPartition, [...(byPartition.get(row.eventsPartition) ?? []), row]);
    }
    const sent: Array<{ orderId: string; offset: number }> = [];
    for (const [partition, partitionRows] of byPartition) {
      const base = Number(results.find((r) => r.partition === partition)?.baseOffset ?? -1);
      partitionRows.forEach((row, i) => sent.push({ orderId: row.orderId, offset: base + i }));
      const coverage = this.#coverage.get(partition);
      if (!coverage || base < 0) continue;
      if (base !== coverage.toOffset) {
        // Someone else wrote to this partition between our catch-up and our send: only a
        // fenced-out executor can (a zombie paused past its session timeout). Read what it
        // wrote so that it is known from now on, and say so loudly.
        this.#o.log.warn(
          "{topic}/{partition} got writes from another producer at offsets {from}-{to}",
          { topic: this.#o.topic, partition, from: coverage.toOffset, to: base },
        );
        await this.#scan(partition, coverage.toOffset, base);
      }
      // A committed transaction's marker takes the offset after its records.
      const end = base + partitionRows.length + (transactional ? 1 : 0);
      coverage.toOffset = Math.max(coverage.toOffset, end);
    }
    return sent;
  }
}
