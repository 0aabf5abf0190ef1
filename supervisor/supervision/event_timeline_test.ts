import assert from "node:assert/strict";
import { EventTimeline } from "./event_timeline.ts";

Deno.test("EventTimeline keeps only the newest events, numbered from 1", () => {
  const timeline = new EventTimeline(3);
  for (let i = 1; i <= 5; i++) timeline.emit({ kind: "started", child: `c${i}`, message: `${i}` });
  assert.deepEqual(timeline.list().map((e) => e.seq), [3, 4, 5]);
  assert.deepEqual(timeline.list(4).map((e) => e.child), ["c5"]);
  assert.match(timeline.list()[0]!.time, /^\d{4}-\d\d-\d\dT/);
});

Deno.test("EventTimeline.subscribe() delivers later events until unsubscribed", () => {
  const timeline = new EventTimeline();
  const seen: string[] = [];
  const unsubscribe = timeline.subscribe((e) => seen.push(e.kind));
  timeline.emit({ kind: "fault-start", message: "partition raft-2" });
  unsubscribe();
  timeline.emit({ kind: "fault-stop", message: "heal" });
  assert.deepEqual(seen, ["fault-start"]);
});

Deno.test("EventTimeline.subscribe() survives a subscriber that throws", () => {
  const timeline = new EventTimeline();
  timeline.subscribe(() => {
    throw new Error("bad subscriber");
  });
  const event = timeline.emit({ kind: "killed", message: "x" });
  assert.equal(event.seq, 1);
});

Deno.test("EventTimeline.stream() yields events as they come and ends when aborted", async () => {
  const timeline = new EventTimeline();
  const controller = new AbortController();
  const received: number[] = [];
  const consumer = (async () => {
    for await (const event of timeline.stream(controller.signal)) {
      received.push(event.seq);
      if (received.length === 3) controller.abort();
    }
  })();
  await Promise.resolve();
  timeline.emit({ kind: "started", message: "a" });
  timeline.emit({ kind: "started", message: "b" });
  await new Promise((resolve) => setTimeout(resolve, 5));
  timeline.emit({ kind: "started", message: "c" });
  await consumer;
  assert.deepEqual(received, [1, 2, 3]);
});
