import assert from "node:assert/strict";
import { checkLinearizable } from "./check_linearizable.ts";
import type { ApplyOutput, HistoryOutcome, Operation, ReadOutput } from "./history.ts";

const ACCEPTED: HistoryOutcome = { status: 1, reason: "" };
const REJECTED: HistoryOutcome = { status: 2, reason: "max_quantity" };
const MAX_POSITION: HistoryOutcome = { status: 2, reason: "max_position" };
/** Search steps allowed on the concurrent histories below: "retried" needs 40k to 60k. */
const STEP_BUDGET = 100_000;

function apply(
  clientId: number,
  orderId: string,
  call: number,
  ret: number | undefined,
  output?: ApplyOutput,
  payloadHash = "h1",
  outcome = ACCEPTED,
): Operation {
  return {
    clientId,
    op: "apply",
    orderId,
    input: { payloadHash, outcome },
    call,
    ...(ret === undefined ? {} : { return: ret }),
    ...(output === undefined ? {} : { output }),
  };
}

function read(
  clientId: number,
  orderId: string,
  call: number,
  ret: number,
  output: ReadOutput,
): Operation {
  return { clientId, op: "read", orderId, call, return: ret, output };
}

const applied = (outcome = ACCEPTED): ApplyOutput => ({ result: "applied", outcome });
const duplicate = (outcome = ACCEPTED): ApplyOutput => ({ result: "duplicate", outcome });
const found = (outcome = ACCEPTED): ReadOutput => ({ found: true, outcome });
const notFound: ReadOutput = { found: false };

Deno.test("checkLinearizable() accepts a sequential apply, duplicate and read", () => {
  const result = checkLinearizable([
    apply(1, "o1", 0, 10, applied()),
    apply(2, "o1", 20, 30, duplicate()),
    read(3, "o1", 40, 50, found()),
  ]);
  assert.deepEqual(result, { ok: true, partitions: 1, operations: 3 });
});

Deno.test("checkLinearizable() accepts a read concurrent with the apply seeing either state", () => {
  for (const output of [found(), notFound]) {
    const result = checkLinearizable([
      apply(1, "o1", 0, 100, applied()),
      read(2, "o1", 10, 20, output),
    ]);
    assert.equal(result.ok, true);
  }
});

Deno.test("checkLinearizable() rejects a stale read: not found after the apply was acknowledged", () => {
  const result = checkLinearizable([
    apply(1, "o1", 0, 10, applied()),
    read(2, "o1", 20, 30, notFound),
  ]);
  assert.equal(result.ok, false);
  if (result.ok) return;
  assert.equal(result.orderId, "o1");
  assert.match(result.explanation, /read -> not found/);
  assert.equal(result.longestLinearizable.length, 1);
});

Deno.test("checkLinearizable() rejects a lost acknowledged apply: a later apply of the id is applied again", () => {
  const result = checkLinearizable([
    apply(1, "o1", 0, 10, applied()),
    apply(2, "o1", 20, 30, applied()),
  ]);
  assert.equal(result.ok, false);
});

Deno.test("checkLinearizable() rejects a read that flips back to not found", () => {
  const result = checkLinearizable([
    apply(1, "o1", 0, 100, applied()),
    read(2, "o1", 10, 20, found()),
    read(3, "o1", 30, 40, notFound),
  ]);
  assert.equal(result.ok, false);
});

Deno.test("checkLinearizable() lets a timed-out apply take effect late, or never", () => {
  // It took effect after the first read and before the second.
  assert.equal(
    checkLinearizable([
      apply(1, "o1", 0, undefined),
      read(2, "o1", 10, 20, notFound),
      read(3, "o1", 30, 40, found()),
    ]).ok,
    true,
  );
  // It never took effect.
  assert.equal(
    checkLinearizable([apply(1, "o1", 0, undefined), read(2, "o1", 100, 110, notFound)]).ok,
    true,
  );
  // But not before its call.
  assert.equal(
    checkLinearizable([read(2, "o1", 0, 5, found()), apply(1, "o1", 10, undefined)]).ok,
    false,
  );
});

Deno.test("checkLinearizable() decides a retry after an unknown apply by the stored outcome", () => {
  // The retry with the same payload sees a duplicate: the unknown apply happened first.
  const history = [
    apply(1, "o1", 0, undefined, undefined, "h1", REJECTED),
    apply(1, "o1", 50, 60, duplicate(REJECTED), "h1", REJECTED),
  ];
  assert.equal(checkLinearizable(history).ok, true);
  // A duplicate carrying an outcome nobody stored is impossible.
  const wrong = [
    apply(1, "o1", 0, undefined, undefined, "h1", REJECTED),
    apply(1, "o1", 50, 60, duplicate(ACCEPTED), "h1", ACCEPTED),
  ];
  assert.equal(checkLinearizable(wrong).ok, false);
});

Deno.test("checkLinearizable() distinguishes duplicate from conflict by payload hash", () => {
  const base = apply(1, "o1", 0, 10, applied());
  const conflict: ApplyOutput = { result: "conflict", outcome: ACCEPTED };
  assert.equal(checkLinearizable([base, apply(2, "o1", 20, 30, conflict, "h2")]).ok, true);
  assert.equal(checkLinearizable([base, apply(2, "o1", 20, 30, duplicate(), "h2")]).ok, false);
  assert.equal(checkLinearizable([base, apply(2, "o1", 20, 30, conflict, "h1")]).ok, false);
});

Deno.test("checkLinearizable() accepts a max_position rejection only for a position-checked apply", () => {
  const checked: Operation = {
    clientId: 1,
    op: "apply",
    orderId: "o1",
    input: { payloadHash: "h1", outcome: ACCEPTED, positionChecked: true },
    call: 0,
  };
  // Unknown result: a later read may show either outcome, but then stays with it.
  assert.equal(checkLinearizable([checked, read(2, "o1", 10, 20, found(MAX_POSITION))]).ok, true);
  assert.equal(
    checkLinearizable([
      checked,
      read(2, "o1", 10, 20, found(MAX_POSITION)),
      read(2, "o1", 30, 40, found(ACCEPTED)),
    ]).ok,
    false,
  );
  const unchecked = apply(1, "o1", 0, 10, applied(MAX_POSITION));
  assert.equal(checkLinearizable([unchecked]).ok, false);
});

Deno.test("checkLinearizable() checks order ids independently and reports the smallest failing one", () => {
  const history: Operation[] = [];
  for (let i = 0; i < 50; i++) {
    history.push(apply(i, `ok-${i}`, i * 10, i * 10 + 5, applied()));
    history.push(read(i, `ok-${i}`, i * 10 + 6, i * 10 + 7, found()));
  }
  history.push(apply(1, "bad-big", 0, 10, applied()), read(2, "bad-big", 1, 2, notFound));
  history.push(read(3, "bad-big", 20, 30, notFound), read(3, "bad-big", 40, 50, notFound));
  history.push(apply(1, "bad-small", 0, 10, applied()), read(2, "bad-small", 20, 30, notFound));
  const result = checkLinearizable(history);
  assert.equal(result.ok, false);
  if (result.ok) return;
  assert.equal(result.partitions, 52);
  assert.equal(result.orderId, "bad-small");
});

Deno.test("checkLinearizable() handles many concurrent open applies of one id quickly (memoization)", () => {
  const history: Operation[] = [];
  for (let i = 0; i < 40; i++) history.push(apply(i, "hot", i, undefined, undefined, `h${i % 3}`));
  history.push(read(99, "hot", 1000, 1001, found()));
  // Without memoization the search visits 40! orders; a step budget, not a clock, says so.
  assert.equal(checkLinearizable(history, { maxStepsPerPartition: STEP_BUDGET }).ok, true);
});

Deno.test("checkLinearizable() handles a client retrying one order through a long outage (open applies and reads)", () => {
  const history: Operation[] = [];
  let t = 0;
  for (let i = 0; i < 200; i++) {
    history.push(apply(1, "retried", t, undefined)); // timed out
    history.push(read(1, "retried", t + 300, t + 310, notFound));
    t += 1000;
  }
  // The last retry got through... but the earlier ones may land later: still linearizable.
  history.push(apply(1, "retried", t, t + 10, applied()));
  history.push(read(2, "retried", t + 20, t + 30, found()));
  history.push(apply(3, "retried", t + 40, undefined, undefined, "other"));
  assert.equal(checkLinearizable(history, { maxStepsPerPartition: STEP_BUDGET }).ok, true);
  // And a stale read after all that is still caught.
  history.push(read(2, "retried", t + 50, t + 60, notFound));
  assert.equal(checkLinearizable(history).ok, false);
});
