/**
 * Fetch: returns whole record batches as stored (no re-encoding), partition by partition in
 * request order within the request's byte budget, and long-polls: when fewer than
 * `minBytes` are available it waits until a requested partition's high watermark moves or
 * `maxWaitMs` passes, so idle consumers do not spin. Fetch sessions (KIP-227) are not kept:
 * session id 0 tells the client every fetch is a full one. `read_committed` (isolation level 1)
 * reads up to the last stable offset and gets the aborted transactions of what it read.
 * From v13 topics are named by topic id (KIP-516); an id the broker does not know (a topic
 * deleted, or deleted and created again) is UNKNOWN_TOPIC_ID, as Kafka answers it.
 *
 * @module
 */
import { ErrorCode } from "../protocol/error_codes.ts";
import { countRecords } from "../protocol/record_batch.ts";
import type { FetchPartitionResponse, FetchRequest, FetchResponse } from "../protocol/types.ts";
import type { PartitionLog } from "../storage/partition_log.ts";
import type { BrokerState, RequestContext } from "./context.ts";

/** Handles a Fetch request. */
export async function handleFetch(
  state: BrokerState,
  ctx: RequestContext,
  request: FetchRequest,
): Promise<FetchResponse> {
  const deadline = Date.now() + Math.max(0, request.maxWaitMs);
  // Resolved once: a topic deleted during the long poll is then seen as a missing partition.
  const names = request.topics.map((t) =>
    ctx.apiVersion >= 13 ? state.topics.topicNameOf(t.topicId) : t.topic
  );
  for (;;) {
    const { response, bytes, hadError, logs } = await readOnce(state, request, names);
    const now = Date.now();
    if (
      bytes >= request.minBytes || hadError || now >= deadline || state.closing.aborted ||
      logs.length === 0
    ) {
      for (const topic of response.responses) {
        for (const p of topic.partitions) {
          const length = p.records?.length ?? 0;
          if (length === 0) continue;
          // A topic id resolved to a name at the top, so `topic` is set in every version.
          state.metrics.bytesOut.inc({ topic: topic.topic }, length);
          state.metrics.messagesOut.inc({ topic: topic.topic }, countRecords(p.records!));
        }
      }
      return response;
    }
    await waitForData(logs, deadline - now, state.closing);
  }
}

async function readOnce(
  state: BrokerState,
  request: FetchRequest,
  names: readonly (string | undefined)[],
) {
  // The request's maxBytes, within the broker's fetch.max.bytes (Kafka: ReplicaManager takes
  // the smaller), so that no client can ask for a response the size of the log.
  let budget = Math.min(request.maxBytes > 0 ? request.maxBytes : 0x7fffffff, state.fetchMaxBytes);
  let bytes = 0;
  let hadError = false;
  const logs: PartitionLog[] = [];
  const responses: FetchResponse["responses"] = [];
  for (const [t, topic] of request.topics.entries()) {
    const name = names[t];
    const partitions: FetchPartitionResponse[] = [];
    for (const p of topic.partitions) {
      const answer: FetchPartitionResponse = {
        partitionIndex: p.partition,
        errorCode: ErrorCode.NONE,
        highWatermark: -1,
        lastStableOffset: -1,
        logStartOffset: -1,
        abortedTransactions: [],
        preferredReadReplica: -1,
        records: new Uint8Array(0),
      };
      partitions.push(answer);
      if (name === undefined) {
        answer.errorCode = ErrorCode.UNKNOWN_TOPIC_ID;
        hadError = true;
        continue;
      }
      const plog = state.topics.get(name, p.partition);
      if (plog === undefined) {
        answer.errorCode = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
        hadError = true;
        continue;
      }
      logs.push(plog);
      // KIP-74: the response stays within maxBytes, except that the first batch of the first
      // partition with data is returned whole so that progress is possible (librdkafka 0082).
      const limit = Math.min(Math.max(1, p.partitionMaxBytes), budget);
      if (limit <= 0) {
        answer.highWatermark = plog.highWatermark;
        answer.lastStableOffset = plog.lastStableOffset;
        answer.logStartOffset = plog.logStartOffset;
        continue;
      }
      const read = await plog.read(p.fetchOffset, limit, request.isolationLevel, bytes === 0);
      answer.errorCode = read.errorCode;
      answer.highWatermark = read.highWatermark;
      answer.lastStableOffset = read.lastStableOffset;
      answer.logStartOffset = read.logStartOffset;
      // read_committed gets the aborted transactions among the returned batches, so the
      // client drops their records.
      answer.abortedTransactions = read.abortedTransactions;
      answer.records = read.records ?? new Uint8Array(0);
      if (read.errorCode !== ErrorCode.NONE) hadError = true;
      bytes += answer.records.length;
      budget -= answer.records.length;
    }
    responses.push({ topic: name ?? topic.topic, topicId: topic.topicId, partitions });
  }
  const response: FetchResponse = {
    throttleTimeMs: 0,
    errorCode: ErrorCode.NONE,
    sessionId: 0,
    responses,
  };
  return { response, bytes, hadError, logs };
}

/** Resolves when any of `logs` advances, after `ms`, or when `closing` aborts. */
function waitForData(logs: PartitionLog[], ms: number, closing: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const removers: (() => void)[] = [];
    const done = () => {
      clearTimeout(timer);
      closing.removeEventListener("abort", done);
      for (const remove of removers) remove();
      resolve();
    };
    const timer = setTimeout(done, ms);
    closing.addEventListener("abort", done);
    for (const plog of logs) removers.push(plog.onAdvance(done));
  });
}
