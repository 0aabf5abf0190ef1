/**
 * Produce: validates each partition's RecordBatch v2 (CRC, magic, one batch per partition as
 * Kafka requires from v3, then its records: protocol/validate_batch.ts), appends it as
 * received (only the base offset, and a lying maxTimestamp, are rewritten), and
 * acknowledges by `acks`: 0 no response, 1 once written to the file, -1 once durable (after
 * the group-commit fsync in sync mode, after the write in interval mode).
 *
 * @module
 */
import { getLogger } from "@trading/shared/log";
import { ErrorCode } from "../protocol/error_codes.ts";
import { isProblem, parseBatches, TRANSACTIONAL_FLAG } from "../protocol/record_batch.ts";
import { validateBatch } from "../protocol/validate_batch.ts";
import type {
  ProducePartitionResponse,
  ProduceRequest,
  ProduceResponse,
} from "../protocol/types.ts";
import type { BrokerState, RequestContext } from "./context.ts";

const log = getLogger(["broker", "produce"]);

/** Handles a Produce request; resolves to null for acks=0 (no response is sent). */
export async function handleProduce(
  state: BrokerState,
  ctx: RequestContext,
  request: ProduceRequest,
): Promise<ProduceResponse | null> {
  const { acks } = request;
  const waits: Promise<unknown>[] = [];
  const responses = request.topics.map((topic) => ({
    name: topic.name,
    partitions: topic.partitions.map((p): ProducePartitionResponse => {
      const answer: ProducePartitionResponse = {
        index: p.index,
        errorCode: ErrorCode.NONE,
        baseOffset: -1,
        logAppendTimeMs: -1,
        logStartOffset: -1,
        recordErrors: [],
        errorMessage: null,
      };
      const fail = (errorCode: number, message: string) => {
        answer.errorCode = errorCode;
        answer.errorMessage = message;
        return answer;
      };
      if (acks !== 0 && acks !== 1 && acks !== -1) {
        return fail(ErrorCode.INVALID_REQUIRED_ACKS, `Invalid acks ${acks}: expected 0, 1 or -1`);
      }
      const plog = state.topics.get(topic.name, p.index);
      if (plog === undefined) {
        return fail(
          ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
          `Unknown partition ${topic.name}-${p.index}`,
        );
      }
      const records = p.records;
      if (records === null || records.length === 0) {
        return fail(ErrorCode.INVALID_RECORD, "Empty record set");
      }
      // The topic's max.message.bytes (default: the broker's message.max.bytes), checked on
      // the whole batch as Kafka's LogValidator does.
      const maxMessageBytes = state.topics.effectiveConfig(topic.name).maxMessageBytes;
      if (records.length > maxMessageBytes) {
        return fail(
          ErrorCode.MESSAGE_TOO_LARGE,
          `Batch of ${records.length} bytes exceeds max.message.bytes ${maxMessageBytes}`,
        );
      }
      const batches = parseBatches(records);
      if (isProblem(batches)) {
        const code = batches.kind === "magic"
          ? ErrorCode.UNSUPPORTED_FOR_MESSAGE_FORMAT
          : ErrorCode.CORRUPT_MESSAGE;
        log.warn("Rejected produce to {topic}-{partition} from {client}: {problem}", {
          topic: topic.name,
          partition: p.index,
          client: ctx.clientId ?? ctx.clientHost,
          problem: batches.kind,
        });
        return fail(code, `Invalid record batch: ${batches.kind}`);
      }
      if (batches.length !== 1) {
        return fail(
          ErrorCode.INVALID_RECORD,
          `Expected one record batch per partition, got ${batches.length}`,
        );
      }
      const batch = batches[0]!;
      const verdict = validateBatch(records, batch, {
        maxDecompressedBytes: state.maxDecompressedBytes,
        maxTimestampAheadMs: state.maxTimestampAheadMs,
        now: Date.now(),
      });
      if (!verdict.ok) {
        state.metrics.rejectedBatches.inc({ error_code: String(verdict.errorCode) });
        log.warn("Rejected produce to {topic}-{partition} from {client}: {reason}", {
          topic: topic.name,
          partition: p.index,
          client: ctx.clientId ?? ctx.clientHost,
          reason: verdict.message,
        });
        return fail(verdict.errorCode, verdict.message);
      }
      if (batch.producerId >= 0 && !state.producerIds.isAllocated(batch.producerId)) {
        // A producer id this broker never handed out (InitProducerId) is made up: accepting
        // it would let a forged batch take a victim's next sequence, so that the victim's
        // real batch is acked as a duplicate and never written. UNKNOWN_PRODUCER_ID is what
        // Apache Kafka returns when it has no state for a non-transactional producer id
        // (INVALID_PRODUCER_ID_MAPPING is about a transactional id's mapping).
        state.metrics.rejectedBatches.inc({ error_code: String(ErrorCode.UNKNOWN_PRODUCER_ID) });
        log.warn(
          "Rejected produce to {topic}-{partition} from {client}: unknown producer id {producerId}",
          {
            topic: topic.name,
            partition: p.index,
            client: ctx.clientId ?? ctx.clientHost,
            producerId: batch.producerId,
          },
        );
        return fail(
          ErrorCode.UNKNOWN_PRODUCER_ID,
          `Producer id ${batch.producerId} was not allocated by this broker (InitProducerId)`,
        );
      }
      if ((batch.attributes & TRANSACTIONAL_FLAG) !== 0) {
        // The batch must belong to the ongoing transaction of the producer's current epoch
        // and the partition must have been added to it: a fenced zombie is refused here even
        // on a partition its successor has not written yet (KIP-890's verification).
        if (request.transactionalId === null) {
          return fail(ErrorCode.INVALID_REQUEST, "Transactional batch without a transactional id");
        }
        const error = state.transactions.checkProduce(
          request.transactionalId,
          batch.producerId,
          batch.producerEpoch,
          topic.name,
          p.index,
        );
        if (error !== ErrorCode.NONE) {
          return fail(
            error,
            `Transactional batch of producer ${batch.producerId} epoch ${batch.producerEpoch} ` +
              `refused for ${topic.name}-${p.index} (error ${error})`,
          );
        }
      }
      const result = plog.append(records, batch);
      if (!result.ok) return fail(result.errorCode, result.message);
      answer.baseOffset = result.baseOffset;
      answer.logStartOffset = plog.logStartOffset;
      if (!result.duplicate) {
        state.metrics.bytesIn.inc({ topic: topic.name }, records.length);
        state.metrics.messagesIn.inc({ topic: topic.name }, batch.recordCount);
      }
      const done = plog.waitAcknowledgeable(result.endOffset, acks);
      waits.push(done.catch((error: Error) => {
        answer.errorCode = ErrorCode.KAFKA_STORAGE_ERROR;
        answer.errorMessage = error.message;
      }));
      return answer;
    }),
  }));
  if (acks === 0) {
    // Nothing to answer; storage errors are logged by the partition log.
    return null;
  }
  await Promise.all(waits);
  return { responses, throttleTimeMs: 0 };
}
