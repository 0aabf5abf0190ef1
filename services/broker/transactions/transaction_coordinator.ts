/**
 * The transaction coordinator of the single-node broker, after Kafka's TransactionCoordinator
 * (KIP-98): InitProducerId with a transactional id (an epoch bump that fences the previous
 * holder and aborts its open transaction), AddPartitionsToTxn, AddOffsetsToTxn,
 * TxnOffsetCommit and EndTxn, the abort of transactions that outlive their timeout, and the
 * check that a transactional Produce belongs to the ongoing transaction of its producer.
 *
 * Every transition is fsynced to the {@linkcode TransactionLog} before it is acted on or
 * answered. Ending a transaction: PrepareCommit/PrepareAbort (durable), then a marker in
 * every partition of the transaction (durable) and, on commit, its offsets into the group
 * offsets store, then CompleteCommit/CompleteAbort. A broker killed anywhere in between finds
 * the Prepare record on start and writes the markers again ({@linkcode recover}), so a
 * transaction is wholly visible or not at all: `read_committed` readers stop at the first
 * partition's open transaction until its marker is durable.
 *
 * The operations of one transactional id run one at a time (a lock per id), so the
 * Prepare states Kafka answers with CONCURRENT_TRANSACTIONS are never seen by a request
 * here; an InitProducerId that fences an ongoing transaction aborts it and then bumps the
 * epoch again in the same call, which is what a Kafka client's retry would get.
 *
 * @module
 */
import { getLogger } from "@trading/shared/log";
import { failpoint } from "@trading/shared/failpoint";
import { errorMessage } from "@trading/shared/retry";
import { ErrorCode } from "../protocol/error_codes.ts";
import type { OffsetStore } from "../storage/offset_store.ts";
import type { ProducerIdAllocator } from "../storage/producer_ids.ts";
import type { TopicStore } from "../storage/topic_store.ts";
import {
  type PendingTxnOffset,
  TransactionLog,
  type TransactionMetadata,
} from "./transaction_log.ts";

const log = getLogger(["broker", "transactions"]);

/** Kafka's `TransactionMetadata.isEpochExhausted`: Short.MaxValue - 1. */
const MAX_EPOCH = 32766;

/** Settings of the coordinator. */
export interface TransactionSettings {
  /** Largest `transaction.timeout.ms` a producer may ask for (Kafka's `transaction.max.timeout.ms`). */
  maxTimeoutMs: number;
  /** How often expired transactions are looked for and aborted. */
  abortCheckIntervalMs: number;
}

/** The answer to InitProducerId. */
export interface InitProducerIdResult {
  errorCode: number;
  producerId: number;
  producerEpoch: number;
}

/** The broker's transaction coordinator. */
export class TransactionCoordinator {
  private readonly locks = new Map<string, Promise<unknown>>();
  private readonly timer: ReturnType<typeof setInterval>;
  private closed = false;
  /** Transactions aborted by timeout, for metrics and tests. */
  timedOut = 0;

  private constructor(
    private readonly settings: TransactionSettings,
    private readonly txnLog: TransactionLog,
    private readonly transactions: Map<string, TransactionMetadata>,
    private readonly topics: TopicStore,
    private readonly offsets: OffsetStore,
    private readonly producerIds: ProducerIdAllocator,
    private readonly clock: () => number,
  ) {
    this.timer = setInterval(() => void this.abortExpired(), settings.abortCheckIntervalMs);
  }

  /** Opens the coordinator's log under `metaDir` and completes interrupted transactions. */
  static async open(
    metaDir: string,
    settings: TransactionSettings,
    parts: { topics: TopicStore; offsets: OffsetStore; producerIds: ProducerIdAllocator },
    clock: () => number = Date.now,
  ): Promise<TransactionCoordinator> {
    const { log: txnLog, transactions } = await TransactionLog.open(metaDir);
    const coordinator = new TransactionCoordinator(
      settings,
      txnLog,
      transactions,
      parts.topics,
      parts.offsets,
      parts.producerIds,
      clock,
    );
    await coordinator.recover();
    return coordinator;
  }

  /** The metadata of a transactional id (a copy), or undefined. */
  describe(transactionalId: string): TransactionMetadata | undefined {
    const meta = this.transactions.get(transactionalId);
    return meta === undefined ? undefined : structuredClone(meta);
  }

  /** Number of transactional ids with an ongoing transaction. */
  get ongoing(): number {
    let n = 0;
    for (const meta of this.transactions.values()) if (meta.state === "Ongoing") n++;
    return n;
  }

  /**
   * Writes the markers of every transaction the last run left in PrepareCommit or
   * PrepareAbort, and aborts open transactions in partitions that no transactional id
   * claims (none should exist: a partition is added durably before it is written).
   */
  private async recover(): Promise<void> {
    const claimed = new Set<number>();
    for (const meta of this.transactions.values()) {
      if (meta.state === "Ongoing" || meta.state.startsWith("Prepare")) {
        claimed.add(meta.producerId);
      }
    }
    for (const meta of [...this.transactions.values()]) {
      if (meta.state !== "PrepareCommit" && meta.state !== "PrepareAbort") continue;
      log.info("Completing {state} of transactional id {id} left by the last run", {
        state: meta.state,
        id: meta.transactionalId,
      });
      await this.complete(meta);
    }
    const logs = this.topics.names().flatMap((name) => this.topics.partitions(name) ?? []);
    for (const plog of logs) {
      for (const producerId of plog.openTransactionProducers()) {
        if (claimed.has(producerId)) continue;
        log.warn("Aborting an unclaimed open transaction of producer {producerId} in {tp}", {
          producerId,
          tp: `${plog.topic}-${plog.partition}`,
        });
        const result = plog.appendMarker(producerId, 0, false);
        if (result.ok) await plog.waitAcknowledgeable(result.endOffset, -1);
      }
    }
  }

  private withLock<T>(transactionalId: string, run: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(transactionalId) ?? Promise.resolve();
    const next = previous.then(run, run);
    const settled = next.catch(() => {});
    this.locks.set(transactionalId, settled);
    void settled.then(() => {
      if (this.locks.get(transactionalId) === settled) this.locks.delete(transactionalId);
    });
    return next;
  }

  /** Persists `meta` and then makes it the current metadata of its id. */
  private async persist(meta: TransactionMetadata): Promise<void> {
    meta.updatedMs = this.clock();
    await this.txnLog.append(meta);
    this.transactions.set(meta.transactionalId, meta);
  }

  /**
   * InitProducerId with a transactional id. `expected` is the producer id and epoch a
   * v3+ client sends to bump its epoch after an error (KIP-360).
   */
  initProducerId(
    transactionalId: string,
    timeoutMs: number,
    expected: { producerId: number; producerEpoch: number } | undefined,
  ): Promise<InitProducerIdResult> {
    const fail = (errorCode: number) => ({ errorCode, producerId: -1, producerEpoch: -1 });
    if (transactionalId === "") return Promise.resolve(fail(ErrorCode.INVALID_REQUEST));
    if (timeoutMs <= 0 || timeoutMs > this.settings.maxTimeoutMs) {
      return Promise.resolve(fail(ErrorCode.INVALID_TRANSACTION_TIMEOUT));
    }
    return this.withLock(transactionalId, async () => {
      let meta = this.transactions.get(transactionalId);
      if (meta === undefined) {
        meta = {
          transactionalId,
          producerId: await this.producerIds.allocate(),
          producerEpoch: -1,
          timeoutMs,
          state: "Empty",
          partitions: [],
          groups: [],
          offsets: [],
          startedMs: -1,
          updatedMs: this.clock(),
        };
      }
      if (
        expected !== undefined && meta.producerEpoch !== -1 &&
        expected.producerId !== meta.producerId
      ) {
        return fail(ErrorCode.PRODUCER_FENCED);
      }
      const epochBefore = meta.producerEpoch;
      if (meta.state === "PrepareCommit" || meta.state === "PrepareAbort") {
        // Only after a storage failure: try to finish it now.
        if (!await this.complete(meta)) return fail(ErrorCode.CONCURRENT_TRANSACTIONS);
        meta = this.transactions.get(transactionalId)!;
      }
      if (meta.state === "Ongoing") {
        // Fence the current holder: its epoch is over, and its transaction is aborted with
        // the new epoch, so its partitions refuse the old one from the marker on.
        log.info("Transactional id {id}: fencing epoch {epoch} and aborting its transaction", {
          id: transactionalId,
          epoch: meta.producerEpoch,
        });
        const fenced = structuredClone(meta);
        if (fenced.producerEpoch < MAX_EPOCH) fenced.producerEpoch++;
        if (!await this.end(fenced, false)) return fail(ErrorCode.CONCURRENT_TRANSACTIONS);
        meta = this.transactions.get(transactionalId)!;
      } else if (
        // An id with no epoch yet (just created) has no holder to fence, whatever epoch the
        // request expects (Kafka's TransactionMetadata.prepareIncrementProducerEpoch);
        // @platformatic/kafka sends producer id 0 and epoch 0 on its first InitProducerId.
        expected !== undefined && expected.producerEpoch >= 0 && epochBefore !== -1 &&
        expected.producerEpoch !== epochBefore
      ) {
        return fail(ErrorCode.PRODUCER_FENCED);
      }
      const next = structuredClone(meta);
      if (next.producerEpoch >= MAX_EPOCH) {
        next.producerId = await this.producerIds.allocate();
        next.producerEpoch = 0;
      } else {
        next.producerEpoch++;
      }
      next.timeoutMs = timeoutMs;
      next.state = "Empty";
      next.partitions = [];
      next.groups = [];
      next.offsets = [];
      next.startedMs = -1;
      await this.persist(next);
      log.debug("Transactional id {id} initialized: producer {producerId} epoch {epoch}", {
        id: transactionalId,
        producerId: next.producerId,
        epoch: next.producerEpoch,
      });
      return {
        errorCode: ErrorCode.NONE,
        producerId: next.producerId,
        producerEpoch: next.producerEpoch,
      };
    });
  }

  /** The error of a request by producer (`producerId`, `producerEpoch`) on `meta`, or NONE. */
  private producerError(
    meta: TransactionMetadata | undefined,
    producerId: number,
    producerEpoch: number,
  ): number {
    if (meta === undefined || meta.producerId !== producerId) {
      return ErrorCode.INVALID_PRODUCER_ID_MAPPING;
    }
    if (meta.producerEpoch !== producerEpoch) return ErrorCode.PRODUCER_FENCED;
    return ErrorCode.NONE;
  }

  /** Starts the transaction if none is open (Kafka: Empty/Complete* -> Ongoing). */
  private begin(meta: TransactionMetadata): TransactionMetadata {
    const next = structuredClone(meta);
    if (next.state !== "Ongoing") {
      next.state = "Ongoing";
      next.partitions = [];
      next.groups = [];
      next.offsets = [];
      next.startedMs = this.clock();
    }
    return next;
  }

  /**
   * AddPartitionsToTxn: returns an error code per partition (UNKNOWN_TOPIC_OR_PARTITION for
   * a partition that does not exist, OPERATION_NOT_ATTEMPTED for the others then).
   */
  addPartitions(
    transactionalId: string,
    producerId: number,
    producerEpoch: number,
    partitions: { topic: string; partition: number }[],
  ): Promise<number[]> {
    return this.withLock(transactionalId, async () => {
      const meta = this.transactions.get(transactionalId);
      const error = this.producerError(meta, producerId, producerEpoch);
      if (error !== ErrorCode.NONE) return partitions.map(() => error);
      const unknown = partitions.map((p) => this.topics.get(p.topic, p.partition) === undefined);
      if (unknown.some((u) => u)) {
        return unknown.map((u) =>
          u ? ErrorCode.UNKNOWN_TOPIC_OR_PARTITION : ErrorCode.OPERATION_NOT_ATTEMPTED
        );
      }
      const next = this.begin(meta!);
      const known = new Set(next.partitions.map((p) => `${p.topic}\u0000${p.partition}`));
      let added = next.state !== meta!.state;
      for (const p of partitions) {
        const key = `${p.topic}\u0000${p.partition}`;
        if (known.has(key)) continue;
        known.add(key);
        next.partitions.push({ topic: p.topic, partition: p.partition });
        added = true;
      }
      if (added) {
        try {
          await this.persist(next);
        } catch {
          return partitions.map(() => ErrorCode.COORDINATOR_NOT_AVAILABLE);
        }
      }
      return partitions.map(() => ErrorCode.NONE);
    });
  }

  /** AddOffsetsToTxn: adds the group whose offsets the transaction will commit. */
  addOffsets(
    transactionalId: string,
    producerId: number,
    producerEpoch: number,
    groupId: string,
  ): Promise<number> {
    return this.withLock(transactionalId, async () => {
      const meta = this.transactions.get(transactionalId);
      const error = this.producerError(meta, producerId, producerEpoch);
      if (error !== ErrorCode.NONE) return error;
      if (groupId === "") return ErrorCode.INVALID_GROUP_ID;
      const next = this.begin(meta!);
      if (next.state === meta!.state && next.groups.includes(groupId)) return ErrorCode.NONE;
      if (!next.groups.includes(groupId)) next.groups.push(groupId);
      try {
        await this.persist(next);
      } catch {
        return ErrorCode.COORDINATOR_NOT_AVAILABLE;
      }
      return ErrorCode.NONE;
    });
  }

  /**
   * TxnOffsetCommit: keeps the offsets with the transaction (durably) until it ends; they
   * reach the group only if it commits. The caller has checked the group generation.
   */
  commitOffsets(
    transactionalId: string,
    producerId: number,
    producerEpoch: number,
    groupId: string,
    offsets: Omit<PendingTxnOffset, "group">[],
  ): Promise<number> {
    return this.withLock(transactionalId, async () => {
      const meta = this.transactions.get(transactionalId);
      const error = this.producerError(meta, producerId, producerEpoch);
      if (error !== ErrorCode.NONE) return error;
      if (meta!.state !== "Ongoing" || !meta!.groups.includes(groupId)) {
        return ErrorCode.INVALID_TXN_STATE;
      }
      const next = structuredClone(meta!);
      for (const o of offsets) {
        next.offsets = next.offsets.filter((p) =>
          !(p.group === groupId && p.topic === o.topic && p.partition === o.partition)
        );
        next.offsets.push({ group: groupId, ...o });
      }
      try {
        await this.persist(next);
      } catch {
        return ErrorCode.COORDINATOR_NOT_AVAILABLE;
      }
      return ErrorCode.NONE;
    });
  }

  /** EndTxn: commits or aborts the ongoing transaction; answers once it is complete. */
  endTxn(
    transactionalId: string,
    producerId: number,
    producerEpoch: number,
    commit: boolean,
  ): Promise<number> {
    return this.withLock(transactionalId, async () => {
      const meta = this.transactions.get(transactionalId);
      const error = this.producerError(meta, producerId, producerEpoch);
      if (error !== ErrorCode.NONE) return error;
      switch (meta!.state) {
        case "Ongoing":
          return await this.end(structuredClone(meta!), commit)
            ? ErrorCode.NONE
            : ErrorCode.COORDINATOR_NOT_AVAILABLE;
        // A retried EndTxn whose first answer was lost gets the same answer again.
        case "CompleteCommit":
          return commit ? ErrorCode.NONE : ErrorCode.INVALID_TXN_STATE;
        case "CompleteAbort":
          return commit ? ErrorCode.INVALID_TXN_STATE : ErrorCode.NONE;
        case "PrepareCommit":
        case "PrepareAbort":
          return ErrorCode.CONCURRENT_TRANSACTIONS;
        default:
          return ErrorCode.INVALID_TXN_STATE;
      }
    });
  }

  /**
   * Moves `next` (an ongoing transaction, epoch possibly bumped) to Prepare and completes
   * it. Returns false when storage failed (the Prepare record, if durable, is completed on
   * the next start).
   */
  private async end(next: TransactionMetadata, commit: boolean): Promise<boolean> {
    next.state = commit ? "PrepareCommit" : "PrepareAbort";
    // In memory first: from here on, produces of this transaction are refused.
    const previous = this.transactions.get(next.transactionalId);
    this.transactions.set(next.transactionalId, next);
    try {
      await this.persist(next);
    } catch (error) {
      if (previous !== undefined) this.transactions.set(next.transactionalId, previous);
      log.error("Transactional id {id}: cannot write {state}: {reason}", {
        id: next.transactionalId,
        state: next.state,
        reason: errorMessage(error),
      });
      return false;
    }
    return await this.complete(next);
  }

  /** Writes the markers (and, on commit, the offsets) of a prepared transaction, then Complete. */
  private async complete(meta: TransactionMetadata): Promise<boolean> {
    const commit = meta.state === "PrepareCommit";
    // Crash tests stop the broker at each step of ending a transaction (shared/runtime/failpoint.ts).
    failpoint("broker-txn-after-prepare");
    try {
      const waits: Promise<void>[] = [];
      for (const { topic, partition } of meta.partitions) {
        const plog = this.topics.get(topic, partition);
        if (plog === undefined) continue; // Deleted since: nothing left to mark.
        const result = plog.appendMarker(meta.producerId, meta.producerEpoch, commit);
        if (!result.ok) throw new Error(`${topic}-${partition}: ${result.message}`);
        waits.push(plog.waitAcknowledgeable(result.endOffset, -1));
      }
      await Promise.all(waits);
      failpoint("broker-txn-after-markers");
      if (commit) {
        const byGroup = new Map<string, PendingTxnOffset[]>();
        for (const o of meta.offsets) {
          byGroup.set(o.group, [...(byGroup.get(o.group) ?? []), o]);
        }
        const now = this.clock();
        for (const [group, offsets] of byGroup) {
          await this.offsets.commit(
            group,
            offsets.map((o) => ({
              topic: o.topic,
              partition: o.partition,
              offset: {
                offset: o.offset,
                leaderEpoch: o.leaderEpoch,
                metadata: o.metadata,
                commitTimestamp: now,
              },
            })),
          );
        }
      }
      failpoint("broker-txn-before-complete");
      const done = structuredClone(meta);
      done.state = commit ? "CompleteCommit" : "CompleteAbort";
      done.partitions = [];
      done.groups = [];
      done.offsets = [];
      done.startedMs = -1;
      await this.persist(done);
      return true;
    } catch (error) {
      log.error("Transactional id {id}: cannot complete {state}: {reason}", {
        id: meta.transactionalId,
        state: meta.state,
        reason: errorMessage(error),
      });
      return false;
    }
  }

  /**
   * Checks a transactional batch of a Produce request: it must come from the current epoch
   * of `transactionalId`'s producer, whose ongoing transaction holds the partition (the
   * producer added it first). Returns an error code, NONE when the batch may be appended.
   */
  checkProduce(
    transactionalId: string,
    producerId: number,
    producerEpoch: number,
    topic: string,
    partition: number,
  ): number {
    const meta = this.transactions.get(transactionalId);
    if (meta === undefined || meta.producerId !== producerId) {
      return ErrorCode.INVALID_PRODUCER_ID_MAPPING;
    }
    if (producerEpoch !== meta.producerEpoch) return ErrorCode.INVALID_PRODUCER_EPOCH;
    if (
      meta.state !== "Ongoing" ||
      !meta.partitions.some((p) => p.topic === topic && p.partition === partition)
    ) {
      return ErrorCode.INVALID_TXN_STATE;
    }
    return ErrorCode.NONE;
  }

  /**
   * Aborts every ongoing transaction older than its timeout, bumping the epoch so the late
   * producer is fenced, as Kafka's `abortTimedOutTransactions`.
   */
  async abortExpired(): Promise<number> {
    if (this.closed) return 0;
    const now = this.clock();
    let aborted = 0;
    for (const meta of [...this.transactions.values()]) {
      if (meta.state !== "Ongoing" || now - meta.startedMs <= meta.timeoutMs) continue;
      const done = await this.withLock(meta.transactionalId, async () => {
        const current = this.transactions.get(meta.transactionalId);
        if (
          this.closed || current === undefined || current.state !== "Ongoing" ||
          this.clock() - current.startedMs <= current.timeoutMs
        ) return false;
        log.warn("Transactional id {id}: aborting a transaction open for more than {ms} ms", {
          id: current.transactionalId,
          ms: current.timeoutMs,
        });
        const fenced = structuredClone(current);
        if (fenced.producerEpoch < MAX_EPOCH) fenced.producerEpoch++;
        return await this.end(fenced, false);
      });
      if (done) aborted++;
    }
    this.timedOut += aborted;
    return aborted;
  }

  /** Stops the timeout timer, waits for running operations and closes the log. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    await Promise.all([...this.locks.values()]);
    await this.txnLog.close();
  }
}
