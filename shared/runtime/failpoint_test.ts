import assert from "node:assert/strict";
import { FAILPOINT_EXIT_CODE } from "./failpoint.ts";
import { waitFor } from "@trading/testing";

const FIXTURE = new URL("./testdata/failpoint_fixture.ts", import.meta.url).pathname;

function fixture(failpoints: string): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--frozen", FIXTURE],
    env: { TRADING_FAILPOINTS: failpoints },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  });
}

Deno.test("failpoint() exits with code 86 the Nth time an armed point is passed", async () => {
  const out = await fixture("other:1,step:3").output();
  assert.equal(out.code, FAILPOINT_EXIT_CODE);
  assert.deepEqual(new TextDecoder().decode(out.stdout).trim().split("\n"), [
    "pass 1",
    "pass 2",
    "pass 3",
  ]);
  assert.match(new TextDecoder().decode(out.stderr), /failpoint step: exiting with 86/);
});

Deno.test("failpoint() does nothing when TRADING_FAILPOINTS does not arm the point", async () => {
  for (const failpoints of ["", "step", "step:0", "other:1"]) {
    const out = await fixture(failpoints).output();
    assert.equal(out.code, 0, failpoints);
    assert.match(new TextDecoder().decode(out.stdout), /pass 5\ndone\n$/);
  }
});

Deno.test("failpoint() with the stop action freezes the process until SIGCONT", async () => {
  const child = fixture("step:2:stop").spawn();
  const state = () => Deno.readTextFileSync(`/proc/${child.pid}/stat`).split(") ")[1]?.[0];
  try {
    await waitFor("the fixture stopped", () => state() === "T", { timeoutMs: 20_000 });
    child.kill("SIGCONT");
    const out = await child.output();
    assert.equal(out.code, 0);
    assert.match(
      new TextDecoder().decode(out.stdout),
      /^pass 1\npass 2\npass 3\npass 4\npass 5\ndone/,
    );
    assert.match(new TextDecoder().decode(out.stderr), /failpoint step: stopping \(SIGSTOP\)/);
  } finally {
    try {
      child.kill("SIGKILL");
    } catch { /* ended */ }
  }
});
