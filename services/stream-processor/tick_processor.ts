/**
 * The processing core of the stream-processor, without Kafka: records of one `market.ticks`
 * partition in, order commands out, with the state they leave behind kept in memory until
 * {@linkcode TickProcessor.commit} saves it (with the offsets it covers) in one transaction.
 *
 * The contract that makes crashes invisible in the output: the caller publishes the commands
 * of a batch, waits for the acknowledgement, and only then commits. A crash before the commit
 * loses the in-memory state; the next run reloads the saved state, re-reads from the saved
 * offset and re-creates the same commands with the same ids (duplicates in `orders.commands`,
 * removed downstream by the executor's Raft de-duplication). A failed publish must be
 * followed by {@linkcode TickProcessor.discard}, which rolls the memory back the same way.
 *
 * @module
 */
import { OrderCommand, type Tick } from "@trading/proto";
import { decodeTick } from "@trading/shared/tick-schema";
import { InvalidMessageError } from "@trading/shared/invalid-message-error";
import { nowUs as clockNowUs } from "@trading/shared/now-us";
import { orderIdFor } from "./order_id.ts";
import type { Strategy, StrategyInstance } from "./strategy.ts";
import { snapshotKey, type StrategyStateStore } from "./strategy_state_store.ts";

/** One input record of a partition. */
export interface TickRecord {
  offset: number;
  value: Uint8Array | null;
  /** Set when the record stands for a record batch the client could not read. */
  undecodable?: InvalidMessageError | undefined;
}

/** A record that could not be used, with the reason (it goes to the dead-letter topic). */
export interface RejectedRecord {
  offset: number;
  error: InvalidMessageError;
}

/** The result of {@linkcode TickProcessor.process}. */
export interface ProcessedBatch {
  commands: OrderCommand[];
  rejected: RejectedRecord[];
  /** Valid ticks that were processed. */
  ticks: Tick[];
  /** Records skipped: already covered by the saved offset, or repeated tick sequences. */
  skipped: number;
  /** The offset after the last record of the batch. */
  nextOffset: number | undefined;
}

interface LivePartition {
  nextOffset: number | undefined;
  lastSequence: Map<string, number>;
  snapshots: Map<string, string>;
  instances: Map<string, StrategyInstance>;
  changedSymbols: Set<string>;
}

/** Options of {@linkcode TickProcessor}. */
export interface TickProcessorOptions {
  strategies: readonly Strategy[];
  store: StrategyStateStore;
  /** The input topic, part of the saved state's key. */
  topic: string;
  /** Epoch microseconds, injectable for tests. */
  nowUs?: () => number;
}

/** Turns ticks into order commands, one partition at a time, with durable state. */
export class TickProcessor {
  #strategies: readonly Strategy[];
  #store: StrategyStateStore;
  #topic: string;
  #nowUs: () => number;
  #partitions = new Map<number, LivePartition>();

  constructor({ strategies, store, topic, nowUs = clockNowUs }: TickProcessorOptions) {
    if (strategies.length === 0) throw new Error("Invalid strategies []: expected at least one");
    this.#strategies = strategies;
    this.#store = store;
    this.#topic = topic;
    this.#nowUs = nowUs;
  }

  #live(partition: number): LivePartition {
    let live = this.#partitions.get(partition);
    if (!live) {
      const saved = this.#store.load(this.#topic, partition);
      live = { ...saved, instances: new Map(), changedSymbols: new Set() };
      this.#partitions.set(partition, live);
    }
    return live;
  }

  /** The offset `partition` resumes from: the saved one, or undefined (from the beginning). */
  resumeOffset(partition: number): number | undefined {
    return this.#live(partition).nextOffset;
  }

  /** Processes the next records of `partition` (in offset order); state changes stay in memory. */
  process(partition: number, records: readonly TickRecord[]): ProcessedBatch {
    const live = this.#live(partition);
    const batch: ProcessedBatch = {
      commands: [],
      rejected: [],
      ticks: [],
      skipped: 0,
      nextOffset: live.nextOffset,
    };
    for (const record of records) {
      if (live.nextOffset !== undefined && record.offset < live.nextOffset) {
        batch.skipped++;
        continue;
      }
      live.nextOffset = record.offset + 1;
      if (record.undecodable !== undefined) {
        batch.rejected.push({ offset: record.offset, error: record.undecodable });
        continue;
      }
      let tick: Tick;
      try {
        tick = decodeTick(record.value);
      } catch (error) {
        if (!(error instanceof InvalidMessageError)) throw error;
        batch.rejected.push({ offset: record.offset, error });
        continue;
      }
      // The ingestor may publish a tick twice (a retried send whose first attempt landed);
      // sequences are per symbol and increasing, so anything not newer was seen already.
      if (tick.sequence <= (live.lastSequence.get(tick.symbol) ?? 0)) {
        batch.skipped++;
        continue;
      }
      live.lastSequence.set(tick.symbol, tick.sequence);
      live.changedSymbols.add(tick.symbol);
      batch.ticks.push(tick);
      for (const strategy of this.#strategies) {
        const intent = this.#instance(live, strategy, tick.symbol).onTick(tick);
        if (!intent) continue;
        batch.commands.push(OrderCommand.fromPartial({
          orderId: orderIdFor(strategy.id, tick.symbol, tick.sequence),
          symbol: tick.symbol,
          side: intent.side,
          quantity: intent.quantity,
          limitPrice: intent.limitPrice,
          strategyId: strategy.id,
          tickSequence: tick.sequence,
          tickCreatedAtUs: tick.createdAtUs,
          createdAtUs: this.#nowUs(),
        }));
      }
    }
    batch.nextOffset = live.nextOffset;
    return batch;
  }

  #instance(live: LivePartition, strategy: Strategy, symbol: string): StrategyInstance {
    const key = snapshotKey(strategy.id, symbol);
    let instance = live.instances.get(key);
    if (!instance) {
      instance = strategy.restore(symbol, live.snapshots.get(key));
      live.instances.set(key, instance);
    }
    return instance;
  }

  /**
   * Saves the state of `partition` and the offset it covers in one transaction. Call only
   * after the batch's commands are acknowledged by the broker.
   */
  commit(partition: number): void {
    const live = this.#partitions.get(partition);
    if (!live || live.nextOffset === undefined) return;
    const sequences: Array<[string, number]> = [];
    const snapshots: Array<[string, string]> = [];
    for (const symbol of live.changedSymbols) {
      sequences.push([symbol, live.lastSequence.get(symbol)!]);
      for (const strategy of this.#strategies) {
        const key = snapshotKey(strategy.id, symbol);
        const instance = live.instances.get(key);
        if (instance) snapshots.push([key, instance.snapshot()]);
      }
    }
    this.#store.save(this.#topic, partition, live.nextOffset, {
      lastSequence: sequences,
      snapshots,
    });
    live.changedSymbols.clear();
  }

  /** Forgets the in-memory state of `partition` (after a failed publish, or on revoke). */
  discard(partition: number): void {
    this.#partitions.delete(partition);
  }

  /** The partitions with state in memory. */
  get partitions(): number[] {
    return [...this.#partitions.keys()];
  }
}
