import assert from "node:assert/strict";
import { prom, registry } from "@trading/shared/metrics";
import { FastHistogram } from "./fast_histogram.ts";

const BUCKETS = [0.001, 0.01, 0.1];

Deno.test("FastHistogram is exposed line for line as prom-client's Histogram", async () => {
  const fast = FastHistogram.create("test_fast_seconds", "Help text.", ["sync"], BUCKETS);
  const reference = new prom.Registry();
  const slow = new prom.Histogram({
    name: "test_fast_seconds",
    help: "Help text.",
    labelNames: ["sync"],
    buckets: BUCKETS,
    registers: [reference],
  });
  const synced = fast.series({ sync: "true" });
  for (const value of [0, 0.0005, 0.001, 0.002, 0.05, 0.1, 0.5, 7]) {
    synced.observe(value);
    slow.observe({ sync: "true" }, value);
  }
  fast.series({ sync: "false" }).observe(0.02);
  slow.observe({ sync: "false" }, 0.02);
  assert.equal(
    await registry.getSingleMetricAsString("test_fast_seconds"),
    await reference.getSingleMetricAsString("test_fast_seconds"),
  );
});

Deno.test("FastHistogram.create returns the histogram already registered under its name", () => {
  const first = FastHistogram.create("test_fast_twice", "Help.", [], BUCKETS);
  first.observe(1);
  assert.equal(FastHistogram.create("test_fast_twice", "Help.", [], BUCKETS), first);
});
