import assert from "node:assert/strict";
import { chaosRandom, parseChaosProfile, parseRuntimeChaosProfile } from "./chaos.ts";

Deno.test("parseChaosProfile() reads drop percentage and delay range", () => {
  assert.deepEqual(parseChaosProfile("drop-pct=30,delay=50-250"), {
    dropPct: 30,
    delayMsMin: 50,
    delayMsMax: 250,
  });
  assert.deepEqual(parseChaosProfile("delay=100"), {
    dropPct: 0,
    delayMsMin: 100,
    delayMsMax: 100,
  });
  assert.deepEqual(parseChaosProfile("off"), { dropPct: 0, delayMsMin: 0, delayMsMax: 0 });
  assert.throws(() => parseChaosProfile("delay=300-100"), /min <= max/);
  assert.throws(() => parseChaosProfile("drop-pct=200"), /Invalid chaos profile part/);
});

Deno.test("parseRuntimeChaosProfile() accepts the exit-on-leader word beside a CHAOS_PROFILE", () => {
  assert.deepEqual(parseRuntimeChaosProfile("drop-pct=30,delay=50-250,exit-on-leader"), {
    dropPct: 30,
    delayMsMin: 50,
    delayMsMax: 250,
    exitOnLeader: true,
  });
  assert.deepEqual(parseRuntimeChaosProfile("off"), {
    dropPct: 0,
    delayMsMin: 0,
    delayMsMax: 0,
    exitOnLeader: false,
  });
  assert.throws(() => parseRuntimeChaosProfile("drop=5"), /Invalid chaos profile part "drop=5"/);
});

Deno.test("chaosRandom() gives the same sequence for the same seed and another for another", () => {
  const a = chaosRandom(7);
  const b = chaosRandom(7);
  const c = chaosRandom(8);
  const first = Array.from({ length: 5 }, () => a.next());
  assert.deepEqual(Array.from({ length: 5 }, () => b.next()), first);
  assert.notDeepEqual(Array.from({ length: 5 }, () => c.next()), first);
});
