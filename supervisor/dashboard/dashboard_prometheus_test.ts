import assert from "node:assert/strict";
import {
  bucketsDelta,
  bucketsOf,
  histogramQuantile,
  parsePrometheusText,
  sumOf,
} from "./dashboard_prometheus.ts";

const SCRAPE = `# HELP broker_messages_in_total Records accepted by Produce
# TYPE broker_messages_in_total counter
broker_messages_in_total{topic="market.ticks",service="broker"} 120
broker_messages_in_total{topic="orders.commands",service="broker"} 7

# TYPE odd gauge
odd{path="a \\"quoted\\" \\\\ back\\nslash",service="x"} -Inf
process_start_time_seconds 1.7e+9
not a sample line
lat_seconds_bucket{le="0.005",service="x"} 2
lat_seconds_bucket{le="0.01",service="x"} 6
lat_seconds_bucket{le="+Inf",service="x"} 10
up 1 1700000000000
`;

Deno.test("parsePrometheusText() reads names, escaped labels, special values and timestamps", () => {
  const samples = parsePrometheusText(SCRAPE);
  assert.equal(samples.length, 8, "the malformed line is skipped, nothing else");
  assert.deepEqual(samples[0], {
    name: "broker_messages_in_total",
    labels: { topic: "market.ticks", service: "broker" },
    value: 120,
  });
  const odd = samples.find((s) => s.name === "odd")!;
  assert.equal(odd.labels.path, 'a "quoted" \\ back\nslash');
  assert.equal(odd.value, -Infinity);
  assert.equal(samples.find((s) => s.name === "process_start_time_seconds")!.value, 1.7e9);
  assert.equal(samples.find((s) => s.name === "up")!.value, 1);
});

Deno.test("sumOf() sums the samples whose labels match and is undefined when none does", () => {
  const samples = parsePrometheusText(SCRAPE);
  assert.equal(sumOf(samples, "broker_messages_in_total"), 127);
  assert.equal(sumOf(samples, "broker_messages_in_total", { topic: "orders.commands" }), 7);
  assert.equal(sumOf(samples, "broker_messages_in_total", { topic: "orders.dlq" }), undefined);
});

Deno.test("histogramQuantile() interpolates inside a bucket like PromQL histogram_quantile", () => {
  const buckets = bucketsOf(parsePrometheusText(SCRAPE), "lat_seconds");
  assert.deepEqual(buckets.map((b) => b.le), [0.005, 0.01, Infinity]);
  // rank 5 of 10 lies in (0.005, 0.01]: 2 below, 4 inside, so 3/4 of the way.
  assert.equal(histogramQuantile(0.5, buckets), 0.005 + 0.005 * (3 / 4));
  // rank 9.9 lies in +Inf: the highest finite bound.
  assert.equal(histogramQuantile(0.99, buckets), 0.01);
  assert.equal(
    histogramQuantile(0.5, [{ le: 1, count: 0 }, { le: Infinity, count: 0 }]),
    undefined,
  );
});

Deno.test("bucketsDelta() subtracts the previous scrape, or keeps all after a restart reset", () => {
  const before = [{ le: 0.1, count: 4 }, { le: Infinity, count: 5 }];
  const after = [{ le: 0.1, count: 10 }, { le: Infinity, count: 12 }];
  assert.deepEqual(bucketsDelta(after, before), [{ le: 0.1, count: 6 }, {
    le: Infinity,
    count: 7,
  }]);
  const restarted = [{ le: 0.1, count: 1 }, { le: Infinity, count: 1 }];
  assert.deepEqual(bucketsDelta(restarted, before), restarted);
});
