/**
 * The verifier as a library: reads `orders.commands` and `orders.events` from the beginning
 * (without a consumer group) for up to a time limit and reports on the guarantee. It stops
 * early once both topics are read to their high watermark and nothing new arrived for the
 * quiet period, and no command is waiting for its event (then it waits longer, in case the
 * event is on its way, up to the limit).
 *
 * @module
 */
import type { Kafka } from "kafkajs";
import { TOPICS } from "@trading/shared/kafka";
import { PartitionReader } from "@trading/shared/partition-reader";
import { PipelineAudit, type VerifyReport } from "./pipeline_audit.ts";

/** Options of {@linkcode verifyPipeline}. */
export interface VerifyOptions {
  kafka: Kafka;
  /** Upper bound of the run, ms. */
  timeoutMs: number;
  /** How long both topics must stay at their end to stop early, ms. Default 1000. */
  quietMs?: number;
  /** With commands still waiting for events, how long to stay quiet before stopping. Default 5x quietMs. */
  lostQuietMs?: number;
  signal?: AbortSignal;
  /** Called after each read round with the number of records read so far. */
  onProgress?: (records: number) => void;
}

async function positionsFrom(reader: PartitionReader, topic: string): Promise<Map<number, number>> {
  const offsets = await reader.offsets(topic);
  if (offsets.length === 0) throw new Error(`Missing topic ${topic}: expected it to exist`);
  return new Map(offsets.map((o) => [o.partition, o.low]));
}

/** Reads both topics and returns the report. */
export async function verifyPipeline(options: VerifyOptions): Promise<VerifyReport> {
  const started = performance.now();
  const quietMs = options.quietMs ?? 1000;
  const lostQuietMs = options.lostQuietMs ?? quietMs * 5;
  const audit = new PipelineAudit();
  const readers = await Promise.all([
    PartitionReader.connect(options.kafka),
    PartitionReader.connect(options.kafka),
  ]);
  try {
    const topics = [
      {
        topic: TOPICS.commands,
        reader: readers[0],
        add: (v: Uint8Array | null) => audit.addCommand(v),
      },
      {
        topic: TOPICS.events,
        reader: readers[1],
        add: (v: Uint8Array | null) => audit.addEvent(v),
      },
    ];
    const state = await Promise.all(topics.map(async (t) => ({
      ...t,
      positions: await positionsFrom(t.reader, t.topic),
      highs: new Map<number, number>(),
    })));
    let records = 0;
    let lastNewAt = performance.now();
    let complete = false;
    while (performance.now() - started < options.timeoutMs) {
      options.signal?.throwIfAborted();
      const counts = await Promise.all(state.map(async (s) => {
        const { records: read, lastStableOffsets, nextOffsets } = await s.reader.fetchMany(
          s.topic,
          s.positions,
          { maxWaitMs: 200 },
        );
        for (const record of read) s.add(record.value);
        // Past transaction markers and aborted records too; the end is what a read_committed
        // reader can read (the last stable offset).
        for (const [partition, next] of nextOffsets) {
          s.positions.set(partition, Math.max(s.positions.get(partition) ?? 0, next));
        }
        for (const [partition, high] of lastStableOffsets) s.highs.set(partition, high);
        return read.length;
      }));
      const read = counts.reduce((a, b) => a + b, 0);
      records += read;
      options.onProgress?.(records);
      const now = performance.now();
      if (read > 0) lastNewAt = now;
      const atEnd = state.every((s) =>
        [...s.positions].every(([p, position]) => position >= (s.highs.get(p) ?? Infinity))
      );
      const quiet = now - lastNewAt;
      if (atEnd && quiet >= quietMs) {
        complete = true;
        if (audit.lost === 0 || quiet >= lostQuietMs) break;
      } else {
        complete = false;
      }
    }
    return audit.report({ complete, elapsedMs: performance.now() - started });
  } finally {
    await Promise.all(readers.map((r) => r.close().catch(() => {})));
  }
}
