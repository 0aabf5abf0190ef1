/**
 * The executor's outbox (docs/DESIGN.md, "The guarantee", 4 and 5): a local SQLite table with one
 * row per order id holding the order's event. The event is written here (`INSERT OR IGNORE`
 * on the order id, so a redelivered command cannot make a second event) before the input
 * offset is committed, and the relay publishes pending rows and marks them sent.
 *
 * A row is `pending` (to publish), `sent` (published by this executor) or `seen` (found in
 * `orders.events` when reading it back: published by an earlier run of this executor that
 * crashed before marking it, or by another executor). Only `pending` rows are ever published.
 *
 * @module
 */
import { DatabaseSync, type StatementSync } from "node:sqlite";
import { bindToKafkaCluster } from "@trading/shared/bind-to-kafka-cluster";

/** The state of an outbox row. */
export type OutboxState = "pending" | "sent" | "seen";

/** One order's event in the outbox. */
export interface OutboxRow {
  orderId: string;
  /** The `orders.events` partition the event goes to. */
  eventsPartition: number;
  /** Where the command came from (`orders.commands` partition and offset). */
  sourcePartition: number;
  sourceOffset: number;
  tickCreatedAtUs: number;
  /** The encoded `OrderEvent`. */
  event: Uint8Array;
}

/** A row as stored, with its state. */
export interface StoredOutboxRow extends OutboxRow {
  state: OutboxState;
  createdAtMs: number;
}

interface RawRow {
  order_id: string;
  events_partition: number;
  source_partition: number;
  source_offset: number;
  tick_created_at_us: number;
  created_at_ms: number;
  event: Uint8Array;
  state: OutboxState;
}

function fromRaw(row: RawRow): StoredOutboxRow {
  return {
    orderId: row.order_id,
    eventsPartition: row.events_partition,
    sourcePartition: row.source_partition,
    sourceOffset: row.source_offset,
    tickCreatedAtUs: row.tick_created_at_us,
    createdAtMs: row.created_at_ms,
    event: row.event,
    state: row.state,
  };
}

/** The SQLite outbox of one executor instance. */
export class OrderOutbox {
  readonly path: string;
  #db: DatabaseSync;
  #s: Record<
    | "insert"
    | "get"
    | "markSent"
    | "insertSeen"
    | "markSeen"
    | "depth"
    | "pendingBefore"
    | "prune",
    StatementSync
  >;

  /** Opens (creating if needed) the outbox at `path`. */
  constructor(path: string) {
    this.path = path;
    this.#db = new DatabaseSync(path);
    // WAL with synchronous=NORMAL: a commit survives a crash of this process (it is in the
    // log file, the OS writes it out), not a power loss. That is enough here, and keeps an
    // fsync per chunk off the event loop: a row matters only until its event is published,
    // and the offset of its command is committed only after that publish, so a row lost
    // with the machine either belongs to a command that will be delivered again or to an
    // event that is in orders.events already (which the relay reads back before publishing).
    this.#db.exec(`
      PRAGMA journal_mode = WAL;
      PRAGMA synchronous = NORMAL;
      PRAGMA busy_timeout = 10000;
      CREATE TABLE IF NOT EXISTS outbox (
        order_id TEXT PRIMARY KEY,
        events_partition INTEGER NOT NULL,
        source_partition INTEGER NOT NULL,
        source_offset INTEGER NOT NULL,
        tick_created_at_us INTEGER NOT NULL,
        created_at_ms INTEGER NOT NULL,
        event BLOB NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'seen')),
        events_offset INTEGER,
        updated_at_ms INTEGER NOT NULL);
      CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (state, source_partition, source_offset)
        WHERE state = 'pending';
    `);
    const db = this.#db;
    this.#s = {
      insert: db.prepare(
        `INSERT OR IGNORE INTO outbox (order_id, events_partition, source_partition, source_offset,
           tick_created_at_us, created_at_ms, event, state, updated_at_ms)
         VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?)`,
      ),
      get: db.prepare("SELECT * FROM outbox WHERE order_id = ?"),
      markSent: db.prepare(
        `UPDATE outbox SET state = 'sent', events_offset = ?, updated_at_ms = ?
         WHERE order_id = ? AND state = 'pending'`,
      ),
      insertSeen: db.prepare(
        `INSERT OR IGNORE INTO outbox (order_id, events_partition, source_partition, source_offset,
           tick_created_at_us, created_at_ms, event, state, events_offset, updated_at_ms)
         VALUES (?, ?, -1, -1, 0, ?, ?, 'seen', ?, ?)`,
      ),
      markSeen: db.prepare(
        `UPDATE outbox SET state = 'seen', events_offset = ?, updated_at_ms = ?
         WHERE order_id = ? AND state = 'pending'`,
      ),
      depth: db.prepare("SELECT count(*) AS n FROM outbox WHERE state = 'pending'"),
      pendingBefore: db.prepare(
        `SELECT * FROM outbox WHERE state = 'pending' AND source_partition = ?
         AND source_offset < ? ORDER BY source_offset`,
      ),
      prune: db.prepare("DELETE FROM outbox WHERE state != 'pending' AND updated_at_ms < ?"),
    };
  }

  /** "Sent" marks not yet written: they ride along with the next write transaction. */
  #sentMarks: Array<{ orderId: string; offset: number; atMs: number }> = [];

  #transaction<T>(fn: () => T): T {
    this.#db.exec("BEGIN IMMEDIATE");
    try {
      this.#writeSentMarks();
      const result = fn();
      this.#db.exec("COMMIT");
      return result;
    } catch (error) {
      this.#db.exec("ROLLBACK");
      throw error;
    }
  }

  /**
   * Adds the rows that are not there yet (`INSERT OR IGNORE` on the order id), in one
   * transaction. Returns the order ids that were new.
   */
  insert(rows: readonly OutboxRow[]): string[] {
    if (rows.length === 0) return [];
    const now = Date.now();
    return this.#transaction(() => {
      const inserted: string[] = [];
      for (const r of rows) {
        const { changes } = this.#s.insert.run(
          r.orderId,
          r.eventsPartition,
          r.sourcePartition,
          r.sourceOffset,
          r.tickCreatedAtUs,
          now,
          r.event,
          now,
        );
        if (Number(changes) > 0) inserted.push(r.orderId);
      }
      return inserted;
    });
  }

  /** Returns the stored row of `orderId`, if any. */
  get(orderId: string): StoredOutboxRow | undefined {
    this.#settleMarks();
    const row = this.#s.get.get(orderId) as RawRow | undefined;
    return row && fromRaw(row);
  }

  /** Returns the rows of `orderIds` that are still pending, in the given order. */
  pending(orderIds: Iterable<string>): StoredOutboxRow[] {
    const rows: StoredOutboxRow[] = [];
    for (const id of new Set(orderIds)) {
      const row = this.get(id);
      if (row?.state === "pending") rows.push(row);
    }
    return rows;
  }

  /** Pending rows whose command came from `sourcePartition` below `offset`. */
  pendingBefore(sourcePartition: number, offset: number): StoredOutboxRow[] {
    this.#settleMarks();
    return (this.#s.pendingBefore.all(sourcePartition, offset) as unknown as RawRow[]).map(fromRaw);
  }

  /**
   * Marks published rows as sent. The marks are written with the next write transaction (or
   * the next read), not with an fsync of their own: a mark lost in a crash costs nothing,
   * because the relay finds the event in `orders.events` before it would publish again.
   */
  markSent(entries: readonly { orderId: string; offset: number }[]): void {
    const atMs = Date.now();
    for (const e of entries) this.#sentMarks.push({ ...e, atMs });
  }

  #writeSentMarks(): void {
    for (const mark of this.#sentMarks) this.#s.markSent.run(mark.offset, mark.atMs, mark.orderId);
    this.#sentMarks = [];
  }

  /** Writes buffered marks before a read, so that reads see them. */
  #settleMarks(): void {
    if (this.#sentMarks.length > 0) this.#transaction(() => {});
  }

  /**
   * Records events found in `orders.events`: a pending row becomes `seen` (it must not be
   * published again), an unknown id gets a `seen` row (so a later command with that id is not
   * published either). Returns how many pending rows this settled.
   */
  recordSeen(
    entries: readonly {
      orderId: string;
      eventsPartition: number;
      offset: number;
      event: Uint8Array;
    }[],
  ): number {
    if (entries.length === 0) return 0;
    const now = Date.now();
    return this.#transaction(() => {
      let settled = 0;
      for (const e of entries) {
        settled += Number(this.#s.markSeen.run(e.offset, now, e.orderId).changes);
        this.#s.insertSeen.run(e.orderId, e.eventsPartition, now, e.event, e.offset, now);
      }
      return settled;
    });
  }

  /**
   * Deletes the rows whose event was published (`sent` or `seen`) before `beforeMs`, so that
   * the outbox stays bounded (SQLite reuses the freed pages). Pending rows are never deleted.
   * Only `OutboxRelay.prune` may call this: the relay must forget what it had read,
   * or it would trust the outbox for the deleted orders.
   */
  prune(beforeMs: number): number {
    return this.#transaction(() => Number(this.#s.prune.run(beforeMs).changes));
  }

  /** The number of pending rows (the outbox depth metric). */
  depth(): number {
    this.#settleMarks();
    return Number((this.#s.depth.get() as { n: number }).n);
  }

  /**
   * Binds the stored data to the Kafka cluster `clusterId`: when it was made against another
   * cluster (a broker started on empty data, another KAFKA_BROKERS), it describes a log that
   * is gone, so it is deleted. Returns true when it was.
   */
  bindToCluster(clusterId: string): boolean {
    return this.#transaction(() =>
      bindToKafkaCluster(this.#db, clusterId, () => this.#db.exec("DELETE FROM outbox"))
    );
  }

  /** Closes the database (after writing buffered marks). */
  close(): void {
    this.#settleMarks();
    this.#db.close();
  }
}
