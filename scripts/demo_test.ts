import assert from "node:assert/strict";
import type { ScenarioReport } from "../chaos/scenario.ts";
import { demoArgs, summaryTable } from "./demo.ts";

Deno.test("demoArgs() defaults to seed 1 and rejects a bad seed", () => {
  assert.deepEqual(demoArgs([]), { seed: 1, json: false });
  assert.deepEqual(demoArgs(["--seed", "9", "--json"]), { seed: 9, json: true });
  assert.throws(() => demoArgs(["--seed", "x"]), /^Error: Invalid --seed "x": expected an integer/);
});

Deno.test("summaryTable() has one row per scenario: faults, orders, duplicates, lost, recovery", () => {
  const report = (id: number, recoveryMs: Array<number | null>, ok = true) =>
    ({
      id,
      name: `s${id}`,
      faults: recoveryMs.length,
      orders: 10 * id,
      duplicates: 0,
      lost: ok ? 0 : 2,
      recoveryMs,
      ok,
    }) as unknown as ScenarioReport;
  const lines = summaryTable([report(1, [900]), report(2, [700, 500, null], false)]).split("\n");
  assert.match(lines[0]!, /^SCENARIO +FAULTS +ORDERS +DUPLICATES +LOST +RECOVERY +RESULT$/);
  assert.match(lines[1]!, /^1 s1 +1 +10 +0 +0 +900 ms +ok$/);
  assert.match(lines[2]!, /^2 s2 +3 +20 +0 +2 +p50 500 ms, max 700 ms +FAILED$/);
});
