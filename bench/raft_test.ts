import assert from "node:assert/strict";
import { appliesBetween, perApply } from "./raft.ts";

/** A node's metrics text with these values (the lines bench/raft.ts reads). */
function scrape(orders: number, fsyncs: number, cpuSeconds: number): string {
  return [
    "# HELP raft_orders Order ids stored in the state machine.",
    "# TYPE raft_orders gauge",
    `raft_orders ${orders}`,
    "# HELP raft_storage_fsyncs fsyncs of the storage's log (or SQLite WAL) since start.",
    "# TYPE raft_storage_fsyncs gauge",
    `raft_storage_fsyncs ${fsyncs}`,
    "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.",
    "# TYPE process_cpu_seconds_total counter",
    `process_cpu_seconds_total ${cpuSeconds}`,
    "",
  ].join("\n");
}

Deno.test("appliesBetween() counts the warm-up Applies the scrapes bracket, not only the measured ones", () => {
  // 200 warm-up Applies, then 1,000 measured ones (what the load client reports as ops).
  const before = scrape(5, 40, 2);
  const after = scrape(5 + 200 + 1000, 40 + 300, 2.6);
  assert.equal(appliesBetween(before, after), 1200);
});

Deno.test("perApply() divides a node's growth by the Applies of the same window", () => {
  const before = scrape(5, 40, 2);
  const after = scrape(1205, 340, 2.6);
  const applies = appliesBetween(before, after);
  // 300 fsyncs and 0.6 s of CPU over 1,200 Applies (not over the 1,000 measured).
  assert.equal(perApply(before, after, "raft_storage_fsyncs", applies), 0.25);
  assert.equal(
    Math.round(perApply(before, after, "process_cpu_seconds_total", applies) * 1e6),
    500,
  );
  assert.equal(perApply(before, before, "raft_storage_fsyncs", 0), 0);
});
