import assert from "node:assert/strict";
import { Flusher } from "./flusher.ts";

Deno.test("Flusher syncs a partition marked dirty just as the previous round ends", async () => {
  // Marked dirty after the round's last check but before `running` is cleared, a partition
  // used to wait for the next unrelated write: forever for a lone acks=-1 producer.
  const missed: number[] = [];
  for (let depth = 0; depth < 12; depth++) {
    const flusher = new Flusher();
    let lateSynced = false;
    const late = {
      sync: () => {
        lateSynced = true;
        return Promise.resolve();
      },
    };
    const first = {
      sync: () => {
        let step: Promise<void> = Promise.resolve();
        for (let i = 0; i < depth; i++) step = step.then(() => {});
        void step.then(() => flusher.markDirty(late));
        return Promise.resolve();
      },
    };
    flusher.markDirty(first);
    await new Promise((resolve) => setTimeout(resolve, 5));
    if (!lateSynced) missed.push(depth);
    await flusher.close();
  }
  assert.deepEqual(missed, [], "microtask depths at which the late partition was never synced");
});
