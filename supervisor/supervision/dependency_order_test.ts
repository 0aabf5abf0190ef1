import assert from "node:assert/strict";
import { dependencyWaves, stopWaves } from "./dependency_order.ts";

const pipeline = [
  { name: "order-executor", dependsOn: ["broker", "raft-1", "raft-2"] },
  { name: "broker", dependsOn: [] },
  { name: "raft-1", dependsOn: [] },
  { name: "raft-2", dependsOn: ["raft-1"] },
  { name: "stream-processor", dependsOn: ["broker"] },
];
const names = (waves: { name: string }[][]) => waves.map((w) => w.map((s) => s.name));

Deno.test("dependencyWaves() starts dependencies first and independent children together", () => {
  assert.deepEqual(names(dependencyWaves(pipeline)), [
    ["broker", "raft-1"],
    ["raft-2", "stream-processor"],
    ["order-executor"],
  ]);
});

Deno.test("dependencyWaves() ignores dependencies on children that are not in the set", () => {
  assert.deepEqual(names(dependencyWaves([{ name: "a", dependsOn: ["absent"] }])), [["a"]]);
});

Deno.test("stopWaves() stops every dependent before what it depends on", () => {
  // stream-processor started in the second wave but nothing depends on it: it stops first.
  assert.deepEqual(names(stopWaves(pipeline)), [
    ["order-executor", "stream-processor"],
    ["broker", "raft-2"],
    ["raft-1"],
  ]);
});
