import assert from "node:assert/strict";
import { join } from "node:path";
import { tempDir } from "@trading/testing";
import { removeStagingFiles, stagingPath, writeFileDurably } from "./durable_file.ts";

async function names(dir: string): Promise<string[]> {
  const found: string[] = [];
  for await (const entry of Deno.readDir(dir)) found.push(entry.name);
  return found.sort();
}

/** The lines of `stream`, one per read. */
function lineReader(stream: ReadableStream<Uint8Array>) {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  return {
    async read(): Promise<{ done: boolean; value: string }> {
      for (;;) {
        const newline = buffered.indexOf("\n");
        if (newline >= 0) {
          const value = buffered.slice(0, newline);
          buffered = buffered.slice(newline + 1);
          return { done: false, value };
        }
        const chunk = await reader.read();
        if (chunk.done) return { done: true, value: "" };
        buffered += chunk.value;
      }
    },
  };
}

Deno.test("writeFileDurably() replaces the file and leaves no staging file", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "cluster_id");
  await writeFileDurably(path, "first\n");
  assert.equal(await Deno.readTextFile(path), "first\n");
  await writeFileDurably(path, [new TextEncoder().encode("sec"), new TextEncoder().encode("ond")]);
  assert.equal(await Deno.readTextFile(path), "second");
  await writeFileDurably(path, new Uint8Array(0));
  assert.equal(await Deno.readTextFile(path), "");
  assert.deepEqual(await names(dir.path), ["cluster_id"]);
});

Deno.test("writeFileDurably() overwrites a staging file a crashed writer left", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "producer_id_block");
  await Deno.writeTextFile(stagingPath(path), "torn garbage from a killed writer, longer");
  await writeFileDurably(path, "1000\n");
  assert.equal(await Deno.readTextFile(path), "1000\n");
  assert.deepEqual(await names(dir.path), ["producer_id_block"]);
});

Deno.test("removeStagingFiles() deletes only the *.tmp files and names them", async () => {
  await using dir = await tempDir();
  await Deno.writeTextFile(join(dir.path, "cluster_id"), "id\n");
  await Deno.writeTextFile(join(dir.path, "cluster_id.tmp"), "i");
  await Deno.writeTextFile(join(dir.path, "group_offsets.log.tmp"), "");
  await Deno.mkdir(join(dir.path, "a-directory.tmp"));
  assert.deepEqual(await removeStagingFiles(dir.path), ["cluster_id.tmp", "group_offsets.log.tmp"]);
  assert.deepEqual(await names(dir.path), ["a-directory.tmp", "cluster_id"]);
  assert.equal(await Deno.readTextFile(join(dir.path, "cluster_id")), "id\n");
});

Deno.test("writeFileDurably() leaves a whole old or new version when its process is SIGKILLed", async () => {
  // A process crash, not a power loss (the directory fsync is for that, and no test here can
  // cut the power): every kill lands at a random point of a 4 MiB write loop.
  const rounds = 8;
  let killedMidWrite = 0;
  for (let round = 0; round < rounds; round++) {
    await using dir = await tempDir();
    const path = join(dir.path, "meta");
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", new URL("./testdata/durable_writer.ts", import.meta.url).pathname, path],
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const lines = lineReader(child.stdout);
    // Wait for a first durable version, then kill after a random number of further ones
    // plus a random fraction of the next.
    let durable = Number((await lines.read()).value);
    const more = Math.floor(Math.random() * 3);
    for (let i = 0; i < more; i++) durable = Number((await lines.read()).value);
    await new Promise((resolve) => setTimeout(resolve, Math.random() * 30));
    child.kill("SIGKILL");
    await child.status;
    for (;;) {
      const line = await lines.read();
      if (line.done) break;
      durable = Number(line.value);
    }
    const content = await Deno.readTextFile(path);
    assert.equal(content.length, 4 << 20, `round ${round}: a torn file of ${content.length} bytes`);
    const digit = content[0]!;
    assert.ok(
      content === digit.repeat(content.length),
      `round ${round}: the file mixes two versions`,
    );
    // The last version reported durable, or the one after it (renamed before it printed).
    assert.ok(
      digit === String(durable % 10) || digit === String((durable + 1) % 10),
      `round ${round}: version digit ${digit} after ${durable} was reported durable`,
    );
    const leftover = await removeStagingFiles(dir.path);
    if (leftover.length > 0) killedMidWrite++;
    assert.deepEqual(await names(dir.path), ["meta"]);
  }
  console.log(`${killedMidWrite} of ${rounds} kills left a staging file behind`);
});
