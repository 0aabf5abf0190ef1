import assert from "node:assert/strict";
import { generateProto } from "../scripts/gen_proto.ts";
import { OrderCommand, Side, Tick } from "./mod.ts";

const genDir = new URL("./gen/", import.meta.url).pathname;

async function listFiles(dir: string, prefix = ""): Promise<string[]> {
  const files: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const path = `${prefix}${entry.name}`;
    if (entry.isDirectory) files.push(...await listFiles(`${dir}/${entry.name}`, `${path}/`));
    else files.push(path);
  }
  return files.sort();
}

Deno.test("generated code in proto/gen is up to date with the .proto files", async () => {
  const outDir = await Deno.makeTempDir({ prefix: "proto-gen-" });
  try {
    await generateProto(outDir);
    const expected = await listFiles(outDir);
    assert.deepEqual(await listFiles(genDir), expected, "run `deno task proto`");
    for (const file of expected) {
      const fresh = await Deno.readTextFile(`${outDir}/${file}`);
      const committed = await Deno.readTextFile(`${genDir}${file}`);
      assert.ok(fresh === committed, `proto/gen/${file} is stale: run \`deno task proto\``);
    }
  } finally {
    await Deno.remove(outDir, { recursive: true });
  }
});

Deno.test("generated exports have no `any` in their signatures", async () => {
  for (const file of await listFiles(genDir)) {
    const source = await Deno.readTextFile(`${genDir}${file}`);
    const exported = source.split("\n").filter((line) => line.startsWith("export"));
    const offending = exported.filter((line) => /\bany\b/.test(line));
    assert.deepEqual(offending, [], `proto/gen/${file}`);
  }
});

Deno.test("messages round-trip with integer prices and microsecond timestamps", () => {
  const tick = Tick.fromPartial({
    symbol: "AAPL",
    sequence: 42,
    price: 18_912,
    size: 300,
    createdAtUs: 1_795_600_000_123_456,
  });
  assert.deepEqual(Tick.decode(Tick.encode(tick).finish()), { ...Tick.fromPartial({}), ...tick });
  const command = OrderCommand.fromPartial({
    orderId: "mac-AAPL-42",
    side: Side.SIDE_BUY,
    quantity: 10,
    limitPrice: 18_912,
  });
  assert.equal(OrderCommand.decode(OrderCommand.encode(command).finish()).orderId, "mac-AAPL-42");
});
