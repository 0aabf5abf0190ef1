/**
 * The broker's Prometheus metrics (prom-client, own registry): bytes and messages in and
 * out per topic, requests by API and error code, request latency, and, collected on scrape,
 * per-partition high watermark / log start / size and per-group lag.
 *
 * @module
 */
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { GroupCoordinator } from "./groups/group_coordinator.ts";
import type { TopicStore } from "./storage/topic_store.ts";

/** The metric instruments the broker updates. */
export class BrokerMetrics {
  readonly registry: Registry;
  readonly bytesIn: Counter<"topic">;
  readonly bytesOut: Counter<"topic">;
  readonly messagesIn: Counter<"topic">;
  readonly messagesOut: Counter<"topic">;
  readonly requests: Counter<"api" | "error_code">;
  readonly requestSeconds: Histogram<"api">;
  readonly connections: Gauge;
  readonly closedBadFrames: Counter<"reason">;
  readonly rejectedBatches: Counter<"error_code">;
  readonly refusedConnections: Counter<"reason">;
  readonly frameBufferBytes: Gauge;

  /**
   * @param registry where the metrics register: the process registry of shared/runtime/metrics.ts in
   * the broker role, a private one (the default) for a broker embedded in tests.
   */
  constructor(registry: Registry = new Registry()) {
    this.registry = registry;
    const registers = [registry];
    this.bytesIn = new Counter({
      name: "broker_bytes_in_total",
      help: "Record batch bytes accepted by Produce",
      labelNames: ["topic"],
      registers,
    });
    this.bytesOut = new Counter({
      name: "broker_bytes_out_total",
      help: "Record batch bytes returned by Fetch",
      labelNames: ["topic"],
      registers,
    });
    this.messagesIn = new Counter({
      name: "broker_messages_in_total",
      help: "Records accepted by Produce",
      labelNames: ["topic"],
      registers,
    });
    this.messagesOut = new Counter({
      name: "broker_messages_out_total",
      help: "Records returned by Fetch",
      labelNames: ["topic"],
      registers,
    });
    this.requests = new Counter({
      name: "broker_requests_total",
      help: "Requests by API and the first error code of the response (0 = none)",
      labelNames: ["api", "error_code"],
      registers,
    });
    this.requestSeconds = new Histogram({
      name: "broker_request_duration_seconds",
      help: "Time from a request's arrival to its response being ready",
      labelNames: ["api"],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    this.frameBufferBytes = new Gauge({
      name: "broker_frame_buffer_bytes",
      help: "Bytes held for request frames still arriving (grown as their bytes arrive)",
      registers,
    });
    this.connections = new Gauge({
      name: "broker_connections",
      help: "Open client connections",
      registers,
    });
    this.closedBadFrames = new Counter({
      name: "broker_connections_closed_bad_input_total",
      help: "Connections closed because of a malformed, truncated or oversized frame",
      labelNames: ["reason"],
      registers,
    });
    this.rejectedBatches = new Counter({
      name: "broker_produce_batches_rejected_total",
      help: "Produced record batches refused by validation, by Kafka error code",
      labelNames: ["error_code"],
      registers,
    });
    this.refusedConnections = new Counter({
      name: "broker_connections_refused_total",
      help: "Connections closed by a limit: too many, idle, or a frame read too slowly",
      labelNames: ["reason"],
      registers,
    });
  }

  /** Adds the gauges read from storage and groups at scrape time. */
  watch(topics: () => TopicStore | undefined, groups: () => GroupCoordinator | undefined): void {
    const registers = [this.registry];
    new Gauge({
      name: "broker_partition_high_watermark",
      help: "High watermark (next offset visible to consumers) per partition",
      labelNames: ["topic", "partition"],
      registers,
      collect() {
        this.reset();
        for (const plog of topics()?.all() ?? []) {
          this.set({ topic: plog.topic, partition: String(plog.partition) }, plog.highWatermark);
        }
      },
    });
    new Gauge({
      name: "broker_partition_log_start_offset",
      help: "First offset still retained per partition",
      labelNames: ["topic", "partition"],
      registers,
      collect() {
        this.reset();
        for (const plog of topics()?.all() ?? []) {
          this.set({ topic: plog.topic, partition: String(plog.partition) }, plog.logStartOffset);
        }
      },
    });
    new Gauge({
      name: "broker_partition_size_bytes",
      help: "Bytes on disk per partition",
      labelNames: ["topic", "partition"],
      registers,
      collect() {
        this.reset();
        for (const plog of topics()?.all() ?? []) {
          this.set({ topic: plog.topic, partition: String(plog.partition) }, plog.sizeBytes);
        }
      },
    });
    new Gauge({
      name: "broker_group_lag",
      help: "High watermark minus committed offset per group and partition",
      labelNames: ["group", "topic", "partition"],
      registers,
      collect() {
        this.reset();
        const store = topics();
        const coordinator = groups();
        if (store === undefined || coordinator === undefined) return;
        for (const group of coordinator.offsets.groupIds()) {
          for (const [topic, partition, committed] of coordinator.offsets.list(group)) {
            const plog = store.get(topic, partition);
            if (plog === undefined) continue;
            this.set(
              { group, topic, partition: String(partition) },
              Math.max(0, plog.highWatermark - committed.offset),
            );
          }
        }
      },
    });
    new Gauge({
      name: "broker_group_rebalances",
      help: "Consumer group generations started since the broker started",
      registers,
      collect() {
        this.set(groups()?.rebalances ?? 0);
      },
    });
  }
}
