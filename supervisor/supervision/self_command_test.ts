import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { isCompiledBinary, MAIN_MODULE_URL, selfCommand } from "./self_command.ts";

Deno.test("isCompiledBinary() believes Deno.build.standalone when the runtime has it", () => {
  assert.equal(
    isCompiledBinary({ standalone: true, mainModule: "file:///work/main/main.ts" }),
    true,
  );
  assert.equal(
    isCompiledBinary({ standalone: false, mainModule: "file:///tmp/deno-compile-x/main.ts" }),
    false,
  );
});

Deno.test("isCompiledBinary() falls back to the deno-compile directory of the main module", () => {
  const compiled = [
    "file:///tmp/deno-compile-trading/main.ts",
    "file:///tmp/deno-compile-trading/work/main/main.ts",
    "file:///C:/Users/me/AppData/Local/Temp/deno-compile-trading.exe/main.ts",
  ];
  for (const mainModule of compiled) assert.equal(isCompiledBinary({ mainModule }), true);
  const notCompiled = [
    "file:///work/main/main.ts",
    "file:///work/deno-compile-notes.ts",
    "https://example.invalid/main.ts",
  ];
  for (const mainModule of notCompiled) assert.equal(isCompiledBinary({ mainModule }), false);
});

Deno.test("isCompiledBinary() is false for this test run under deno test", () => {
  assert.equal(isCompiledBinary(), false);
});

Deno.test("selfCommand() re-runs main.ts with the role under deno run, the binary in a compile", () => {
  const mainPath = fileURLToPath(MAIN_MODULE_URL);
  const underRun = selfCommand("raft-node", [], false);
  assert.equal(underRun.executable, Deno.execPath());
  assert.deepEqual(underRun.args.slice(0, 3), ["run", "-A", "--frozen"]);
  assert.ok(underRun.args[3]!.startsWith("--config=") && underRun.args[3]!.endsWith("/deno.json"));
  assert.deepEqual(underRun.args.slice(4), [mainPath, "raft-node"]);
  assert.deepEqual(selfCommand("ctl", ["status"], true), {
    executable: Deno.execPath(),
    args: ["ctl", "status"],
  });
});

Deno.test("selfCommand() gives a command that really runs a role, from any directory", async () => {
  const { executable, args } = selfCommand("ctl");
  const output = await new Deno.Command(executable, { args, cwd: "/", stderr: "piped" }).output();
  assert.equal(output.code, 2); // ctl without a command: usage
  assert.match(new TextDecoder().decode(output.stderr), /Usage: deno task ctl <command>/);
});
