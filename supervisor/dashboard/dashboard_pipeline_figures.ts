/**
 * The pipeline's figures for the dashboard, derived from two consecutive scrapes of every
 * child's `/metrics`: throughput per topic, end-to-end and Raft Apply latency quantiles,
 * consumer lag per partition, DLQ count and outbox depth.
 *
 * Where a figure comes from, first match wins:
 * - throughput: the embedded broker's `broker_messages_in_total{topic}`; with an external
 *   Kafka, the services' own counters (`ticks_published_total` of market-ingestor,
 *   `commands_out_total` of stream-processor, `events_published_total` of order-executor);
 * - end-to-end latency: the order-executor's `order_latency_seconds` (tick created to event
 *   created; or a histogram named `*end_to_end*` / `*e2e*`), quantiles over the observations
 *   between the two scrapes;
 * - consumer lag: the services' gauges named `*lag*` with a `partition` label, else the
 *   embedded broker's `broker_group_lag`;
 * - DLQ count: the services' `dead_letters_total` (or `*dlq*_total`), else the messages
 *   retained in the embedded broker's `orders.dlq`;
 * - outbox depth: the order-executor's gauges named `*outbox*`.
 *
 * @module
 */
import {
  bucketsDelta,
  bucketsOf,
  histogramQuantile,
  type MetricSample,
  sumOf,
} from "./dashboard_prometheus.ts";

/** Every child's samples at one moment. */
export interface Scrape {
  /** Epoch ms of the scrape. */
  at: number;
  byChild: ReadonlyMap<string, readonly MetricSample[]>;
}

/** Latency quantiles in ms over one scrape interval; null when nothing was observed. */
export interface Quantiles {
  p50Ms: number | null;
  p99Ms: number | null;
  /** Observations in the interval. */
  count: number;
}

/** One consumer group partition's lag. */
export interface PartitionLag {
  group: string;
  topic: string;
  partition: string;
  lag: number;
  /** The child whose metrics reported it. */
  source: string;
}

/** What the dashboard shows about the pipeline; null where no process reports it. */
export interface PipelineFigures {
  /** Epoch ms of the scrape the figures come from. */
  at: number;
  /** Messages per second into each topic. */
  ticksPerSecond: number | null;
  commandsPerSecond: number | null;
  eventsPerSecond: number | null;
  /** Tick created to order event, over the last interval. */
  endToEnd: Quantiles & { metric: string | null };
  /** Raft Apply latency over the last interval, every node together. */
  raftApply: Quantiles;
  lag: PartitionLag[];
  totalLag: number | null;
  dlq: number | null;
  outboxDepth: number | null;
}

const TOPIC_TICKS = "market.ticks";
const TOPIC_COMMANDS = "orders.commands";
const TOPIC_EVENTS = "orders.events";
const TOPIC_DLQ = "orders.dlq";

/**
 * Which service counter counts a topic's messages when there is no embedded broker: the
 * name the service uses, else any counter of that child matching the pattern.
 */
const SERVICE_COUNTERS: Record<string, { child: string; name: string; pattern: RegExp }> = {
  [TOPIC_TICKS]: { child: "market-ingestor", name: "ticks_published_total", pattern: /ticks/ },
  [TOPIC_COMMANDS]: { child: "stream-processor", name: "commands_out_total", pattern: /commands/ },
  [TOPIC_EVENTS]: { child: "order-executor", name: "events_published_total", pattern: /events/ },
};

/** Histograms of tick-created-to-order-event latency, the order-executor's name first. */
const END_TO_END_HISTOGRAM = /^order_latency_seconds$|end_to_end|e2e/;
/** Dead-letter counters (`dead_letters_total{topic,reason}` in the services). */
const DLQ_COUNTER = /dead_letter|dlq/;

/**
 * Derives the figures from `current`, with rates and windowed quantiles against `previous`
 * (the scrape before; without it rates and quantiles are null).
 */
export function pipelineFigures(current: Scrape, previous?: Scrape): PipelineFigures {
  const seconds = previous ? (current.at - previous.at) / 1000 : 0;
  const rateOf = (read: (scrape: Scrape) => number | undefined): number | null => {
    if (!previous || seconds <= 0) return null;
    const now = read(current);
    const before = read(previous);
    if (now === undefined) return null;
    // A counter that went down belongs to a restarted process: it counted from zero.
    const delta = before === undefined || now < before ? now : now - before;
    return round(delta / seconds);
  };
  const topicRate = (topic: string) =>
    rateOf((scrape) => {
      // A broker counter series appears with its topic's first message: until then, 0.
      const broker = scrape.byChild.get("broker");
      if (broker) return sumOf(broker, "broker_messages_in_total", { topic }) ?? 0;
      const source = SERVICE_COUNTERS[topic]!;
      const samples = scrape.byChild.get(source.child) ?? [];
      return sumOf(samples, source.name) ?? sumCounters(samples, source.pattern);
    });

  const endToEndMetric = findEndToEndHistogram(current);
  const endToEnd = endToEndMetric
    ? windowQuantiles(current, previous, [endToEndMetric.child], endToEndMetric.name)
    : { p50Ms: null, p99Ms: null, count: 0 };
  const raftChildren = [...current.byChild.keys()].filter((name) => /^raft-\d+$/.test(name));
  const raftApply = windowQuantiles(
    current,
    previous,
    raftChildren,
    "raft_apply_duration_seconds",
  );
  const lag = consumerLag(current).sort((a, b) =>
    a.group.localeCompare(b.group) || a.topic.localeCompare(b.topic) ||
    Number(a.partition) - Number(b.partition)
  );
  return {
    at: current.at,
    ticksPerSecond: topicRate(TOPIC_TICKS),
    commandsPerSecond: topicRate(TOPIC_COMMANDS),
    eventsPerSecond: topicRate(TOPIC_EVENTS),
    endToEnd: { ...endToEnd, metric: endToEndMetric?.name ?? null },
    raftApply,
    lag,
    totalLag: lag.length > 0 ? lag.reduce((sum, l) => sum + l.lag, 0) : null,
    dlq: dlqCount(current),
    outboxDepth: outboxDepth(current),
  };
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}

/** Sums the counters (`*_total`) whose name matches `pattern`. */
function sumCounters(samples: readonly MetricSample[], pattern: RegExp): number | undefined {
  let sum: number | undefined;
  for (const sample of samples) {
    if (sample.name.endsWith("_total") && pattern.test(sample.name)) {
      sum = (sum ?? 0) + sample.value;
    }
  }
  return sum;
}

function findEndToEndHistogram(scrape: Scrape): { child: string; name: string } | undefined {
  const children = [...scrape.byChild.keys()].sort((a, b) =>
    Number(b === "order-executor") - Number(a === "order-executor")
  );
  for (const child of children) {
    for (const sample of scrape.byChild.get(child) ?? []) {
      if (!sample.name.endsWith("_bucket")) continue;
      const name = sample.name.slice(0, -"_bucket".length);
      if (END_TO_END_HISTOGRAM.test(name)) return { child, name };
    }
  }
  return undefined;
}

/** Quantiles of histogram `name` (seconds) over `children`, between the two scrapes. */
function windowQuantiles(
  current: Scrape,
  previous: Scrape | undefined,
  children: readonly string[],
  name: string,
): Quantiles {
  if (!previous) return { p50Ms: null, p99Ms: null, count: 0 };
  // Per child, so that one child's restart resets only its own counts.
  const merged = new Map<number, number>();
  for (const child of children) {
    const now = bucketsOf(current.byChild.get(child) ?? [], name);
    const before = bucketsOf(previous.byChild.get(child) ?? [], name);
    for (const { le, count } of bucketsDelta(now, before)) {
      merged.set(le, (merged.get(le) ?? 0) + count);
    }
  }
  const buckets = [...merged].map(([le, count]) => ({ le, count })).sort((a, b) => a.le - b.le);
  const count = buckets.at(-1)?.count ?? 0;
  const ms = (q: number) => {
    const seconds = histogramQuantile(q, buckets);
    return seconds === undefined ? null : round(seconds * 1000);
  };
  return { p50Ms: ms(0.5), p99Ms: ms(0.99), count };
}

function consumerLag(scrape: Scrape): PartitionLag[] {
  const fromServices: PartitionLag[] = [];
  for (const [child, samples] of scrape.byChild) {
    if (child === "broker") continue;
    for (const sample of samples) {
      if (!/lag/.test(sample.name) || sample.labels.partition === undefined) continue;
      if (/_(bucket|sum|count|total)$/.test(sample.name)) continue;
      fromServices.push({
        group: sample.labels.group ?? child,
        topic: sample.labels.topic ?? "",
        partition: sample.labels.partition,
        lag: sample.value,
        source: child,
      });
    }
  }
  if (fromServices.length > 0) return fromServices;
  return (scrape.byChild.get("broker") ?? [])
    .filter((s) => s.name === "broker_group_lag")
    .map((s) => ({
      group: s.labels.group ?? "",
      topic: s.labels.topic ?? "",
      partition: s.labels.partition ?? "",
      lag: s.value,
      source: "broker",
    }));
}

function dlqCount(scrape: Scrape): number | null {
  let fromServices: number | undefined;
  for (const [child, samples] of scrape.byChild) {
    if (child === "broker" || child === "supervisor") continue;
    const counted = sumCounters(samples, DLQ_COUNTER);
    if (counted !== undefined) fromServices = (fromServices ?? 0) + counted;
  }
  if (fromServices !== undefined) return fromServices;
  const broker = scrape.byChild.get("broker") ?? [];
  const high = sumOf(broker, "broker_partition_high_watermark", { topic: TOPIC_DLQ });
  const start = sumOf(broker, "broker_partition_log_start_offset", { topic: TOPIC_DLQ });
  return high === undefined ? null : high - (start ?? 0);
}

function outboxDepth(scrape: Scrape): number | null {
  let depth: number | undefined;
  for (const sample of scrape.byChild.get("order-executor") ?? []) {
    if (/outbox/.test(sample.name) && !/_(bucket|sum|count|total)$/.test(sample.name)) {
      depth = (depth ?? 0) + sample.value;
    }
  }
  return depth ?? null;
}
