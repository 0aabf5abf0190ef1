import assert from "node:assert/strict";
import { join } from "node:path";
import { getLogger } from "@logtape/logtape";
import { encodeJsonRecord, replayJsonRecords } from "./json_record_file.ts";

const log = getLogger(["broker", "test"]);

async function replay(path: string, reject?: (r: { n: number }) => boolean) {
  const seen: number[] = [];
  const records = await replayJsonRecords<{ n: number }>(path, (r) => {
    if (reject?.(r)) throw new Error(`rejected ${r.n}`);
    seen.push(r.n);
  }, { log, what: "test" });
  return { records, seen, size: (await Deno.stat(path).catch(() => ({ size: -1 }))).size };
}

function records(...ns: number[]): Uint8Array[] {
  return ns.map((n) => encodeJsonRecord({ n }));
}

async function write(path: string, parts: Uint8Array[]): Promise<number> {
  const bytes = new Uint8Array(parts.reduce((sum, p) => sum + p.length, 0));
  let at = 0;
  for (const p of parts) bytes.set(p, at), at += p.length;
  await Deno.writeFile(path, bytes);
  return bytes.length;
}

Deno.test("replayJsonRecords applies every record in order; a missing file has none", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "records.log");
    assert.deepEqual(await replay(path), { records: 0, seen: [], size: -1 });
    const size = await write(path, records(1, 2, 3));
    assert.deepEqual(await replay(path), { records: 3, seen: [1, 2, 3], size });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

for (
  const [damage, spoil] of [
    ["a record cut short", (last: Uint8Array) => last.subarray(0, last.length - 3)],
    ["a header cut short", (last: Uint8Array) => last.subarray(0, 5)],
    ["a CRC that does not match", (last: Uint8Array) => {
      const copy = last.slice();
      copy[copy.length - 2] = copy[copy.length - 2]! ^ 0xff;
      return copy;
    }],
  ] as const
) {
  Deno.test(`replayJsonRecords cuts the file at ${damage}, keeping the records before it`, async () => {
    const dir = await Deno.makeTempDir();
    try {
      const path = join(dir, "records.log");
      const [a, b, c] = records(1, 2, 3) as [Uint8Array, Uint8Array, Uint8Array];
      await write(path, [a, b, spoil(c)]);
      assert.deepEqual(await replay(path), { records: 2, seen: [1, 2], size: a.length + b.length });
      // The cut is on disk: a second replay finds the same records and nothing to cut.
      assert.deepEqual(await replay(path), { records: 2, seen: [1, 2], size: a.length + b.length });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("replayJsonRecords stops at a record its caller refuses and cuts everything from it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "records.log");
    const parts = records(1, 2, 3, 4);
    await write(path, parts);
    const kept = parts[0]!.length + parts[1]!.length;
    assert.deepEqual(await replay(path, (r) => r.n === 3), {
      records: 2,
      seen: [1, 2],
      size: kept,
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
