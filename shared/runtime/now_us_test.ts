import assert from "node:assert/strict";
import { nowUs } from "./now_us.ts";

Deno.test("nowUs() is the epoch time in microseconds", () => {
  const before = Date.now() * 1000;
  const now = nowUs();
  const after = Date.now() * 1000;
  assert.ok(Number.isSafeInteger(now));
  // performance.timeOrigin + performance.now() may differ from Date.now() by a millisecond.
  assert.ok(now >= before - 2000 && now <= after + 2000, `${before} <= ${now} <= ${after}`);
});

Deno.test("nowUs() resolves less than a millisecond and never goes back", () => {
  let previous = nowUs();
  const steps = new Set<number>();
  for (let i = 0; i < 100_000; i++) {
    const now = nowUs();
    assert.ok(now >= previous, `${now} < ${previous}`);
    if (now !== previous) steps.add((now - previous) % 1000);
    previous = now;
  }
  assert.ok([...steps].some((step) => step !== 0), "only whole milliseconds seen");
});
