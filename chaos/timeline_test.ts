import assert from "node:assert/strict";
import { formatOffset, Timeline } from "./timeline.ts";

Deno.test("Timeline prints entries by time, relative to its start, whatever the order they came in", () => {
  const timeline = new Timeline(10_000);
  timeline.add(11_500, "leader", "raft-3 leads in term 4");
  timeline.add(10_250, "fault", "kill raft-2");
  timeline.add(11_500, "recovered", "first acknowledged Apply (1250 ms)");
  assert.equal(
    timeline.format(),
    [
      "    +0.250s  fault      kill raft-2",
      "    +1.500s  leader     raft-3 leads in term 4",
      "    +1.500s  recovered  first acknowledged Apply (1250 ms)",
    ].join("\n"),
  );
  assert.deepEqual(timeline.of("fault").map((e) => e.t), [10_250]);
});

Deno.test("formatOffset() signs and rounds to the millisecond", () => {
  assert.equal(formatOffset(0), "+0.000s");
  assert.equal(formatOffset(61_234), "+61.234s");
  assert.equal(formatOffset(-100), "-0.100s");
});
