/**
 * The stream-processor's durable state: per input partition, the next offset to read, the
 * last tick sequence seen per symbol, and every strategy instance's snapshot. They are saved
 * together in one SQLite transaction (synchronous=FULL), so after a crash the state always
 * matches the offsets it covers: re-reading from the saved offset re-creates exactly the
 * orders that were not yet covered.
 *
 * Several processes on one host may share the file (WAL mode, busy timeout): a partition that
 * moves to another instance in a rebalance is resumed from the state its previous owner saved.
 *
 * @module
 */
import { DatabaseSync, type StatementSync } from "node:sqlite";
import { bindToKafkaCluster } from "@trading/shared/bind-to-kafka-cluster";

/** What is saved for one input partition. */
export interface PartitionState {
  /** The next input offset to process; undefined when nothing was saved yet. */
  nextOffset: number | undefined;
  /** Last tick sequence processed, per symbol (older or repeated ticks are skipped). */
  lastSequence: Map<string, number>;
  /** Strategy snapshots, keyed by {@linkcode snapshotKey}. */
  snapshots: Map<string, string>;
}

/** The key of a strategy instance's snapshot: strategy id and symbol. */
export function snapshotKey(strategyId: string, symbol: string): string {
  return `${strategyId}\u0000${symbol}`;
}

/** The SQLite store of {@linkcode PartitionState}s. */
export class StrategyStateStore {
  readonly path: string;
  #db: DatabaseSync;
  #statements: {
    offset: StatementSync;
    sequences: StatementSync;
    snapshots: StatementSync;
    saveOffset: StatementSync;
    saveSequence: StatementSync;
    saveSnapshot: StatementSync;
  };

  /** Opens (creating if needed) the store at `path`. */
  constructor(path: string) {
    this.path = path;
    this.#db = new DatabaseSync(path);
    this.#db.exec(`
      PRAGMA journal_mode = WAL;
      PRAGMA synchronous = FULL;
      PRAGMA busy_timeout = 10000;
      CREATE TABLE IF NOT EXISTS partition_offset (
        topic TEXT NOT NULL, partition INTEGER NOT NULL, next_offset INTEGER NOT NULL,
        updated_at_ms INTEGER NOT NULL, PRIMARY KEY (topic, partition));
      CREATE TABLE IF NOT EXISTS symbol_sequence (
        topic TEXT NOT NULL, partition INTEGER NOT NULL, symbol TEXT NOT NULL,
        last_sequence INTEGER NOT NULL, PRIMARY KEY (topic, partition, symbol));
      CREATE TABLE IF NOT EXISTS strategy_snapshot (
        topic TEXT NOT NULL, partition INTEGER NOT NULL, strategy TEXT NOT NULL,
        symbol TEXT NOT NULL, snapshot TEXT NOT NULL,
        PRIMARY KEY (topic, partition, strategy, symbol));
    `);
    const db = this.#db;
    this.#statements = {
      offset: db.prepare(
        "SELECT next_offset FROM partition_offset WHERE topic = ? AND partition = ?",
      ),
      sequences: db.prepare(
        "SELECT symbol, last_sequence FROM symbol_sequence WHERE topic = ? AND partition = ?",
      ),
      snapshots: db.prepare(
        "SELECT strategy, symbol, snapshot FROM strategy_snapshot WHERE topic = ? AND partition = ?",
      ),
      saveOffset: db.prepare(
        `INSERT INTO partition_offset (topic, partition, next_offset, updated_at_ms)
         VALUES (?, ?, ?, ?) ON CONFLICT (topic, partition)
         DO UPDATE SET next_offset = excluded.next_offset, updated_at_ms = excluded.updated_at_ms`,
      ),
      saveSequence: db.prepare(
        `INSERT INTO symbol_sequence (topic, partition, symbol, last_sequence) VALUES (?, ?, ?, ?)
         ON CONFLICT (topic, partition, symbol) DO UPDATE SET last_sequence = excluded.last_sequence`,
      ),
      saveSnapshot: db.prepare(
        `INSERT INTO strategy_snapshot (topic, partition, strategy, symbol, snapshot)
         VALUES (?, ?, ?, ?, ?) ON CONFLICT (topic, partition, strategy, symbol)
         DO UPDATE SET snapshot = excluded.snapshot`,
      ),
    };
  }

  #transaction<T>(fn: () => T): T {
    this.#db.exec("BEGIN IMMEDIATE");
    try {
      const result = fn();
      this.#db.exec("COMMIT");
      return result;
    } catch (error) {
      this.#db.exec("ROLLBACK");
      throw error;
    }
  }

  /** Loads the saved state of one partition (empty when none was saved). */
  load(topic: string, partition: number): PartitionState {
    const s = this.#statements;
    const offsetRow = s.offset.get(topic, partition) as { next_offset: number } | undefined;
    const lastSequence = new Map<string, number>();
    for (const row of s.sequences.all(topic, partition)) {
      const { symbol, last_sequence } = row as { symbol: string; last_sequence: number };
      lastSequence.set(symbol, last_sequence);
    }
    const snapshots = new Map<string, string>();
    for (const row of s.snapshots.all(topic, partition)) {
      const { strategy, symbol, snapshot } = row as {
        strategy: string;
        symbol: string;
        snapshot: string;
      };
      snapshots.set(snapshotKey(strategy, symbol), snapshot);
    }
    return { nextOffset: offsetRow?.next_offset, lastSequence, snapshots };
  }

  /**
   * Saves `nextOffset` with the given sequences and snapshots of one partition, all in one
   * transaction: either all of it is durable or none of it.
   */
  save(
    topic: string,
    partition: number,
    nextOffset: number,
    changes: {
      lastSequence: Iterable<[string, number]>;
      snapshots: Iterable<[string, string]>;
    },
  ): void {
    const s = this.#statements;
    this.#db.exec("BEGIN IMMEDIATE");
    try {
      s.saveOffset.run(topic, partition, nextOffset, Date.now());
      for (const [symbol, sequence] of changes.lastSequence) {
        s.saveSequence.run(topic, partition, symbol, sequence);
      }
      for (const [key, snapshot] of changes.snapshots) {
        const [strategy, symbol] = key.split("\u0000");
        s.saveSnapshot.run(topic, partition, strategy!, symbol!, snapshot);
      }
      this.#db.exec("COMMIT");
    } catch (error) {
      this.#db.exec("ROLLBACK");
      throw error;
    }
  }

  /**
   * Binds the stored data to the Kafka cluster `clusterId`: when it was made against another
   * cluster (a broker started on empty data, another KAFKA_BROKERS), it describes a log that
   * is gone, so it is deleted. Returns true when it was.
   */
  bindToCluster(clusterId: string): boolean {
    return this.#transaction(() =>
      bindToKafkaCluster(this.#db, clusterId, () =>
        this.#db.exec(
          "DELETE FROM partition_offset; DELETE FROM symbol_sequence; DELETE FROM strategy_snapshot",
        ))
    );
  }

  /** Closes the database. */
  close(): void {
    this.#db.close();
  }
}
