import assert from "node:assert/strict";
import { pipelineFigures, type Scrape } from "./dashboard_pipeline_figures.ts";
import { parsePrometheusText } from "./dashboard_prometheus.ts";

function scrape(at: number, children: Record<string, string>): Scrape {
  return {
    at,
    byChild: new Map(Object.entries(children).map(([k, v]) => [k, parsePrometheusText(v)])),
  };
}

const brokerAt = (ticks: number, dlqHigh: number) => `
broker_messages_in_total{topic="market.ticks"} ${ticks}
broker_messages_in_total{topic="orders.commands"} ${ticks / 2}
broker_partition_high_watermark{topic="orders.dlq",partition="0"} ${dlqHigh}
broker_partition_log_start_offset{topic="orders.dlq",partition="0"} 0
broker_group_lag{group="stream-processor",topic="market.ticks",partition="0"} 3
broker_group_lag{group="stream-processor",topic="market.ticks",partition="1"} 4
`;

Deno.test("pipelineFigures() takes topic rates, lag and DLQ from the embedded broker", () => {
  const before = scrape(10_000, { broker: brokerAt(100, 1) });
  const now = scrape(12_000, { broker: brokerAt(500, 2) });
  const figures = pipelineFigures(now, before);
  assert.equal(figures.ticksPerSecond, 200);
  assert.equal(figures.commandsPerSecond, 100);
  assert.equal(figures.eventsPerSecond, 0, "no series yet for a topic without messages is 0");
  assert.equal(figures.dlq, 2);
  assert.equal(figures.totalLag, 7);
  assert.deepEqual(figures.lag.map((l) => l.partition), ["0", "1"]);
  assert.equal(pipelineFigures(now).ticksPerSecond, null, "no rate from a single scrape");
});

Deno.test("pipelineFigures() prefers the services' own counters, lag and DLQ over the broker's", () => {
  // The order-executor's metric names (services/order-executor).
  const executor = (events: number, p: number) => `
orders_total{status="accepted",reason=""} ${events}
events_published_total ${events}
events_found_published_total 3
dead_letters_total{topic="orders.commands",reason="decode"} 1
outbox_depth 4
consumer_lag{topic="orders.commands",partition="2"} 9
order_latency_seconds_bucket{le="0.01"} ${p}
order_latency_seconds_bucket{le="0.1"} ${2 * p}
order_latency_seconds_bucket{le="+Inf"} ${2 * p}
`;
  const processor = `
dead_letters_total{topic="market.ticks",reason="decode"} 2
tick_to_command_seconds_bucket{le="+Inf"} 500
`;
  const before = scrape(0, { "order-executor": executor(10, 10), "stream-processor": processor });
  const now = scrape(1_000, { "order-executor": executor(60, 60), "stream-processor": processor });
  const figures = pipelineFigures(now, before);
  assert.equal(
    figures.eventsPerSecond,
    50,
    "events_published_total alone, not every *events* counter",
  );
  assert.equal(figures.ticksPerSecond, null, "no market-ingestor and no broker: unknown");
  assert.equal(figures.dlq, 3, "dead letters of every service together");
  assert.equal(figures.outboxDepth, 4);
  assert.deepEqual(figures.lag, [{
    group: "order-executor",
    topic: "orders.commands",
    partition: "2",
    lag: 9,
    source: "order-executor",
  }]);
  assert.equal(figures.endToEnd.metric, "order_latency_seconds");
  assert.equal(figures.endToEnd.count, 100, "only the observations between the scrapes");
  assert.equal(figures.endToEnd.p50Ms, 10);
  assert.equal(figures.endToEnd.p99Ms, 98.2);
});

Deno.test("pipelineFigures() counts a restarted process's counters from zero, not negative", () => {
  const raft = (count: number) => `
raft_apply_duration_seconds_bucket{le="0.001",result="applied"} ${count}
raft_apply_duration_seconds_bucket{le="+Inf",result="applied"} ${count}
`;
  const before = scrape(0, { "raft-1": raft(1000), "raft-2": raft(0), broker: brokerAt(900, 0) });
  const now = scrape(1_000, { "raft-1": raft(5), "raft-2": raft(5), broker: brokerAt(40, 0) });
  const figures = pipelineFigures(now, before);
  assert.equal(figures.ticksPerSecond, 40);
  assert.equal(figures.raftApply.count, 10);
  assert.equal(figures.raftApply.p99Ms, 0.99);
});
