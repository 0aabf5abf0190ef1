import assert from "node:assert/strict";
import { readLines } from "./read_lines.ts";

function streamOf(...chunks: string[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return ReadableStream.from(chunks.map((c) => encoder.encode(c)));
}

Deno.test("readLines() joins lines split across chunks and strips \\n and \\r\\n", async () => {
  const lines = await Array.fromAsync(readLines(streamOf("one\r\ntw", "o\n", "\nthree")));
  assert.deepEqual(lines, ["one", "two", "", "three"]);
});

Deno.test("readLines() decodes a multi-byte character split between chunks", async () => {
  const bytes = new TextEncoder().encode("prix 10€\n");
  const stream = ReadableStream.from([bytes.slice(0, 8), bytes.slice(8)]);
  assert.deepEqual(await Array.fromAsync(readLines(stream)), ["prix 10€"]);
});
