import assert from "node:assert/strict";
import { ChildSpecSchema } from "./child_spec.ts";
import { isAbnormalExit, RestartPolicy } from "./restart_policy.ts";

const crash = { code: 1, signal: null };
const clean = { code: 0, signal: null };
const killed = { code: 137, signal: "SIGKILL" };

function spec(overrides: Record<string, unknown> = {}) {
  return ChildSpecSchema.parse({ name: "a", command: { executable: "x" }, ...overrides });
}

Deno.test("isAbnormalExit() is true for a non-zero code or a signal", () => {
  assert.equal(isAbnormalExit(clean), false);
  assert.equal(isAbnormalExit(crash), true);
  assert.equal(isAbnormalExit(killed), true);
});

Deno.test("RestartPolicy gives a child that keeps crashing growing delays up to the cap", () => {
  const policy = new RestartPolicy(
    spec({ backoff: { initialMs: 100, maxMs: 1000, jitter: 0 }, intensity: { maxRestarts: 10 } }),
  );
  const delays = [1, 2, 3, 4, 5].map((i) => {
    const decision = policy.decide(crash, i * 10, 5);
    assert.equal(decision.action, "restart");
    return decision.action === "restart" ? decision.delayMs : -1;
  });
  assert.deepEqual(delays, [100, 200, 400, 800, 1000]);
});

Deno.test("RestartPolicy with jitter below one half still gives strictly growing delays", () => {
  for (const random of [() => 0, () => 0.999999, Math.random]) {
    const policy = new RestartPolicy(
      spec({ backoff: { initialMs: 100, maxMs: 100_000, jitter: 0.2 } }),
      random,
    );
    let previous = -1;
    for (let i = 0; i < 5; i++) {
      const decision = policy.decide(crash, i, 5);
      assert.ok(decision.action === "restart" && decision.delayMs > previous);
      previous = decision.action === "restart" ? decision.delayMs : previous;
    }
  }
});

Deno.test("RestartPolicy fails a child with more than maxRestarts restarts within the window", () => {
  const policy = new RestartPolicy(spec({ intensity: { maxRestarts: 3, withinMs: 1000 } }));
  for (const now of [0, 100, 200]) assert.equal(policy.decide(crash, now, 5).action, "restart");
  const decision = policy.decide(crash, 300, 5);
  assert.deepEqual(decision, {
    action: "fail",
    reason: "more than 3 restarts within 1000 ms",
  });
});

Deno.test("RestartPolicy forgets restarts older than the intensity window", () => {
  const policy = new RestartPolicy(spec({ intensity: { maxRestarts: 2, withinMs: 1000 } }));
  assert.equal(policy.decide(crash, 0, 5).action, "restart");
  assert.equal(policy.decide(crash, 500, 5).action, "restart");
  assert.equal(policy.decide(crash, 1200, 5).action, "restart"); // the one at 0 has expired
  assert.equal(policy.decide(crash, 1300, 5).action, "fail");
});

Deno.test("RestartPolicy restarts a transient child only after an abnormal exit", () => {
  const policy = new RestartPolicy(spec({ restart: "transient" }));
  assert.equal(policy.decide(clean, 0, 5).action, "exit");
  assert.equal(policy.decide(crash, 1, 5).action, "restart");
  assert.equal(policy.decide(killed, 2, 5).action, "restart");
});

Deno.test("RestartPolicy never restarts a temporary child", () => {
  const policy = new RestartPolicy(spec({ restart: "temporary" }));
  assert.equal(policy.decide(crash, 0, 5).action, "exit");
  assert.equal(policy.decide(killed, 1, 5).action, "exit");
});

Deno.test("RestartPolicy starts the backoff afresh after a run longer than resetAfterMs", () => {
  const policy = new RestartPolicy(
    spec({ backoff: { initialMs: 100, jitter: 0, resetAfterMs: 5000 } }),
  );
  policy.decide(crash, 0, 10);
  policy.decide(crash, 1, 10);
  const third = policy.decide(crash, 2, 10);
  assert.ok(third.action === "restart" && third.delayMs === 400);
  const afterStableRun = policy.decide(crash, 3, 6000);
  assert.ok(afterStableRun.action === "restart" && afterStableRun.delayMs === 100);
});

Deno.test("RestartPolicy.reset() forgets the backoff and the restart history", () => {
  const policy = new RestartPolicy(
    spec({ backoff: { initialMs: 100, jitter: 0 }, intensity: { maxRestarts: 1 } }),
  );
  policy.decide(crash, 0, 5);
  assert.equal(policy.decide(crash, 1, 5).action, "fail");
  policy.reset();
  const decision = policy.decide(crash, 2, 5);
  assert.ok(decision.action === "restart" && decision.delayMs === 100);
});

Deno.test("RestartPolicy restarts an injected kill after the initial delay, outside the intensity", () => {
  const policy = new RestartPolicy(
    spec({ backoff: { initialMs: 100, jitter: 0 }, intensity: { maxRestarts: 1 } }),
  );
  for (let i = 0; i < 20; i++) {
    assert.deepEqual(policy.decide(killed, i, 5, { injected: true }), {
      action: "restart",
      delayMs: 100,
      attempt: 1,
    });
  }
  assert.equal(policy.decide(crash, 30, 5).action, "restart", "a real crash still counts");
  assert.equal(policy.decide(crash, 31, 5).action, "fail");
});
