import assert from "node:assert/strict";
import { backoffDelay, retry, RetryError, sleep } from "./retry.ts";
import { settlesWithin } from "@trading/testing";

Deno.test("retry() returns the first success", async () => {
  let calls = 0;
  const value = await retry(() => {
    calls++;
    return calls < 3 ? Promise.reject(new Error("boom")) : Promise.resolve("ok");
  }, { initialDelayMs: 1 });
  assert.equal(value, "ok");
  assert.equal(calls, 3);
});

Deno.test("retry() gives up after maxAttempts with the last error as cause", async () => {
  let calls = 0;
  const error = await retry(() => {
    calls++;
    return Promise.reject(new Error(`fail ${calls}`));
  }, { maxAttempts: 4, initialDelayMs: 1 }).catch((e) => e);
  assert.ok(error instanceof RetryError);
  assert.equal(error.attempts, 4);
  assert.equal((error.cause as Error).message, "fail 4");
  assert.equal(calls, 4);
});

Deno.test("retry() stops at once when shouldRetry says no", async () => {
  let calls = 0;
  const error = await retry(() => {
    calls++;
    return Promise.reject(new Error("fatal"));
  }, { shouldRetry: () => false }).catch((e) => e);
  assert.equal((error as Error).message, "fatal");
  assert.equal(calls, 1);
});

Deno.test("retry() stops waiting when the signal aborts", async () => {
  const controller = new AbortController();
  const promise = retry(() => Promise.reject(new Error("down")), {
    maxAttempts: Infinity,
    // Ten minutes: a retry that ignored the signal would outlast settlesWithin's deadline.
    initialDelayMs: 600_000,
    signal: controller.signal,
  });
  setTimeout(() => controller.abort(new Error("aborted")), 20);
  const error = await settlesWithin("retry() to end on abort", promise.catch((e) => e));
  assert.equal((error as Error).message, "aborted");
});

Deno.test("backoffDelay() grows exponentially up to the cap", () => {
  const noJitter = { initialDelayMs: 100, maxDelayMs: 1000, jitter: 0 };
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6].map((attempt) => backoffDelay(attempt, noJitter)),
    [100, 200, 400, 800, 1000, 1000],
  );
});

Deno.test("backoffDelay() with full jitter stays within [0, base]", () => {
  assert.equal(backoffDelay(3, { initialDelayMs: 100, random: () => 0 }), 0);
  assert.equal(backoffDelay(3, { initialDelayMs: 100, random: () => 0.5 }), 200);
  assert.equal(backoffDelay(3, { initialDelayMs: 100, jitter: 0.5, random: () => 0 }), 200);
});

Deno.test("sleep() rejects with the abort reason", async () => {
  const controller = new AbortController();
  controller.abort(new Error("stop"));
  await assert.rejects(sleep(1000, controller.signal), /stop/);
});

Deno.test("retry() awaits onRetry before the next attempt", async () => {
  const events: string[] = [];
  const result = await retry((attempt) => {
    events.push(`attempt ${attempt}`);
    return attempt < 3 ? Promise.reject(new Error("not yet")) : Promise.resolve("done");
  }, {
    initialDelayMs: 0,
    onRetry: async (_error, attempt) => {
      await Promise.resolve();
      events.push(`between ${attempt}`);
    },
  });
  assert.equal(result, "done");
  assert.deepEqual(events, ["attempt 1", "between 1", "attempt 2", "between 2", "attempt 3"]);
});

Deno.test("retry() ends with the error onRetry throws", async () => {
  let attempts = 0;
  await assert.rejects(
    retry(() => {
      attempts++;
      return Promise.reject(new Error("failed"));
    }, {
      initialDelayMs: 0,
      onRetry: () => Promise.reject(new Error("heartbeat refused")),
    }),
    { message: "heartbeat refused" },
  );
  assert.equal(attempts, 1);
});
