import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { soakArgs } from "./soak.ts";

Deno.test("soakArgs() needs a seed and minutes", () => {
  assert.deepEqual(soakArgs(["--seed", "42", "--minutes", "10"]), {
    seed: 42,
    minutes: 10,
    json: false,
  });
  assert.throws(
    () => soakArgs(["--minutes", "10"]),
    /^Error: Invalid --seed "": expected an integer/,
  );
  assert.throws(() => soakArgs(["--seed", "1", "--minutes", "0"]), /Invalid --minutes "0"/);
});

Deno.test("deno task soak with a bad argument prints the usage, exits 2 and starts nothing", async () => {
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--frozen",
      fileURLToPath(new URL("./soak.ts", import.meta.url)),
      "--seed",
      "x",
    ],
    stdin: "null",
  }).output();
  assert.equal(output.code, 2);
  const stderr = new TextDecoder().decode(output.stderr);
  assert.match(
    stderr,
    /^Invalid --seed "x": expected an integer 0-999999999\nUsage: deno task soak/,
  );
  assert.equal(new TextDecoder().decode(output.stdout), "");
});
