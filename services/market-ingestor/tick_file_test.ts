import assert from "node:assert/strict";
import { join } from "node:path";
import { tempDir } from "@trading/testing";
import { formatTickFile, readTickFile, type RecordedTick } from "./tick_file.ts";

const ticks: RecordedTick[] = [
  { timeUs: 1_000_000, symbol: "AAA", price: 100, size: 5, bid: 99, ask: 101 },
  { timeUs: 1_250_000, symbol: "BBB", price: 2500, size: 10, bid: 2499, ask: 2501 },
];

async function readAll(path: string): Promise<RecordedTick[]> {
  const out: RecordedTick[] = [];
  for await (const tick of readTickFile(path)) out.push(tick);
  return out;
}

for (const format of ["csv", "ndjson"] as const) {
  Deno.test(`readTickFile() reads back what formatTickFile() wrote as ${format}`, async () => {
    await using dir = await tempDir();
    const path = join(dir.path, `ticks.${format}`);
    await Deno.writeTextFile(path, formatTickFile(ticks, format));
    assert.deepEqual(await readAll(path), ticks);
  });
}

Deno.test("readTickFile() names the line of a tick with a fractional price", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "bad.csv");
  await Deno.writeTextFile(
    path,
    "time_us,symbol,price,size,bid,ask\n1,AAA,100,1,99,101\n2,AAA,100.5,1,99,101\n",
  );
  await assert.rejects(() => readAll(path), /Invalid tick on line 3 "2,AAA,100.5,1,99,101"/);
});

Deno.test("readTickFile() rejects a CSV without the expected header", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "bad.csv");
  await Deno.writeTextFile(path, "symbol,price\nAAA,1\n");
  await assert.rejects(() => readAll(path), /Invalid CSV header "symbol,price"/);
});

Deno.test("readTickFile() rejects a file that is neither CSV nor NDJSON", async () => {
  await assert.rejects(() => readAll("ticks.txt"), /expected a .csv, .ndjson or .jsonl file/);
});

Deno.test("readTickFile() reads the sample files shipped in testdata", async () => {
  const dir = new URL("./testdata/", import.meta.url);
  const csv = await readAll(new URL("sample_ticks.csv", dir).pathname);
  const ndjson = await readAll(new URL("sample_ticks.ndjson", dir).pathname);
  assert.ok(csv.length >= 100);
  assert.deepEqual(ndjson, csv);
});
