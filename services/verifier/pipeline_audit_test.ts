import assert from "node:assert/strict";
import { OrderCommand, OrderEvent, OrderStatus, Side } from "@trading/proto";
import { PipelineAudit, quantile } from "./pipeline_audit.ts";

function command(id: string): Uint8Array {
  return OrderCommand.encode(OrderCommand.fromPartial({
    orderId: id,
    symbol: "AAA",
    side: Side.SIDE_BUY,
    quantity: 1,
    limitPrice: 100,
    strategyId: "mac",
    tickSequence: 1,
    tickCreatedAtUs: 1_000_000,
    createdAtUs: 1_000_500,
  })).finish();
}

function event(id: string, latencyMs: number, reason = ""): Uint8Array {
  return OrderEvent.encode(OrderEvent.fromPartial({
    orderId: id,
    status: reason ? OrderStatus.ORDER_STATUS_REJECTED : OrderStatus.ORDER_STATUS_ACCEPTED,
    reason,
    executorId: "ex-1",
    raftIndex: 7,
    tickCreatedAtUs: 1_000_000,
    commandCreatedAtUs: 1_000_500,
    createdAtUs: 1_000_000 + latencyMs * 1000,
  })).finish();
}

Deno.test("PipelineAudit reports a clean run as ok with latency quantiles", () => {
  const audit = new PipelineAudit();
  for (let i = 1; i <= 100; i++) {
    audit.addCommand(command(`o${i}`));
    audit.addEvent(event(`o${i}`, i, i % 10 === 0 ? "max_quantity" : ""));
  }
  audit.addCommand(command("o1")); // re-emitted: same id again
  const report = audit.report({ complete: true, elapsedMs: 5 });
  assert.equal(report.ok, true);
  assert.equal(report.commandRecords, 101);
  assert.equal(report.uniqueCommands, 100);
  assert.equal(report.uniqueOrderIds, 100);
  assert.deepEqual([report.accepted, report.rejected], [90, 10]);
  assert.deepEqual(report.rejectReasons, { max_quantity: 10 });
  assert.deepEqual(report.latencyMs, { p50: 50, p99: 99, max: 100 });
  assert.deepEqual(report.executors, { "ex-1": 100 });
});

Deno.test("PipelineAudit finds duplicates, lost commands and events without a command", () => {
  const audit = new PipelineAudit();
  for (const id of ["a", "b", "c"]) audit.addCommand(command(id));
  audit.addEvent(event("a", 1));
  audit.addEvent(event("a", 2));
  audit.addEvent(event("b", 1));
  audit.addEvent(event("z", 1));
  const report = audit.report({ complete: true, elapsedMs: 1 });
  assert.equal(report.ok, false);
  assert.deepEqual([report.duplicates, report.duplicateIds], [1, ["a"]]);
  assert.deepEqual([report.lost, report.lostIds], [1, ["c"]]);
  assert.deepEqual([report.orphans, report.orphanIds], [1, ["z"]]);
  assert.equal(report.events, 4);
});

Deno.test("PipelineAudit expects no event for a command the executor dead-letters", () => {
  const audit = new PipelineAudit();
  audit.addCommand(new Uint8Array([0xff, 0xff]));
  audit.addCommand(
    OrderCommand.encode(OrderCommand.fromPartial({ orderId: "x", quantity: 0 })).finish(),
  );
  audit.addEvent(new Uint8Array([0x01]));
  const report = audit.report({ complete: true, elapsedMs: 1 });
  assert.deepEqual([report.invalidCommands, report.invalidEvents, report.lost], [2, 1, 0]);
  assert.equal(report.ok, true);
  assert.equal(report.latencyMs, null);
});

Deno.test("quantile() picks the nearest rank", () => {
  assert.equal(quantile([1, 2, 3, 4], 0.5), 2);
  assert.equal(quantile([1, 2, 3, 4], 0.99), 4);
  assert.equal(quantile([5], 0.01), 5);
  assert.ok(Number.isNaN(quantile([], 0.5)));
});
