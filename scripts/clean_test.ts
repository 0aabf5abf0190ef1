import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url).pathname;

Deno.test("deno task clean refuses an argument it does not know and deletes nothing", async () => {
  await Deno.mkdir(`${ROOT}.data`, { recursive: true });
  const marker = `${ROOT}.data/clean-test-marker-${Deno.pid}`;
  await Deno.writeTextFile(marker, "kept");
  try {
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--frozen", "scripts/clean.ts", "--dry-run"],
      cwd: ROOT,
      stdin: "null",
    }).output();
    assert.equal(output.code, 2);
    assert.match(new TextDecoder().decode(output.stderr), /^Unknown argument "--dry-run"/);
    assert.equal(await Deno.readTextFile(marker), "kept", ".data/ was left alone");
  } finally {
    await Deno.remove(marker).catch(() => {});
  }
});
