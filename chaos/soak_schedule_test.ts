import assert from "node:assert/strict";
import { formatSchedule, SOAK_FAULT_KINDS, soakSchedule } from "./soak_schedule.ts";

Deno.test("soakSchedule() gives the same schedule for the same seed and another for another seed", () => {
  assert.deepEqual(soakSchedule(42, 10), soakSchedule(42, 10));
  assert.notDeepEqual(soakSchedule(42, 10), soakSchedule(43, 10));
});

Deno.test("soakSchedule() has every fault kind in a 10-minute soak, one fault at a time, within bounds", () => {
  for (const seed of [1, 42, 7777]) {
    const faults = soakSchedule(seed, 10);
    assert.deepEqual(new Set(faults.map((f) => f.kind)), new Set(SOAK_FAULT_KINDS), `seed ${seed}`);
    assert.ok(faults[0]!.atMs >= 5000);
    for (const [i, fault] of faults.entries()) {
      const next = faults[i + 1];
      if (next) {
        assert.ok(next.atMs > fault.atMs + fault.holdMs, `seed ${seed}: fault ${i} overlaps`);
      }
      assert.ok(
        fault.atMs + fault.holdMs < 10 * 60_000 - 30_000,
        `seed ${seed}: fault ${i} too late`,
      );
    }
  }
});

Deno.test("soakSchedule() leaves a run too short for any fault empty", () => {
  assert.deepEqual(soakSchedule(1, 0.5), []);
});

Deno.test("formatSchedule() prints one line per fault with its time, kind, target and hold", () => {
  const lines = formatSchedule(soakSchedule(42, 2)).split("\n");
  assert.ok(lines.length >= 3);
  assert.match(lines[0]!, /^ +1 +5\.0s +[a-z-]+ +[a-z0-9-]+/);
});
