import assert from "node:assert/strict";
import { SpawnedProcess, waitFor } from "@trading/testing";

const FIXTURE = new URL("./testdata/start_up_fixture.ts", import.meta.url).pathname;

/** Runs the fixture with FIXTURE_START=`start`; returns it with its output lines. */
function fixture(start: string) {
  const process = SpawnedProcess.spawn(Deno.execPath(), ["run", "-A", "--frozen", FIXTURE], {
    env: { FIXTURE_START: start, LOG_LEVEL: "info" },
  });
  const lines = process.output;
  return {
    child: process,
    lines,
    messages: () =>
      lines.filter((l) => l.length > 0).map((l) => l.startsWith("{") ? JSON.parse(l).message : l),
    exited: async () => (await process.exited()).code,
  };
}

Deno.test("runStartUp() logs a failed start-up with the service's name and exits 1", async () => {
  const run = fixture("fail");
  assert.equal(await run.exited(), 1);
  assert.ok(
    run.messages().includes("fixture failed to start: Broker gone: expected one"),
    run.lines.join("\n"),
  );
});

Deno.test("retryStartUp() retries with a warning per failure, then the service runs until SIGTERM", async () => {
  const run = fixture("retry:2");
  try {
    await waitFor("the fixture running", () => run.lines.some((l) => l.startsWith("RUNNING")), {
      timeoutMs: 20_000,
    });
    run.child.kill("SIGTERM");
    assert.equal(await run.exited(), 0);
    const messages = run.messages();
    assert.ok(messages.includes("RUNNING after 3 attempts"), run.lines.join("\n"));
    assert.equal(
      messages.filter((m) => /^start-up failed \(attempt \d\), retrying/.test(m)).length,
      2,
    );
  } finally {
    try {
      run.child.kill("SIGKILL");
    } catch { /* ended */ }
    await run.exited();
  }
});

Deno.test("exitOnFatal() logs the crash, shuts the service down and exits 1", async () => {
  const run = fixture("fatal");
  assert.equal(await run.exited(), 1);
  const messages = run.messages();
  assert.ok(
    messages.includes("consumer stopped for good: Group coordinator lost"),
    run.lines.join("\n"),
  );
});
