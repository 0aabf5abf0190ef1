/**
 * A test harness: a transactional producer and a read_committed reader over
 * {@linkcode RawKafkaClient}, so crash tests drive each transaction step themselves (no
 * client library retries or hides a request) and read exactly what a Kafka consumer would
 * return, filtering aborted transactions with the Fetch response's list as Kafka's
 * consumer does.
 *
 * @module
 */
import * as M from "@trading/broker/protocol";
import {
  buildRecordBatch,
  CONTROL_FLAG,
  ControlType,
  controlTypeOf,
  decodeRecords,
  isProblem,
  parseBatchAt,
  TRANSACTIONAL_FLAG,
} from "@trading/broker/record-batch";
import { RawKafkaClient } from "./raw_kafka_client.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A Kafka error code other than NONE in a response. */
export class KafkaErrorCode extends Error {
  constructor(readonly code: number, what: string) {
    super(`${what} failed with error code ${code}`);
    this.name = "KafkaErrorCode";
  }
}

/** One transactional producer on one connection. */
export class RawTransactionalProducer {
  producerId = -1;
  producerEpoch = -1;
  private readonly sequences = new Map<string, number>();
  private readonly added = new Set<string>();

  private constructor(
    private readonly client: RawKafkaClient,
    readonly transactionalId: string,
  ) {}

  /** Connects and runs InitProducerId (which fences an earlier holder of the id). */
  static async init(
    address: string,
    transactionalId: string,
    transactionTimeoutMs = 60_000,
  ): Promise<RawTransactionalProducer> {
    const client = await RawKafkaClient.connect(address, `txn-${transactionalId}`);
    const producer = new RawTransactionalProducer(client, transactionalId);
    try {
      const response = await client.request(M.initProducerId, 1, {
        transactionalId,
        transactionTimeoutMs,
      });
      if (response.errorCode !== M.ErrorCode.NONE) {
        throw new KafkaErrorCode(response.errorCode, "InitProducerId");
      }
      producer.producerId = response.producerId;
      producer.producerEpoch = response.producerEpoch;
    } catch (error) {
      client.close();
      throw error;
    }
    return producer;
  }

  /** Adds the partition to the transaction (once per transaction) and writes `values` to it. */
  async send(topic: string, partition: number, values: string[]): Promise<void> {
    const key = `${topic}-${partition}`;
    if (!this.added.has(key)) {
      const response = await this.client.request(M.addPartitionsToTxn, 1, {
        transactionalId: this.transactionalId,
        producerId: this.producerId,
        producerEpoch: this.producerEpoch,
        topics: [{ name: topic, partitions: [partition] }],
      });
      const code = response.results[0]!.results[0]!.errorCode;
      if (code !== M.ErrorCode.NONE) throw new KafkaErrorCode(code, "AddPartitionsToTxn");
      this.added.add(key);
    }
    const baseSequence = this.sequences.get(key) ?? 0;
    const response = await this.client.request(M.produce, 7, {
      transactionalId: this.transactionalId,
      acks: -1,
      timeoutMs: 10_000,
      topics: [{
        name: topic,
        partitions: [{
          index: partition,
          records: buildRecordBatch(
            values.map((v) => ({ value: encoder.encode(v) })),
            { producerId: this.producerId, producerEpoch: this.producerEpoch, baseSequence },
            { transactional: true },
          ),
        }],
      }],
    });
    const code = response.responses[0]!.partitions[0]!.errorCode;
    if (code !== M.ErrorCode.NONE) throw new KafkaErrorCode(code, "Produce");
    this.sequences.set(key, baseSequence + values.length);
  }

  /** AddOffsetsToTxn and TxnOffsetCommit (v1, no generation): `offset` for the group. */
  async sendOffsets(group: string, topic: string, partition: number, offset: number) {
    const ids = {
      transactionalId: this.transactionalId,
      producerId: this.producerId,
      producerEpoch: this.producerEpoch,
    };
    const added = await this.client.request(M.addOffsetsToTxn, 1, {
      ...ids,
      groupId: group,
    });
    if (added.errorCode !== M.ErrorCode.NONE) {
      throw new KafkaErrorCode(added.errorCode, "AddOffsetsToTxn");
    }
    const response = await this.client.request(M.txnOffsetCommit, 1, {
      ...ids,
      groupId: group,
      topics: [{
        name: topic,
        partitions: [{
          partitionIndex: partition,
          committedOffset: offset,
          committedMetadata: null,
        }],
      }],
    });
    const code = response.topics[0]!.partitions[0]!.errorCode;
    if (code !== M.ErrorCode.NONE) throw new KafkaErrorCode(code, "TxnOffsetCommit");
  }

  /** Sends EndTxn without waiting for the answer (a crash test kills the broker meanwhile). */
  async sendEnd(commit: boolean): Promise<void> {
    await this.client.send(this.client.encodeRequest(M.endTxn, 1, {
      transactionalId: this.transactionalId,
      producerId: this.producerId,
      producerEpoch: this.producerEpoch,
      committed: commit,
    }));
  }

  /** Commits or aborts the transaction; the next send starts a new one. */
  async end(commit: boolean): Promise<void> {
    const response = await this.client.request(M.endTxn, 1, {
      transactionalId: this.transactionalId,
      producerId: this.producerId,
      producerEpoch: this.producerEpoch,
      committed: commit,
    });
    if (response.errorCode !== M.ErrorCode.NONE) {
      throw new KafkaErrorCode(response.errorCode, "EndTxn");
    }
    this.added.clear();
  }

  close(): void {
    this.client.close();
  }
}

/** The committed offset of `group` on a partition, -1 when none. */
export async function committedOffset(
  address: string,
  group: string,
  topic: string,
  partition: number,
): Promise<number> {
  const client = await RawKafkaClient.connect(address, "txn-offsets");
  try {
    const response = await client.request(M.offsetFetch, 5, {
      groupId: group,
      topics: [{ name: topic, partitionIndexes: [partition] }],
    });
    return response.topics[0]!.partitions[0]!.committedOffset;
  } finally {
    client.close();
  }
}

/**
 * Reads a partition from offset 0 to its end as a consumer with `isolation` would return
 * it (1 = read_committed: up to the LSO, aborted transactions dropped).
 */
export async function readPartition(
  address: string,
  topic: string,
  partition: number,
  isolationLevel = 1,
): Promise<string[]> {
  const client = await RawKafkaClient.connect(address, "txn-reader");
  const values: string[] = [];
  try {
    const aborting = new Set<number>();
    for (let offset = 0;;) {
      const response = await client.request(M.fetch, 11, {
        replicaId: -1,
        maxWaitMs: 0,
        minBytes: 0,
        maxBytes: 8 << 20,
        isolationLevel,
        sessionEpoch: -1,
        topics: [{
          topic,
          partitions: [{ partition, fetchOffset: offset, partitionMaxBytes: 8 << 20 }],
        }],
      });
      const p = response.responses[0]!.partitions[0]!;
      if (p.errorCode !== M.ErrorCode.NONE) throw new KafkaErrorCode(p.errorCode, "Fetch");
      const bytes = p.records ?? new Uint8Array(0);
      if (bytes.length === 0) break;
      const aborted = [...(p.abortedTransactions ?? [])].sort((a, b) =>
        a.firstOffset - b.firstOffset
      );
      for (let position = 0; position < bytes.length;) {
        const batch = parseBatchAt(bytes, position);
        if (isProblem(batch)) throw new Error(`Bad batch at ${position}: ${batch.kind}`);
        const last = batch.baseOffset + batch.lastOffsetDelta;
        // As Kafka's consumer: a producer is aborting from its aborted transaction's first
        // offset until its ABORT marker.
        while (aborted.length > 0 && aborted[0]!.firstOffset <= last) {
          aborting.add(aborted.shift()!.producerId);
        }
        if ((batch.attributes & CONTROL_FLAG) !== 0) {
          if (controlTypeOf(bytes, batch) === ControlType.ABORT) aborting.delete(batch.producerId);
        } else if (
          !((batch.attributes & TRANSACTIONAL_FLAG) !== 0 && aborting.has(batch.producerId))
        ) {
          for (const r of decodeRecords(bytes.subarray(position, position + batch.size))) {
            values.push(decoder.decode(r.value!));
          }
        }
        offset = last + 1;
        position += batch.size;
      }
    }
  } finally {
    client.close();
  }
  return values;
}
