import assert from "node:assert/strict";
import { OrderStatus } from "@trading/proto/orders";
import {
  type ApplyCommand,
  decodeCommand,
  encodeCommand,
  hashPayload,
  MAX_POSITION_REASON,
  OrderStateMachine,
  UndecodableCommandError,
} from "./state_machine.ts";

const ACCEPTED = { status: OrderStatus.ORDER_STATUS_ACCEPTED, reason: "" };

function command(orderId: string, overrides: Partial<ApplyCommand> = {}): ApplyCommand {
  return {
    orderId,
    payloadHash: hashPayload(new TextEncoder().encode(`payload-${orderId}`)),
    outcome: ACCEPTED,
    symbol: "ACME",
    positionDelta: 10,
    maxPosition: 0,
    ...overrides,
  };
}

Deno.test("OrderStateMachine.apply() stores a new order id and returns applied", () => {
  const sm = new OrderStateMachine();
  const result = sm.apply(1, command("o-1"));
  assert.deepEqual(result, { result: "applied", outcome: ACCEPTED, index: 1 });
  assert.deepEqual(sm.read("o-1")?.index, 1);
  assert.deepEqual(sm.position("ACME"), 10);
  assert.deepEqual(sm.appliedIndex, 1);
});

Deno.test("OrderStateMachine.apply() returns the first outcome for a duplicate and changes nothing", () => {
  const sm = new OrderStateMachine();
  sm.apply(1, command("o-1"));
  const rejected = { status: OrderStatus.ORDER_STATUS_REJECTED, reason: "max_quantity" };
  const again = sm.apply(2, command("o-1", { outcome: rejected }));
  assert.deepEqual(again, { result: "duplicate", outcome: ACCEPTED, index: 1 });
  assert.deepEqual(sm.position("ACME"), 10);
  assert.deepEqual(sm.size, 1);
});

Deno.test("OrderStateMachine.apply() reports a conflict for a reused id with another payload", () => {
  const sm = new OrderStateMachine();
  sm.apply(1, command("o-1"));
  const other = command("o-1", { payloadHash: hashPayload(new Uint8Array([1, 2, 3])) });
  assert.deepEqual(sm.apply(2, other), { result: "conflict", outcome: ACCEPTED, index: 1 });
  assert.deepEqual(sm.position("ACME"), 10);
});

Deno.test("OrderStateMachine.apply() stores an order over max position as rejected max_position", () => {
  const sm = new OrderStateMachine();
  sm.apply(1, command("o-1", { positionDelta: 80, maxPosition: 100 }));
  const over = sm.apply(2, command("o-2", { positionDelta: 30, maxPosition: 100 }));
  assert.deepEqual(over.result, "applied");
  assert.deepEqual(over.outcome, {
    status: OrderStatus.ORDER_STATUS_REJECTED,
    reason: MAX_POSITION_REASON,
  });
  assert.deepEqual(sm.position("ACME"), 80);
  // A sell brings the position back inside the limit, and then the same size fits.
  sm.apply(3, command("o-3", { positionDelta: -50, maxPosition: 100 }));
  assert.deepEqual(
    sm.apply(4, command("o-4", { positionDelta: 30, maxPosition: 100 })).outcome,
    ACCEPTED,
  );
  assert.deepEqual(sm.position("ACME"), 60);
  // Short positions are bounded too.
  const short = sm.apply(5, command("o-5", { positionDelta: -170, maxPosition: 100 }));
  assert.deepEqual(short.outcome.reason, MAX_POSITION_REASON);
});

Deno.test("OrderStateMachine.apply() leaves positions alone for a rejected order", () => {
  const sm = new OrderStateMachine();
  const rejected = { status: OrderStatus.ORDER_STATUS_REJECTED, reason: "price_band" };
  sm.apply(1, command("o-1", { outcome: rejected }));
  assert.deepEqual(sm.position("ACME"), 0);
  assert.deepEqual(sm.read("o-1")?.outcome, rejected);
});

Deno.test("OrderStateMachine.applyEntry() treats empty data as a no-op and refuses old indexes", () => {
  const sm = new OrderStateMachine();
  assert.deepEqual(sm.applyEntry(1, new Uint8Array()), undefined);
  assert.deepEqual(sm.appliedIndex, 1);
  assert.deepEqual(sm.applyEntry(2, encodeCommand(command("o-1")))?.result, "applied");
  assert.throws(() => sm.applyEntry(2, encodeCommand(command("o-2"))), /applied\ index\ 2/);
});

Deno.test("encodeCommand() and decodeCommand() round-trip every field, including unicode and negatives", () => {
  const original = command("ordre-é-42", {
    outcome: { status: OrderStatus.ORDER_STATUS_REJECTED, reason: "max_notional ✗" },
    symbol: "BTC-USD",
    positionDelta: -9_007_199_254_740_991,
    maxPosition: 9_007_199_254_740_991,
  });
  assert.deepEqual(decodeCommand(encodeCommand(original)), original);
  const small = encodeCommand(command("AAPL-000123-momentum"));
  assert.ok(small.length < 64, `a typical command takes ${small.length} bytes`);
});

Deno.test("decodeCommand() rejects truncated bytes, trailing bytes and unknown versions", () => {
  const bytes = encodeCommand(command("o-1"));
  assert.throws(() => decodeCommand(bytes.subarray(0, bytes.length - 1)), /Invalid\ command/);
  assert.throws(() => decodeCommand(new Uint8Array([...bytes, 0])), /Invalid\ command/);
  assert.throws(() => decodeCommand(new Uint8Array([9, ...bytes.subarray(1)])), /version\ 9/);
});

Deno.test("OrderStateMachine.snapshot() restores to an identical table on another node", () => {
  const a = new OrderStateMachine();
  for (let i = 1; i <= 200; i++) {
    a.apply(i, command(`o-${i}`, { symbol: `S${i % 7}`, positionDelta: i % 2 ? 5 : -3 }));
  }
  const b = new OrderStateMachine();
  b.restore(a.snapshot());
  assert.deepEqual(b.appliedIndex, 200);
  assert.deepEqual(b.size, 200);
  for (let s = 0; s < 7; s++) assert.deepEqual(b.position(`S${s}`), a.position(`S${s}`));
  assert.deepEqual(b.read("o-77"), a.read("o-77"));
  assert.deepEqual(b.snapshot(), a.snapshot());
  // The restored table keeps de-duplicating.
  assert.equal(b.apply(201, command("o-77", { symbol: "S0" })).result, "duplicate");
});

Deno.test("OrderStateMachine.read() gives back the exact hash bytes (0-255) after apply and restore", () => {
  const a = new OrderStateMachine();
  const hashes = [0, 1, 2, 3].map((k) =>
    Uint8Array.from({ length: 16 }, (_, i) => (k * 64 + i * 17) % 256)
  );
  hashes.forEach((payloadHash, i) => a.apply(i + 1, command(`h-${i}`, { payloadHash })));
  const b = new OrderStateMachine();
  b.restore(a.snapshot());
  hashes.forEach((payloadHash, i) => {
    assert.deepEqual(a.read(`h-${i}`)?.payloadHash, payloadHash);
    assert.deepEqual(b.read(`h-${i}`)?.payloadHash, payloadHash);
    // One byte off is another payload.
    const other = payloadHash.slice();
    other[15] = (other[15]! + 1) % 256;
    assert.equal(b.apply(10 + i, command(`h-${i}`, { payloadHash: other })).result, "conflict");
  });
  assert.equal(b.apply(20, command("h-0", { payloadHash: hashes[0]! })).result, "duplicate");
});

Deno.test("OrderStateMachine.restore() rejects bytes that are not a version 1 snapshot", () => {
  const sm = new OrderStateMachine();
  assert.throws(() => sm.restore(new Uint8Array([1, 2, 3, 4])), /magic/);
  const good = new OrderStateMachine().snapshot();
  const future = good.slice();
  future[3] = 2;
  assert.throws(() => sm.restore(future), /version\ 2/);
});

Deno.test("hashPayload() is 16 bytes, deterministic and sensitive to every byte", () => {
  const a = hashPayload(new Uint8Array([1, 2, 3]));
  assert.deepEqual(a.length, 16);
  assert.deepEqual(a, hashPayload(new Uint8Array([1, 2, 3])));
  assert.ok(a.some((x, i) => x !== hashPayload(new Uint8Array([1, 2, 4]))[i]));
});

Deno.test("OrderStateMachine.applyEntry() skips a command that does not decode, and counts it as applied", () => {
  const machine = new OrderStateMachine();
  assert.throws(
    () => machine.applyEntry(1, new Uint8Array([0xff, 1, 2])),
    (error: unknown) => error instanceof UndecodableCommandError && error.index === 1,
  );
  assert.equal(machine.appliedIndex, 1);
  assert.equal(machine.size, 0);
});
