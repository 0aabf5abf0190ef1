import assert from "node:assert/strict";
import { TEST_TOOLS, type TestTool, toolWorks } from "@trading/testing";
import { planSetup } from "./setup_test_deps.ts";

const kcat = TEST_TOOLS.find((t) => t.name === "kcat")!;
const chromium = TEST_TOOLS.find((t) => t.name === "chromium")!;

Deno.test("planSetup() does nothing when no tool is missing", () => {
  assert.deepEqual(planSetup([], { hasAptGet: false, isRoot: false }), { kind: "nothing" });
});

Deno.test("planSetup() installs the missing tools' Debian packages as root with apt-get", () => {
  assert.deepEqual(planSetup([kcat, chromium], { hasAptGet: true, isRoot: true }), {
    kind: "install",
    packages: ["kcat", "chromium"],
  });
});

Deno.test("planSetup() refuses in one line naming the sudo command when not root", () => {
  const plan = planSetup([kcat, chromium], { hasAptGet: true, isRoot: false });
  assert.deepEqual(plan, {
    kind: "refuse",
    message: "setup: the tests need kcat, chromium: run `sudo apt-get install -y kcat chromium`",
  });
});

Deno.test("planSetup() refuses in one line naming the packages when there is no apt-get", () => {
  const plan = planSetup([kcat], { hasAptGet: false, isRoot: true });
  assert.equal(plan.kind, "refuse");
  assert.match(plan.kind === "refuse" ? plan.message : "", /no apt-get: .*kcat/);
  assert.doesNotMatch(plan.kind === "refuse" ? plan.message : "", /\n/);
});

Deno.test("toolWorks() is false for a program that is not installed, true for one that is", async () => {
  const absent: TestTool = {
    name: "absent",
    debianPackage: "absent",
    check: ["no-such-program-on-this-machine"],
  };
  assert.equal(await toolWorks(absent), false);
  assert.equal(
    await toolWorks({ name: "deno", debianPackage: "-", check: [Deno.execPath(), "--version"] }),
    true,
  );
});

Deno.test("every test tool is installed once setup has run (the suite skips none)", async () => {
  for (const tool of TEST_TOOLS) {
    assert.ok(await toolWorks(tool), `${tool.name} is missing: run deno task setup`);
  }
});
