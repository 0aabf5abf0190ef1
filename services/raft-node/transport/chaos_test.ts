import assert from "node:assert/strict";
import { Chaos, type ChaosSettings, formatProfile, NO_CHAOS } from "./chaos.ts";

const LOSSY: ChaosSettings = {
  ...NO_CHAOS,
  enabled: true,
  dropPct: 30,
  delayMsMin: 50,
  delayMsMax: 250,
  seed: 42,
};

function decisions(chaos: Chaos, count: number, peers = ["b", "c"]): string[] {
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const d = chaos.judgeOutgoing(peers[i % peers.length]!);
    out.push(d.action === "delay" ? `delay:${d.delayMs}` : d.action);
  }
  return out;
}

Deno.test("Chaos gives the same decisions for the same seed and message sequence", () => {
  const first = decisions(new Chaos("a", LOSSY), 500);
  const second = decisions(new Chaos("a", LOSSY), 500);
  assert.deepEqual(first, second);
  const other = decisions(new Chaos("a", { ...LOSSY, seed: 43 }), 500);
  assert.notDeepEqual(first, other);
});

Deno.test("Chaos.configure restarts the decision sequence from the seed", () => {
  const chaos = new Chaos("a", LOSSY);
  const first = decisions(chaos, 100);
  chaos.configure(LOSSY);
  assert.deepEqual(decisions(chaos, 100), first);
});

Deno.test("Chaos drops about drop-pct percent and delays the rest within the range", () => {
  const chaos = new Chaos("a", LOSSY);
  const all = decisions(chaos, 10_000);
  const dropped = all.filter((d) => d === "drop").length;
  assert.ok(dropped > 2700 && dropped < 3300, `dropped ${dropped} of 10000`);
  const delays = all.filter((d) => d.startsWith("delay:")).map((d) => Number(d.slice(6)));
  assert.equal(delays.length, 10_000 - dropped);
  assert.equal(Math.min(...delays), 50);
  assert.equal(Math.max(...delays), 250);
  assert.equal(chaos.dropped, dropped);
  assert.equal(chaos.delayed, delays.length);
});

Deno.test("Chaos judges only messages to or from the target node", () => {
  const onA = new Chaos("a", { ...LOSSY, dropPct: 100, targetNodeId: "c" });
  assert.deepEqual(decisions(onA, 4, ["b"]), ["pass", "pass", "pass", "pass"]);
  assert.deepEqual(decisions(onA, 2, ["c"]), ["drop", "drop"]);
  // On the target itself everything it sends is judged.
  const onC = new Chaos("c", { ...LOSSY, dropPct: 100, targetNodeId: "c" });
  assert.deepEqual(decisions(onC, 2, ["a", "b"]), ["drop", "drop"]);
});

Deno.test("Chaos does nothing when disabled, whatever the profile", () => {
  const chaos = new Chaos("a", { ...LOSSY, enabled: false, dropPct: 100 });
  assert.deepEqual(decisions(chaos, 5), ["pass", "pass", "pass", "pass", "pass"]);
  assert.equal(chaos.dropped, 0);
});

Deno.test("Chaos.partition drops both directions for the named peers until heal", () => {
  const chaos = new Chaos("a");
  chaos.partition(["b"]);
  assert.equal(chaos.judgeOutgoing("b").action, "drop");
  assert.equal(chaos.dropsIncoming("b"), true);
  assert.equal(chaos.judgeOutgoing("c").action, "pass");
  assert.equal(chaos.dropsIncoming("c"), false);
  chaos.heal();
  assert.equal(chaos.judgeOutgoing("b").action, "pass");
  assert.equal(chaos.dropsIncoming("b"), false);
  assert.equal(chaos.dropped, 2);
});

Deno.test("Chaos.partition with no peers cuts the node off from everyone", () => {
  const chaos = new Chaos("a");
  chaos.partition([]);
  assert.deepEqual(chaos.partitionedFrom, ["*"]);
  assert.equal(chaos.judgeOutgoing("x").action, "drop");
  assert.equal(chaos.dropsIncoming("y"), true);
});

Deno.test("Chaos.heal turns drops off but keeps exit-on-leader", () => {
  const chaos = new Chaos("a", { ...LOSSY, dropPct: 100, exitOnLeader: true });
  chaos.heal();
  assert.equal(chaos.settings.enabled, false);
  assert.equal(chaos.settings.exitOnLeader, true);
  assert.equal(chaos.judgeOutgoing("b").action, "pass");
});

Deno.test("formatProfile writes settings back in the CHAOS_PROFILE form", () => {
  assert.equal(formatProfile(LOSSY), "drop-pct=30,delay=50-250");
  assert.equal(formatProfile({ ...NO_CHAOS, delayMsMin: 5, delayMsMax: 5 }), "delay=5");
  assert.equal(formatProfile({ ...NO_CHAOS, exitOnLeader: true }), "exit-on-leader");
  assert.equal(formatProfile(NO_CHAOS), "off");
});
