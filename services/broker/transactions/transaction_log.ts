/**
 * The durable state of the transaction coordinator: `_meta/transactions.log`, an append-only
 * file of checksummed records (length u32, CRC32C u32, JSON payload) like the group offsets
 * file, one record per state transition of a transactional id, fsynced before the
 * transition is acted on. Replay keeps the last record of each transactional id and cuts a
 * torn tail; the file is compacted on open when it holds mostly superseded records. It plays
 * the part of Kafka's `__transaction_state` topic.
 *
 * @module
 */
import { join } from "node:path";
import { getLogger } from "@trading/shared/log";
import { writeFileDurably } from "../storage/durable_file.ts";
import { encodeJsonRecord, replayJsonRecords } from "../storage/json_record_file.ts";
import { writeAll } from "../storage/segment.ts";

const log = getLogger(["broker", "transactions"]);

/** The states of Kafka's `TransactionState` that a single-node coordinator passes through. */
export type TransactionState =
  | "Empty"
  | "Ongoing"
  | "PrepareCommit"
  | "PrepareAbort"
  | "CompleteCommit"
  | "CompleteAbort";

/** An offset committed inside a transaction, applied to the group when it commits. */
export interface PendingTxnOffset {
  group: string;
  topic: string;
  partition: number;
  offset: number;
  leaderEpoch: number;
  metadata: string | null;
}

/** What the coordinator knows of one transactional id (Kafka's `TransactionMetadata`). */
export interface TransactionMetadata {
  transactionalId: string;
  producerId: number;
  /** -1 until the first InitProducerId completes. */
  producerEpoch: number;
  timeoutMs: number;
  state: TransactionState;
  /** Partitions of the open transaction. */
  partitions: { topic: string; partition: number }[];
  /** Groups added with AddOffsetsToTxn. */
  groups: string[];
  /** Offsets sent with TxnOffsetCommit, applied on commit. */
  offsets: PendingTxnOffset[];
  /** When the open transaction started (its first AddPartitions/AddOffsets), ms. */
  startedMs: number;
  updatedMs: number;
}

const FILE_NAME = "transactions.log";

/** The coordinator's durable log of transaction metadata. */
export class TransactionLog {
  private file: Deno.FsFile | undefined;
  private writing: Promise<void> = Promise.resolve();
  private failure: Error | undefined;

  private constructor(private readonly path: string) {}

  /** Opens the log under `metaDir` and returns it with the replayed metadata. */
  static async open(
    metaDir: string,
  ): Promise<{ log: TransactionLog; transactions: Map<string, TransactionMetadata> }> {
    await Deno.mkdir(metaDir, { recursive: true });
    const txnLog = new TransactionLog(join(metaDir, FILE_NAME));
    const { transactions, records } = await txnLog.replay();
    if (records > 2 * transactions.size + 1000) await txnLog.compact(transactions);
    txnLog.file = await Deno.open(txnLog.path, { append: true, create: true });
    return { log: txnLog, transactions };
  }

  private async replay(): Promise<
    { transactions: Map<string, TransactionMetadata>; records: number }
  > {
    const transactions = new Map<string, TransactionMetadata>();
    const records = await replayJsonRecords<TransactionMetadata>(
      this.path,
      (meta) => transactions.set(meta.transactionalId, meta),
      { log, what: "transaction log" },
    );
    return { transactions, records };
  }

  private async compact(transactions: Map<string, TransactionMetadata>): Promise<void> {
    await writeFileDurably(this.path, [...transactions.values()].map(encodeJsonRecord));
    log.info("Compacted the transaction log to {records} records", {
      records: transactions.size,
    });
  }

  /** Appends `meta` and resolves once it is fsynced; rejects on a storage failure. */
  append(meta: TransactionMetadata): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    const bytes = encodeJsonRecord(meta);
    const done = this.writing.then(async () => {
      if (this.failure !== undefined) throw this.failure;
      if (this.file === undefined) throw new Error("Transaction log is closed");
      try {
        await writeAll(this.file, bytes);
        await this.file.syncData();
      } catch (error) {
        this.failure ??= new Error(
          `Transaction log storage failed: ${error instanceof Error ? error.message : error}`,
          { cause: error },
        );
        log.error("{message}", { message: this.failure.message });
        throw this.failure;
      }
    });
    this.writing = done.catch(() => {});
    return done;
  }

  /** Waits for pending appends and closes the file. */
  async close(): Promise<void> {
    await this.writing;
    this.file?.close();
    this.file = undefined;
  }
}
