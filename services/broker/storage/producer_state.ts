/**
 * Per-partition state of idempotent producers: the epoch and the last five batches' sequence
 * ranges of each producer id, as Kafka's ProducerStateManager keeps them, so a retried
 * batch is recognised (acknowledged with its original offset, not appended twice) and a gap
 * in sequences is refused.
 *
 * @module
 */
import { ErrorCode } from "../protocol/error_codes.ts";

/** Batches remembered per producer: the most a Kafka producer keeps in flight. */
const CACHED_BATCHES = 5;
const SEQUENCE_MODULUS = 2 ** 31;

interface CachedBatch {
  firstSeq: number;
  lastSeq: number;
  baseOffset: number;
}

interface ProducerEntry {
  epoch: number;
  batches: CachedBatch[];
}

/** The verdict on one incoming batch. */
export type SequenceCheck =
  | { kind: "append" }
  | { kind: "duplicate"; baseOffset: number }
  | { kind: "reject"; errorCode: number; message: string };

/** The producer fields of a batch header. */
export interface ProducerBatch {
  producerId: number;
  producerEpoch: number;
  baseSequence: number;
  lastOffsetDelta: number;
}

/** Sequence bookkeeping for the idempotent producers of one partition. */
export class ProducerStateTable {
  private readonly producers = new Map<number, ProducerEntry>();

  /** Decides whether `batch` is new, a retry of a recent batch, or out of order. */
  check(batch: ProducerBatch): SequenceCheck {
    if (batch.producerId < 0) return { kind: "append" };
    const entry = this.producers.get(batch.producerId);
    // An unknown producer (new, or its batches expired by retention) starts a fresh history.
    if (entry === undefined) return { kind: "append" };
    if (batch.producerEpoch < entry.epoch) {
      return {
        kind: "reject",
        errorCode: ErrorCode.INVALID_PRODUCER_EPOCH,
        message:
          `Producer ${batch.producerId} epoch ${batch.producerEpoch} is older than ${entry.epoch}`,
      };
    }
    if (batch.producerEpoch > entry.epoch) {
      if (batch.baseSequence === 0) return { kind: "append" };
      return {
        kind: "reject",
        errorCode: ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER,
        message:
          `Producer ${batch.producerId} new epoch must start at sequence 0, got ${batch.baseSequence}`,
      };
    }
    const lastSeq = lastSequenceOf(batch);
    for (const cached of entry.batches) {
      if (cached.firstSeq === batch.baseSequence && cached.lastSeq === lastSeq) {
        return { kind: "duplicate", baseOffset: cached.baseOffset };
      }
    }
    const last = entry.batches[entry.batches.length - 1];
    const expected = last === undefined ? 0 : (last.lastSeq + 1) % SEQUENCE_MODULUS;
    if (batch.baseSequence !== expected) {
      return {
        kind: "reject",
        errorCode: ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER,
        message:
          `Producer ${batch.producerId} sent sequence ${batch.baseSequence}, expected ${expected}`,
      };
    }
    return { kind: "append" };
  }

  /** Records an appended batch (also used when rebuilding from the log on recovery). */
  record(batch: ProducerBatch, baseOffset: number): void {
    if (batch.producerId < 0) return;
    let entry = this.producers.get(batch.producerId);
    if (entry === undefined || batch.producerEpoch > entry.epoch) {
      entry = { epoch: batch.producerEpoch, batches: [] };
      this.producers.set(batch.producerId, entry);
    }
    entry.batches.push({
      firstSeq: batch.baseSequence,
      lastSeq: lastSequenceOf(batch),
      baseOffset,
    });
    if (entry.batches.length > CACHED_BATCHES) entry.batches.shift();
  }

  /**
   * Records a transaction marker of `producerEpoch`: a newer epoch (the coordinator fenced
   * the producer) replaces the entry, so the older epoch is refused from now on and the new
   * one starts at sequence 0, as Kafka's `ProducerAppendInfo.appendEndTxnMarker`.
   */
  recordMarker(producerId: number, producerEpoch: number): void {
    const entry = this.producers.get(producerId);
    if (entry === undefined || producerEpoch > entry.epoch) {
      this.producers.set(producerId, { epoch: producerEpoch, batches: [] });
    }
  }

  /** Forgets every producer (the partition was truncated to empty). */
  clear(): void {
    this.producers.clear();
  }

  /** Number of producers tracked. */
  get size(): number {
    return this.producers.size;
  }
}

function lastSequenceOf(batch: ProducerBatch): number {
  return (batch.baseSequence + batch.lastOffsetDelta) % SEQUENCE_MODULUS;
}
