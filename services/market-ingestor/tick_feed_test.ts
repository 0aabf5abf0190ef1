import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { SyntheticMarket } from "./synthetic_market.ts";
import { ReplayFeed, SyntheticFeed } from "./tick_feed.ts";
import { readTickFile } from "./tick_file.ts";

const SAMPLE = fileURLToPath(new URL("./testdata/sample_ticks.ndjson", import.meta.url));

function market(): SyntheticMarket {
  return new SyntheticMarket({ symbols: ["AAA", "BBB"], seed: 1 });
}

Deno.test("SyntheticFeed hands out ticks at its rate", async () => {
  const feed = new SyntheticFeed(market(), 100, 0);
  assert.equal((await feed.take(5, 1000)).length, 0);
  assert.equal(feed.untilNext(5), 5);
  assert.equal((await feed.take(1000, 1000)).length, 100);
  assert.equal((await feed.take(1500, 1000)).length, 50);
});

Deno.test("SyntheticFeed caps a batch and keeps the rest due", async () => {
  const feed = new SyntheticFeed(market(), 10_000, 0);
  assert.equal((await feed.take(100, 300)).length, 300);
  assert.equal(feed.untilNext(100), 0);
  assert.equal((await feed.take(100, 5000)).length, 700);
});

Deno.test("SyntheticFeed skips a backlog of more than a second instead of bursting", async () => {
  const feed = new SyntheticFeed(market(), 10, 0);
  assert.equal((await feed.take(60_000, 5000)).length, 1);
  assert.equal((await feed.take(60_100, 5000)).length, 1);
});

Deno.test("SyntheticFeed changes pace at once with setRate", async () => {
  const feed = new SyntheticFeed(market(), 1, 0);
  feed.setRate(1000, 0);
  assert.equal((await feed.take(10, 1000)).length, 10);
});

Deno.test("ReplayFeed replays a file at its recorded pace times the speed", async () => {
  const recorded: number[] = [];
  for await (const tick of readTickFile(SAMPLE)) recorded.push(tick.timeUs);
  const spanMs = (recorded.at(-1)! - recorded[0]!) / 1000;

  const feed = await ReplayFeed.open(SAMPLE, 2, 0);
  const firstHalf = await feed.take(spanMs / 4, 10_000); // a quarter of the span at 2x: half
  const expected = recorded.filter((t) => (t - recorded[0]!) / 1000 / 2 <= spanMs / 4).length;
  assert.equal(firstHalf.length, expected);
  assert.ok(expected > 100 && expected < 200);
  const rest = await feed.take(spanMs, 10_000);
  assert.equal(firstHalf.length + rest.length, recorded.length);
  assert.equal(feed.untilNext(spanMs), undefined, "finished");
});

Deno.test("ReplayFeed.symbols() lists the symbols of a file", async () => {
  assert.deepEqual(await ReplayFeed.symbols(SAMPLE), ["AAPL", "MSFT", "GOOG"]);
});
