import assert from "node:assert/strict";
import { formatElapsed, Progress } from "./progress.ts";

Deno.test("Progress draws count, rate and elapsed time on a terminal", () => {
  let now = 0;
  const written: string[] = [];
  const progress = new Progress("verify", "messages", {
    enabled: true,
    intervalMs: 100,
    write: (text) => written.push(text),
    now: () => now,
  });
  now = 2000;
  progress.add(1000);
  assert.equal(progress.line(), "verify  1,000 messages  500/s  00:02");
  assert.equal(written.length, 1);
  now = 2050;
  progress.add(1); // within the interval: no redraw
  assert.equal(written.length, 1);
  progress.done("read 1,001 messages");
  assert.equal(written.at(-1), "\r\x1b[2Kverify  read 1,001 messages\n");
});

Deno.test("Progress writes nothing when disabled (piped)", () => {
  const written: string[] = [];
  const progress = new Progress("bench", "ops", { enabled: false, write: (t) => written.push(t) });
  progress.add(5);
  progress.done("finished");
  assert.deepEqual(written, []);
  assert.equal(progress.count, 5);
});

Deno.test("formatElapsed() shows minutes and seconds, and hours when needed", () => {
  assert.equal(formatElapsed(65_000), "01:05");
  assert.equal(formatElapsed(3_725_000), "1:02:05");
});
